//! Rights and fd flags as wasmtime-wasi has them (issue #17): a new fd's
//! rights come from its open mode only; APPEND switched off really stops
//! appending; narrowing is the narrowed fd's own. The expected numbers are
//! what `kwasm-reference` (wasmtime-wasi 50) prints for the corpus program
//! `fs_rights`.

use super::*;

/// What wasmtime-wasi reports for a regular file opened read-write,
/// read-only, write-only, and for a directory.
const FILE_RW: u64 = 0x3fff_ffff;
const FILE_RO: u64 = 0x3fff_ffbf;
const FILE_WO: u64 = 0x3fff_bffd;
const DIR: u64 = 0x3fb7_ffbb;

const R: u64 = rights::FD_READ;
const W: u64 = rights::FD_WRITE;
const ST: u64 = rights::FD_SEEK | rights::FD_TELL;

impl T {
    fn seek(&mut self, fd: u32, offset: i64, whence: u32) -> Result<u64, Errno> {
        let out = self.alloc(8);
        match self.call(|h, cx, m| fd_seek(h, cx, m, fd, offset, whence, out)) {
            errno::SUCCESS => Ok(self.u64(out)),
            e => Err(e),
        }
    }

    fn tell(&mut self, fd: u32) -> Result<u64, Errno> {
        let out = self.alloc(8);
        match self.call(|h, cx, m| fd_tell(h, cx, m, fd, out)) {
            errno::SUCCESS => Ok(self.u64(out)),
            e => Err(e),
        }
    }

    fn set_flags(&mut self, fd: u32, flags: u16) -> Errno {
        self.call(|h, cx, m| fd_fdstat_set_flags(h, cx, m, fd, flags as u32))
    }

    fn set_rights(&mut self, fd: u32, base: u64, inheriting: u64) -> Errno {
        self.call(|h, cx, m| fd_fdstat_set_rights(h, cx, m, fd, base, inheriting))
    }

    fn link(&mut self, old: &[u8], new: &[u8]) -> Errno {
        let (o, ol) = self.data(old);
        let (n, nl) = self.data(new);
        self.call(|h, cx, m| path_link(h, cx, m, 3, 0, o, ol, 3, n, nl))
    }
}

#[test]
fn opened_rights_come_from_the_open_mode_only() {
    let path_all = 0x071f_0000 | 0xbe00;
    // (oflags, rights asked for, rights reported): as wasmtime-wasi, only
    // FD_READ/FD_WRITE, CREAT and TRUNC decide, through the open mode.
    let cases: &[(u32, u64, u64)] = &[
        (0, 0, FILE_RO),
        (0, R, FILE_RO),
        (0, W, FILE_WO),
        (0, R | W, FILE_RW),
        (0, R | W | ST, FILE_RW),
        (0, ST, FILE_RO),
        (0, rights::FD_FDSTAT_SET_FLAGS, FILE_RO),
        (0, path_all, FILE_RO),
        (0, rights::ALL, FILE_RW),
        (oflags::CREAT, 0, FILE_RW),
        (oflags::CREAT, R, FILE_RW),
        (oflags::CREAT, W, FILE_WO),
        (oflags::EXCL, W, FILE_WO),
        (oflags::TRUNC, 0, FILE_RW),
        (oflags::TRUNC, R, FILE_RW),
        (oflags::CREAT | oflags::TRUNC, ST, FILE_RW),
    ];
    let mut t = T::new();
    for &(o, asked, want) in cases {
        t.dir.write("f", b"0123456789");
        let f = t.open(b"f", o, asked, 0).unwrap_or_else(|e| panic!("{o:#x} {asked:#x}: {e}"));
        let (ft, flags, base, inheriting) = t.fdstat(f).unwrap();
        assert_eq!((ft, flags, base, inheriting), (filetype::REGULAR_FILE, 0, want, want), "{o:#x} {asked:#x}");
        // What the open mode allows works, rights asked for or not.
        let len = if o & oflags::TRUNC != 0 { 0 } else { 2 };
        assert_eq!(t.read(f, 2).map(|b| b.len()), if want == FILE_WO { Err(errno::BADF) } else { Ok(len) });
        assert_eq!(t.write(f, b"ab").is_ok(), want != FILE_RO, "{o:#x} {asked:#x}");
        assert_eq!(t.call(|h, cx, m| fd_close(h, cx, m, f)), errno::SUCCESS);
    }
    // The inheriting rights asked for are ignored.
    let (p, l) = t.data(b"f");
    let out = t.alloc(4);
    assert_eq!(t.call(|h, cx, m| path_open(h, cx, m, 3, 0, p, l, 0, R, 0, 0, out)), errno::SUCCESS);
    assert_eq!(t.fdstat(t.u32(out)).unwrap().3, FILE_RO);
    // Directories: never FD_WRITE, FD_SEEK or the set-size rights.
    t.dir.mkdir("d");
    for (o, asked) in [(0, 0), (0, R), (oflags::DIRECTORY, ST), (oflags::EXCL, path_all)] {
        let d = t.open(b"d", o, asked, 0).unwrap();
        assert_eq!(t.fdstat(d).unwrap(), (filetype::DIRECTORY, 0, DIR, DIR));
    }
    for (o, asked) in [(0, W), (oflags::TRUNC, 0), (oflags::CREAT, R)] {
        assert_eq!(t.open(b"d", o, asked, 0), Err(errno::ISDIR), "{o:#x} {asked:#x}");
    }
    assert_eq!(t.open(b"d", oflags::CREAT | oflags::EXCL, R, 0), Err(errno::EXIST));
    for o in [oflags::CREAT, oflags::EXCL, oflags::TRUNC] {
        assert_eq!(t.open(b"d", oflags::DIRECTORY | o, R, 0), Err(errno::INVAL), "{o:#x}");
    }
}

/// Issue #17, program 1: CREAT with FD_READ|FD_WRITE|FD_SEEK|FD_TELL and no
/// inheriting rights writes; dropping FD_READ|FD_WRITE then shows and
/// enforces (kwasm's narrowing; wasmtime-wasi answers NOTSUP).
#[test]
fn issue17_created_file_writes_and_narrowing_is_enforced() {
    let mut t = T::new();
    let (p, l) = t.data(b"file.cleanup");
    let out = t.alloc(4);
    let asked = R | W | ST;
    assert_eq!(t.call(|h, cx, m| path_open(h, cx, m, 3, 0, p, l, oflags::CREAT, asked, 0, 0, out)), errno::SUCCESS);
    let f = t.u32(out);
    assert_eq!(t.fdstat(f).unwrap(), (filetype::REGULAR_FILE, 0, FILE_RW, FILE_RW));
    assert_eq!(t.write(f, b"hello, rights"), Ok(13));
    assert_eq!(t.seek(f, 0, whence::SET), Ok(0));
    assert_eq!(t.read(f, 64).unwrap(), b"hello, rights");
    assert_eq!(t.tell(f), Ok(13));

    assert_eq!(t.set_rights(f, ST, 0), errno::SUCCESS);
    assert_eq!(t.fdstat(f).unwrap(), (filetype::REGULAR_FILE, 0, ST, 0));
    assert_eq!(t.read(f, 1), Err(errno::NOTCAPABLE));
    assert_eq!(t.write(f, b"!"), Err(errno::NOTCAPABLE));
    assert_eq!(t.seek(f, 0, whence::SET), Ok(0));
    assert_eq!(t.set_rights(f, ST | R, 0), errno::NOTCAPABLE, "never widened");
    assert_eq!(t.set_flags(f, 0), errno::NOTCAPABLE, "FD_FDSTAT_SET_FLAGS dropped too");
    assert_eq!(t.dir.read("file.cleanup"), b"hello, rights");
}

/// Issue #17, program 2: APPEND, then `fd_fdstat_set_flags(fd, 0)`: a write
/// after seeking to 0 overwrites, and the file ends at 200 bytes.
#[test]
fn issue17_append_switched_off_overwrites() {
    let mut t = T::new();
    let f = t.open(b"file", oflags::CREAT, R | W, fdflags::APPEND as u32).unwrap();
    assert_eq!(t.fdstat(f).unwrap().1, fdflags::APPEND);
    assert_eq!(t.write(f, &[0; 100]), Ok(100));
    assert_eq!(t.seek(f, 0, whence::SET), Ok(0));
    assert_eq!(t.read(f, 100).unwrap(), [0; 100]);
    assert_eq!(t.seek(f, 0, whence::SET), Ok(0));
    assert_eq!(t.write(f, &[1; 100]), Ok(100));
    assert_eq!(t.tell(f), Ok(200), "appended");
    assert_eq!(t.seek(f, 100, whence::SET), Ok(100));
    assert_eq!(t.read(f, 100).unwrap(), [1; 100]);

    assert_eq!(t.set_flags(f, 0), errno::SUCCESS);
    assert_eq!(t.fdstat(f).unwrap().1, 0);
    assert_eq!(t.seek(f, 0, whence::SET), Ok(0));
    assert_eq!(t.write(f, &[2; 100]), Ok(100));
    assert_eq!(t.tell(f), Ok(100), "written in place");
    assert_eq!(t.seek(f, 0, whence::SET), Ok(0));
    assert_eq!(t.read(f, 100).unwrap(), [2; 100]);
    let content = t.dir.read("file");
    assert_eq!(content.len(), 200);
    assert_eq!((&content[..100], &content[100..]), (&[2u8; 100][..], &[1u8; 100][..]));

    // pwrite follows the flag too: appends with APPEND (Linux), in place
    // without.
    let out = t.alloc(4);
    let buf = t.data(b"P");
    let (iovs, n) = t.iovs(&[buf]);
    assert_eq!(t.call(|h, cx, m| fd_pwrite(h, cx, m, f, iovs, n, 0, out)), errno::SUCCESS);
    assert_eq!(t.dir.read("file")[0], b'P');
    assert_eq!(t.set_flags(f, fdflags::APPEND | fdflags::NONBLOCK), errno::SUCCESS);
    assert_eq!(t.fdstat(f).unwrap().1, fdflags::APPEND | fdflags::NONBLOCK);
    assert_eq!(t.call(|h, cx, m| fd_pwrite(h, cx, m, f, iovs, n, 0, out)), errno::SUCCESS);
    assert_eq!(t.dir.read("file").len(), 201);
    // A sync flag is INVAL and changes nothing.
    assert_eq!(t.set_flags(f, fdflags::SYNC), errno::INVAL);
    assert_eq!(t.fdstat(f).unwrap().1, fdflags::APPEND | fdflags::NONBLOCK);
}

/// APPEND on a read-only fd stays read-only (the fake once opened such a
/// file writable, as std's `append(true)` does).
#[test]
fn append_does_not_make_a_file_writable() {
    let mut t = T::new();
    t.dir.write("f", b"abc");
    let f = t.open(b"f", 0, R, fdflags::APPEND as u32).unwrap();
    assert_eq!(t.fdstat(f).unwrap(), (filetype::REGULAR_FILE, fdflags::APPEND, FILE_RO, FILE_RO));
    assert_eq!(t.write(f, b"x"), Err(errno::BADF));
    assert_eq!(t.dir.read("f"), b"abc");
}

/// Issue #17, program 3: a file created with CREAT and its hard link opened
/// without: each fd reports its own open mode's rights, exactly as
/// wasmtime-wasi does (1073741823 and 1073741759).
#[test]
fn issue17_hard_link_rights_follow_each_open_mode() {
    let mut t = T::new();
    let asked = R
        | rights::PATH_LINK_SOURCE
        | rights::PATH_LINK_TARGET
        | rights::FD_FILESTAT_GET
        | rights::PATH_OPEN
        | rights::PATH_UNLINK_FILE;
    let f = t.open(b"file", oflags::CREAT, asked, 0).unwrap();
    assert_eq!(t.link(b"file", b"link"), errno::SUCCESS);
    let l = t.open(b"link", 0, asked, 0).unwrap();
    assert_eq!(t.fdstat(f).unwrap().2, 1_073_741_823);
    assert_eq!(t.fdstat(l).unwrap().2, 1_073_741_759);
    assert_eq!(t.fdstat(l).unwrap().3, FILE_RO);
    // The link opened read-write reports what the file does.
    let rw = t.open(b"link", 0, R | W, 0).unwrap();
    assert_eq!(t.fdstat(rw).unwrap().2, t.fdstat(f).unwrap().2);
}

#[test]
fn set_flags_on_what_is_not_a_file_is_badf_first() {
    let mut t = T::new();
    t.dir.mkdir("d");
    let d = t.open(b"d", oflags::DIRECTORY, R, 0).unwrap();
    for fd in [0, 1, 2, 3, d, 99] {
        for flags in [0, fdflags::APPEND, fdflags::SYNC, fdflags::DSYNC] {
            assert_eq!(t.set_flags(fd, flags), errno::BADF, "fd {fd} flags {flags:#x}");
        }
    }
}

/// Narrowing is the fd's own: a directory narrowed to no inheriting rights
/// still opens files with their open mode's rights, whose flags can change.
#[test]
fn narrowed_directory_does_not_narrow_what_it_opens() {
    let mut t = T::new();
    t.dir.write("f", b"abc");
    let keep = rights::PATH_OPEN | rights::PATH_CREATE_FILE;
    assert_eq!(t.set_rights(3, keep, 0), errno::SUCCESS);
    let f = t.open(b"f", 0, R | W, fdflags::APPEND as u32).unwrap();
    assert_eq!(t.fdstat(f).unwrap(), (filetype::REGULAR_FILE, fdflags::APPEND, FILE_RW, FILE_RW));
    assert_eq!(t.set_flags(f, 0), errno::SUCCESS);
    assert_eq!(t.write(f, b"X"), Ok(1));
    assert_eq!(t.dir.read("f"), b"Xbc");
    assert_eq!(t.fdstat(3).unwrap().2, keep);
    assert_eq!(t.path1(path_unlink_file, 3, b"f"), errno::NOTCAPABLE, "the directory's own narrowing holds");
}
