//! Rights, open modes and fd flags through raw preview 1 calls (issue #17):
//! every combination of `oflags` with the rights that decide the open mode,
//! on a file, a missing name, a directory and a symlink; every `fdflags`
//! combination, then `fd_fdstat_set_flags` (APPEND really off: a write after
//! a seek lands there); `fd_fdstat_get` after each; hard links opened with
//! other rights; and the three programs of the issue as they were.
//!
//! Every call's result is printed (`ok VALUE` or `err NAME (n)`), rights in
//! hex. `fd_fdstat_set_rights` is the one deliberate difference met here
//! (docs/wasi.md: kwasm narrows and then enforces, wasmtime-wasi answers
//! NOTSUP): those checks verify each side's own contract and print
//! `consistent`, or what broke it.

use kwasm_wasi_corpus::errno_name;
use std::fmt::Display;

mod raw {
    /// `iovec`/`ciovec`: pointer and length, 4 bytes each on wasm32.
    #[repr(C)]
    pub struct Iovec {
        pub buf: *const u8,
        pub len: usize,
    }

    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        #[allow(clippy::too_many_arguments)]
        pub fn path_open(
            fd: u32,
            dirflags: u32,
            path: *const u8,
            len: usize,
            oflags: u32,
            base: u64,
            inheriting: u64,
            fdflags: u32,
            out: *mut u32,
        ) -> u32;
        pub fn fd_close(fd: u32) -> u32;
        pub fn fd_read(fd: u32, iovs: *const Iovec, n: usize, out: *mut usize) -> u32;
        pub fn fd_write(fd: u32, iovs: *const Iovec, n: usize, out: *mut usize) -> u32;
        pub fn fd_pread(fd: u32, iovs: *const Iovec, n: usize, offset: u64, out: *mut usize) -> u32;
        pub fn fd_pwrite(fd: u32, iovs: *const Iovec, n: usize, offset: u64, out: *mut usize) -> u32;
        pub fn fd_seek(fd: u32, offset: i64, whence: u32, out: *mut u64) -> u32;
        pub fn fd_tell(fd: u32, out: *mut u64) -> u32;
        pub fn fd_fdstat_get(fd: u32, out: *mut u8) -> u32;
        pub fn fd_fdstat_set_flags(fd: u32, flags: u32) -> u32;
        pub fn fd_fdstat_set_rights(fd: u32, base: u64, inheriting: u64) -> u32;
        pub fn fd_filestat_get(fd: u32, out: *mut u8) -> u32;
        pub fn path_filestat_get(fd: u32, flags: u32, path: *const u8, len: usize, out: *mut u8) -> u32;
        pub fn path_link(
            old_fd: u32,
            old_flags: u32,
            old: *const u8,
            old_len: usize,
            new_fd: u32,
            new: *const u8,
            new_len: usize,
        ) -> u32;
        pub fn path_unlink_file(fd: u32, path: *const u8, len: usize) -> u32;
        pub fn path_create_directory(fd: u32, path: *const u8, len: usize) -> u32;
        pub fn fd_prestat_get(fd: u32, out: *mut u8) -> u32;
        pub fn fd_prestat_dir_name(fd: u32, buf: *mut u8, len: usize) -> u32;
    }
}

// oflags
const CREAT: u32 = 1;
const DIRECTORY: u32 = 2;
const EXCL: u32 = 4;
const TRUNC: u32 = 8;
// fdflags
const APPEND: u32 = 1;
const DSYNC: u32 = 2;
const NONBLOCK: u32 = 4;
const RSYNC: u32 = 8;
const SYNC: u32 = 16;
// rights
const FD_READ: u64 = 1 << 1;
const FD_SEEK: u64 = 1 << 2;
const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
const FD_TELL: u64 = 1 << 5;
const FD_WRITE: u64 = 1 << 6;
const PATH_CREATE_FILE: u64 = 1 << 10;
const PATH_LINK_SOURCE: u64 = 1 << 11;
const PATH_LINK_TARGET: u64 = 1 << 12;
const PATH_OPEN: u64 = 1 << 13;
const PATH_FILESTAT_GET: u64 = 1 << 18;
const FD_FILESTAT_GET: u64 = 1 << 21;
const PATH_UNLINK_FILE: u64 = 1 << 26;
const ALL: u64 = (1 << 30) - 1;
/// Every `PATH_*` right.
const PATH_ALL: u64 = 0x071f_0000 | 0x0000_be00;

const ERRNO_NOTSUP: u16 = 58;
const ERRNO_NOTCAPABLE: u16 = 76;

type R<T> = Result<T, u16>;

fn check(e: u32) -> R<()> {
    if e == 0 {
        Ok(())
    } else {
        Err(e as u16)
    }
}

/// `ok VALUE` or `err NAME (n)`.
fn out<T: Display>(r: &R<T>) -> String {
    match r {
        Ok(v) => format!("ok {v}"),
        Err(e) => format!("err {} ({e})", errno_name(*e)),
    }
}

fn ok_or_err(r: &R<()>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(e) => format!("err {} ({e})", errno_name(*e)),
    }
}

fn open(dir: u32, follow: bool, path: &str, oflags: u32, base: u64, inheriting: u64, fdflags: u32) -> R<u32> {
    let mut fd = 0;
    // SAFETY: the path and the result slot are valid for the call.
    check(unsafe {
        raw::path_open(dir, follow as u32, path.as_ptr(), path.len(), oflags, base, inheriting, fdflags, &mut fd)
    })?;
    Ok(fd)
}

fn close(fd: u32) -> R<()> {
    // SAFETY: plain numbers.
    check(unsafe { raw::fd_close(fd) })
}

fn read(fd: u32, len: usize) -> R<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let iov = raw::Iovec { buf: buf.as_mut_ptr(), len };
    let mut n = 0;
    // SAFETY: one iovec over `buf`, which outlives the call.
    check(unsafe { raw::fd_read(fd, &iov, 1, &mut n) })?;
    buf.truncate(n);
    Ok(buf)
}

fn write(fd: u32, data: &[u8]) -> R<usize> {
    let iov = raw::Iovec { buf: data.as_ptr(), len: data.len() };
    let mut n = 0;
    // SAFETY: one iovec over `data`, which outlives the call.
    check(unsafe { raw::fd_write(fd, &iov, 1, &mut n) })?;
    Ok(n)
}

fn pread(fd: u32, len: usize, offset: u64) -> R<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let iov = raw::Iovec { buf: buf.as_mut_ptr(), len };
    let mut n = 0;
    // SAFETY: as read().
    check(unsafe { raw::fd_pread(fd, &iov, 1, offset, &mut n) })?;
    buf.truncate(n);
    Ok(buf)
}

fn pwrite(fd: u32, data: &[u8], offset: u64) -> R<usize> {
    let iov = raw::Iovec { buf: data.as_ptr(), len: data.len() };
    let mut n = 0;
    // SAFETY: as write().
    check(unsafe { raw::fd_pwrite(fd, &iov, 1, offset, &mut n) })?;
    Ok(n)
}

fn seek(fd: u32, offset: i64, whence: u32) -> R<u64> {
    let mut pos = 0;
    // SAFETY: the result slot is valid.
    check(unsafe { raw::fd_seek(fd, offset, whence, &mut pos) })?;
    Ok(pos)
}

fn tell(fd: u32) -> R<u64> {
    let mut pos = 0;
    // SAFETY: as seek().
    check(unsafe { raw::fd_tell(fd, &mut pos) })?;
    Ok(pos)
}

/// `fd_fdstat_get`: (filetype, flags, base, inheriting).
#[derive(Clone, Copy, PartialEq)]
struct Fdstat {
    filetype: u8,
    flags: u16,
    base: u64,
    inheriting: u64,
}

impl Display for Fdstat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "type {} flags {:#x} base {:#x} inheriting {:#x}",
            self.filetype, self.flags, self.base, self.inheriting
        )
    }
}

fn fdstat(fd: u32) -> R<Fdstat> {
    let mut raw = [0u8; 24];
    // SAFETY: 24 bytes, the size of `fdstat`.
    check(unsafe { raw::fd_fdstat_get(fd, raw.as_mut_ptr()) })?;
    let u64_at = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().unwrap());
    Ok(Fdstat {
        filetype: raw[0],
        flags: u16::from_le_bytes([raw[2], raw[3]]),
        base: u64_at(8),
        inheriting: u64_at(16),
    })
}

fn set_flags(fd: u32, flags: u32) -> R<()> {
    // SAFETY: plain numbers.
    check(unsafe { raw::fd_fdstat_set_flags(fd, flags) })
}

fn set_rights(fd: u32, base: u64, inheriting: u64) -> R<()> {
    // SAFETY: plain numbers.
    check(unsafe { raw::fd_fdstat_set_rights(fd, base, inheriting) })
}

/// (filetype, nlink, size) of an open fd.
fn fstat(fd: u32) -> R<(u8, u64, u64)> {
    let mut raw = [0u8; 64];
    // SAFETY: 64 bytes, the size of `filestat`.
    check(unsafe { raw::fd_filestat_get(fd, raw.as_mut_ptr()) })?;
    let u64_at = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().unwrap());
    Ok((raw[16], u64_at(24), u64_at(32)))
}

/// (dev, ino) of an open fd: only compared, never printed.
fn identity(fd: u32) -> R<(u64, u64)> {
    let mut raw = [0u8; 64];
    // SAFETY: as fstat().
    check(unsafe { raw::fd_filestat_get(fd, raw.as_mut_ptr()) })?;
    let u64_at = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().unwrap());
    Ok((u64_at(0), u64_at(8)))
}

/// (filetype, nlink, size) by path, not following a last symlink.
fn stat_path(dir: u32, path: &str) -> R<(u8, u64, u64)> {
    let mut raw = [0u8; 64];
    // SAFETY: the path and 64 bytes are valid for the call.
    check(unsafe { raw::path_filestat_get(dir, 0, path.as_ptr(), path.len(), raw.as_mut_ptr()) })?;
    let u64_at = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().unwrap());
    Ok((raw[16], u64_at(24), u64_at(32)))
}

fn link(dir: u32, old: &str, new: &str) -> R<()> {
    // SAFETY: both paths are valid for the call.
    check(unsafe { raw::path_link(dir, 0, old.as_ptr(), old.len(), dir, new.as_ptr(), new.len()) })
}

fn unlink(dir: u32, path: &str) -> R<()> {
    // SAFETY: the path is valid for the call.
    check(unsafe { raw::path_unlink_file(dir, path.as_ptr(), path.len()) })
}

fn mkdir(dir: u32, path: &str) -> R<()> {
    // SAFETY: the path is valid for the call.
    check(unsafe { raw::path_create_directory(dir, path.as_ptr(), path.len()) })
}

fn shown_stat(r: R<(u8, u64, u64)>) -> String {
    out(&r.map(|(t, n, s)| format!("type {t} nlink {n} size {s}")))
}

fn shown_bytes(r: R<Vec<u8>>) -> String {
    out(&r.map(|b| format!("{:?}", String::from_utf8_lossy(&b))))
}

/// The preopen named `/sandbox`.
fn sandbox() -> u32 {
    for fd in 3..32 {
        let mut pre = [0u8; 8];
        // SAFETY: 8 bytes, the size of `prestat`.
        if unsafe { raw::fd_prestat_get(fd, pre.as_mut_ptr()) } != 0 {
            continue;
        }
        let len = u32::from_le_bytes(pre[4..8].try_into().unwrap()) as usize;
        let mut name = vec![0u8; len];
        // SAFETY: `len` bytes.
        if unsafe { raw::fd_prestat_dir_name(fd, name.as_mut_ptr(), len) } == 0 && name == b"/sandbox" {
            return fd;
        }
    }
    println!("no /sandbox preopen");
    std::process::exit(1);
}

fn oflags_name(o: u32) -> String {
    let names = [(CREAT, "CREAT"), (DIRECTORY, "DIRECTORY"), (EXCL, "EXCL"), (TRUNC, "TRUNC")];
    let v: Vec<&str> = names.iter().filter(|(b, _)| o & b != 0).map(|(_, n)| *n).collect();
    if v.is_empty() {
        "0".into()
    } else {
        v.join("|")
    }
}

fn fdflags_name(f: u32) -> String {
    let names = [(APPEND, "APPEND"), (DSYNC, "DSYNC"), (NONBLOCK, "NONBLOCK"), (RSYNC, "RSYNC"), (SYNC, "SYNC")];
    let v: Vec<&str> = names.iter().filter(|(b, _)| f & b != 0).map(|(_, n)| *n).collect();
    if v.is_empty() {
        "0".into()
    } else {
        v.join("|")
    }
}

/// (file) name, contents: the file every case starts from.
fn fresh(dir: u32, name: &str, content: &[u8]) {
    let fd = open(dir, false, name, CREAT | TRUNC, FD_WRITE, 0, 0).expect("fresh file");
    write(fd, content).expect("fresh content");
    close(fd).expect("close fresh");
}

/// The contents of `name`, read through a fresh read-only fd.
fn contents(dir: u32, name: &str) -> String {
    match open(dir, false, name, 0, FD_READ, 0, 0) {
        Ok(fd) => {
            let r = shown_bytes(read(fd, 512));
            let _ = close(fd);
            r
        }
        Err(e) => out::<u8>(&Err(e)),
    }
}

/// Issue #17, program 1: created with CREAT and FD_READ|FD_WRITE|FD_SEEK|
/// FD_TELL (no inheriting), written and read; then FD_READ|FD_WRITE dropped.
fn issue_set_rights(dir: u32) {
    println!("-- issue 1: CREAT with read/write/seek/tell, then dropping read/write");
    let fd = match open(dir, false, "file.cleanup", CREAT, FD_READ | FD_WRITE | FD_SEEK | FD_TELL, 0, 0) {
        Ok(fd) => fd,
        Err(e) => return println!("open: {}", out::<u8>(&Err(e))),
    };
    println!("open: ok");
    println!("fdstat: {}", out(&fdstat(fd)));
    println!("write: {}", out(&write(fd, b"hello, rights")));
    println!("seek 0: {}", out(&seek(fd, 0, 0)));
    println!("read: {}", shown_bytes(read(fd, 64)));
    println!("tell: {}", out(&tell(fd)));
    let before = fdstat(fd);
    let r = set_rights(fd, FD_SEEK | FD_TELL, 0);
    let verdict = match r {
        // wasmtime-wasi: nothing changes.
        Err(ERRNO_NOTSUP) => {
            let same = fdstat(fd) == before;
            let works = seek(fd, 0, 0).is_ok() && read(fd, 5).is_ok() && write(fd, b"!").is_ok();
            if same && works {
                "consistent".to_string()
            } else {
                format!("NOTSUP but changed (same fdstat {same}, read/write work {works})")
            }
        }
        // kwasm: narrowed, and enforced.
        Ok(()) => {
            let st = fdstat(fd);
            let shows = matches!(st, Ok(s) if s.base == FD_SEEK | FD_TELL && s.inheriting == 0);
            let r = read(fd, 5).err();
            let w = write(fd, b"!").err();
            let s = seek(fd, 0, 0);
            if shows && r == Some(ERRNO_NOTCAPABLE) && w == Some(ERRNO_NOTCAPABLE) && s.is_ok() {
                "consistent".to_string()
            } else {
                format!("narrowed but {} read {r:?} write {w:?} seek {}", out(&st), out(&s))
            }
        }
        Err(e) => format!("err {} ({e})", errno_name(e)),
    };
    println!("set_rights drop read/write: {verdict}");
    println!("close: {}", ok_or_err(&close(fd)));
    println!("unlink: {}", ok_or_err(&unlink(dir, "file.cleanup")));
}

/// Issue #17, program 2: APPEND, then `fd_fdstat_set_flags(fd, 0)`: the
/// next write after a seek to 0 overwrites.
fn issue_append_off(dir: u32) {
    println!("-- issue 2: APPEND switched off with fd_fdstat_set_flags");
    let fd = match open(dir, false, "file", CREAT, FD_READ | FD_WRITE, 0, APPEND) {
        Ok(fd) => fd,
        Err(e) => return println!("open: {}", out::<u8>(&Err(e))),
    };
    let summary = |r: R<Vec<u8>>| out(&r.map(|b| format!("{} bytes, first {:?}", b.len(), b.first())));
    println!("fdstat: {}", out(&fdstat(fd)));
    println!("write 100x0: {}", out(&write(fd, &[0u8; 100])));
    println!("seek 0: {}", out(&seek(fd, 0, 0)));
    println!("read: {}", summary(read(fd, 100)));
    println!("seek 0: {}", out(&seek(fd, 0, 0)));
    println!("write 100x1: {}", out(&write(fd, &[1u8; 100])));
    println!("tell: {}", out(&tell(fd)));
    println!("seek 100: {}", out(&seek(fd, 100, 0)));
    println!("read: {}", summary(read(fd, 100)));
    println!("set_flags 0: {}", ok_or_err(&set_flags(fd, 0)));
    println!("fdstat: {}", out(&fdstat(fd)));
    println!("seek 0: {}", out(&seek(fd, 0, 0)));
    println!("write 100x2: {}", out(&write(fd, &[2u8; 100])));
    println!("tell: {}", out(&tell(fd)));
    println!("seek 0: {}", out(&seek(fd, 0, 0)));
    println!("read: {}", summary(read(fd, 100)));
    println!("close: {}", ok_or_err(&close(fd)));
    println!("stat: {}", shown_stat(stat_path(dir, "file")));
    println!("unlink: {}", ok_or_err(&unlink(dir, "file")));
}

/// Issue #17, program 3: a file and a hard link to it, opened with the
/// same rights (the file with CREAT), report the same rights.
fn issue_link_rights(dir: u32) {
    println!("-- issue 3: a file and its hard link, same rights");
    let r = FD_READ | PATH_LINK_SOURCE | PATH_LINK_TARGET | FD_FILESTAT_GET | PATH_OPEN | PATH_UNLINK_FILE;
    let file = match open(dir, false, "file", CREAT, r, r, 0) {
        Ok(fd) => fd,
        Err(e) => return println!("create: {}", out::<u8>(&Err(e))),
    };
    println!("link: {}", ok_or_err(&link(dir, "file", "link")));
    let Ok(lfd) = open(dir, false, "link", 0, r, r, 0).inspect_err(|e| println!("open link: err {e}")) else {
        return;
    };
    let (a, b) = (fdstat(file), fdstat(lfd));
    println!("fdstat file: {}", out(&a));
    println!("fdstat link: {}", out(&b));
    if let (Ok(a), Ok(b)) = (a, b) {
        println!("rights equal: base {} inheriting {}", a.base == b.base, a.inheriting == b.inheriting);
    }
    println!("filestat file: {}", shown_stat(fstat(file)));
    println!("filestat link: {}", shown_stat(fstat(lfd)));
    println!("same file: {}", identity(file).ok() == identity(lfd).ok());
    let _ = (close(file), close(lfd));
    // And into a subdirectory.
    println!("mkdir: {}", ok_or_err(&mkdir(dir, "linkdir")));
    println!("link into subdir: {}", ok_or_err(&link(dir, "file", "linkdir/link")));
    if let Ok(fd) = open(dir, false, "linkdir/link", 0, r, r, 0) {
        println!("fdstat subdir link: {}", out(&fdstat(fd)));
        let _ = close(fd);
    }
    for p in ["linkdir/link", "link", "file"] {
        println!("unlink {p}: {}", ok_or_err(&unlink(dir, p)));
    }
}

/// Every oflags combination with the rights that decide the open mode, on
/// each kind of target; then what the fd may do.
fn oflags_matrix(dir: u32) {
    println!("-- oflags x rights x target");
    let rights: [(&str, u64); 9] = [
        ("none", 0),
        ("R", FD_READ),
        ("W", FD_WRITE),
        ("RW", FD_READ | FD_WRITE),
        ("RWST", FD_READ | FD_WRITE | FD_SEEK | FD_TELL),
        ("ST", FD_SEEK | FD_TELL),
        ("SETFL", FD_FDSTAT_SET_FLAGS),
        ("PATH", PATH_ALL),
        ("ALL", ALL),
    ];
    mkdir(dir, "m").expect("mkdir m");
    mkdir(dir, "m/dir").expect("mkdir m/dir");
    for o in 0..16u32 {
        for (rname, r) in rights {
            let targets = [
                ("m/file", false, "m/file"),
                ("m/missing", false, "m/missing"),
                ("m/dir", false, "m/dir"),
                ("link-file", true, "hello.txt"),
            ];
            for (target, follow, stat_name) in targets {
                fresh(dir, "m/file", b"0123456789");
                fresh(dir, "hello.txt", b"hello, sandbox\n");
                let _ = unlink(dir, "m/missing");
                let label = format!("open {} {rname} {target}", oflags_name(o));
                // The inheriting rights are ignored by both: pass something odd.
                let fd = match open(dir, follow, target, o, r, ALL & !r, 0) {
                    Ok(fd) => fd,
                    Err(e) => {
                        println!("{label}: {}", out::<u8>(&Err(e)));
                        continue;
                    }
                };
                let mut line = format!("{label}: ok; {}", out(&fdstat(fd)));
                line += &format!("; read {}", shown_bytes(read(fd, 4)));
                line += &format!("; write {}", out(&write(fd, b"ab")));
                line += &format!("; tell {}", out(&tell(fd)));
                line += &format!("; pread {}", shown_bytes(pread(fd, 3, 1)));
                line += &format!("; pwrite {}", out(&pwrite(fd, b"Z", 9)));
                line += &format!("; seek end {}", out(&seek(fd, 0, 2)));
                line += &format!("; close {}", ok_or_err(&close(fd)));
                line += &format!("; after {}", shown_stat(stat_path(dir, stat_name)));
                println!("{line}");
            }
        }
    }
    println!("m/file now: {}", contents(dir, "m/file"));
    println!("hello.txt now: {}", contents(dir, "hello.txt"));
}

/// Every fdflags combination at open, then every settable flag change.
fn fdflags_matrix(dir: u32) {
    println!("-- fdflags x rights, then fd_fdstat_set_flags");
    let rights: [(&str, u64); 4] = [("R", FD_READ), ("W", FD_WRITE), ("RW", FD_READ | FD_WRITE), ("none", 0)];
    let changes = [0, APPEND, NONBLOCK, APPEND | NONBLOCK, DSYNC, RSYNC, SYNC, APPEND | SYNC];
    for f in 0..32u32 {
        for (rname, r) in rights {
            for o in [0, CREAT | TRUNC] {
                fresh(dir, "f", b"0123456789");
                let label = format!("open {} {} {rname}", fdflags_name(f), oflags_name(o));
                let fd = match open(dir, false, "f", o, r, r, f) {
                    Ok(fd) => fd,
                    Err(e) => {
                        println!("{label}: {}", out::<u8>(&Err(e)));
                        continue;
                    }
                };
                let mut line = format!("{label}: ok; {}", out(&fdstat(fd)));
                line += &format!("; seek 2 {}", out(&seek(fd, 2, 0)));
                line += &format!("; write {}", out(&write(fd, b"AB")));
                line += &format!("; tell {}", out(&tell(fd)));
                line += &format!("; pwrite@0 {}", out(&pwrite(fd, b"P", 0)));
                line += &format!("; size {}", out(&fstat(fd).map(|s| s.2)));
                println!("{line}");
                for c in changes {
                    let r = set_flags(fd, c);
                    let mut line = format!("  set_flags {}: {}", fdflags_name(c), ok_or_err(&r));
                    line += &format!("; {}", out(&fdstat(fd).map(|s| s.flags)));
                    line += &format!("; seek 1 {}", out(&seek(fd, 1, 0)));
                    line += &format!("; write {}", out(&write(fd, b"c")));
                    line += &format!("; tell {}", out(&tell(fd)));
                    line += &format!("; size {}", out(&fstat(fd).map(|s| s.2)));
                    println!("{line}");
                }
                println!("  close: {}", ok_or_err(&close(fd)));
                println!("  f now: {}", contents(dir, "f"));
            }
        }
    }
    // pwrite on an APPEND fd appends (Linux); after APPEND is off it does not.
    fresh(dir, "f", b"0123456789");
    if let Ok(fd) = open(dir, false, "f", 0, FD_READ | FD_WRITE, 0, APPEND) {
        println!("append pwrite@0: {}", out(&pwrite(fd, b"xy", 0)));
        println!("append tell: {}", out(&tell(fd)));
        println!("append set_flags 0: {}", ok_or_err(&set_flags(fd, 0)));
        println!("plain pwrite@0: {}", out(&pwrite(fd, b"PQ", 0)));
        println!("plain write: {}", out(&write(fd, b"w")));
        println!("set_flags APPEND: {}", ok_or_err(&set_flags(fd, APPEND)));
        println!("append write: {}", out(&write(fd, b"e")));
        println!("append tell: {}", out(&tell(fd)));
        let _ = close(fd);
        println!("f now: {}", contents(dir, "f"));
    }
}

/// `fd_fdstat_set_flags` and `fd_fdstat_get` on what is not a file.
fn not_files(dir: u32) {
    println!("-- set_flags on other fds");
    for (name, fd) in [("stdin", 0), ("stdout", 1), ("stderr", 2), ("preopen", dir), ("closed", 99)] {
        println!("{name} set_flags 0: {}", ok_or_err(&set_flags(fd, 0)));
        println!("{name} set_flags APPEND: {}", ok_or_err(&set_flags(fd, APPEND)));
        println!("{name} set_flags SYNC: {}", ok_or_err(&set_flags(fd, SYNC)));
        if name != "stdout" {
            // stdout's fdstat says whether it is a terminal: not ours to print.
            println!("{name} fdstat: {}", out(&fdstat(fd)));
        }
    }
    if let Ok(d) = open(dir, false, "sub", DIRECTORY, FD_READ, 0, 0) {
        println!("dir set_flags 0: {}", ok_or_err(&set_flags(d, 0)));
        println!("dir set_flags NONBLOCK: {}", ok_or_err(&set_flags(d, NONBLOCK)));
        println!("dir fdstat: {}", out(&fdstat(d)));
        println!("dir seek: {}", out(&seek(d, 0, 0)));
        println!("dir tell: {}", out(&tell(d)));
        println!("dir read: {}", shown_bytes(read(d, 4)));
        println!("dir write: {}", out(&write(d, b"x")));
        println!(
            "open through a dir fd: {}",
            out(&open(d, false, "nested.txt", 0, FD_READ, 0, 0).map(close).map(|_| "opened"))
        );
        let _ = close(d);
    }
    if let Ok(f) = open(dir, false, "hello.txt", 0, FD_READ, 0, 0) {
        println!("open through a file fd: {}", out(&open(f, false, "x", 0, FD_READ, 0, 0).map(|_| "opened")));
        let _ = close(f);
    }
}

/// Hard links opened with other rights than the file: each fd's rights
/// follow its own open mode.
fn links_matrix(dir: u32) {
    println!("-- links x rights");
    let rights: [(&str, u64); 5] = [
        ("none", 0),
        ("R", FD_READ),
        ("W", FD_WRITE),
        ("RW", FD_READ | FD_WRITE),
        ("issue", FD_READ | PATH_LINK_SOURCE | PATH_LINK_TARGET | FD_FILESTAT_GET | PATH_OPEN | PATH_UNLINK_FILE),
    ];
    for (i, (an, a)) in rights.iter().enumerate() {
        for o in [0, CREAT] {
            let src = format!("lsrc{i}{o}");
            if o == 0 {
                fresh(dir, &src, b"linked");
            }
            let Ok(sfd) = open(dir, false, &src, o, *a, *a, 0) else {
                println!("open {src}: failed");
                continue;
            };
            let dst = format!("ldst{i}{o}");
            println!("link {src} ({an}, {}): {}", oflags_name(o), ok_or_err(&link(dir, &src, &dst)));
            println!("  source: {}", out(&fdstat(sfd)));
            for (bn, b) in rights {
                match open(dir, false, &dst, 0, b, b, 0) {
                    Ok(lfd) => {
                        println!("  link as {bn}: {}; {}", out(&fdstat(lfd)), shown_stat(fstat(lfd)));
                        let _ = close(lfd);
                    }
                    Err(e) => println!("  link as {bn}: {}", out::<u8>(&Err(e))),
                }
            }
            let _ = close(sfd);
            println!("  unlink source: {}", ok_or_err(&unlink(dir, &src)));
            println!("  link after: {}", shown_stat(stat_path(dir, &dst)));
        }
    }
}

/// `fd_fdstat_set_rights`: each side's contract (NOTSUP and nothing
/// changes; or narrowed, reported and enforced, never widened).
fn set_rights_contract(dir: u32) {
    println!("-- fd_fdstat_set_rights");
    println!("closed fd: {}", ok_or_err(&set_rights(99, 0, 0)));
    let cases: [(&str, u64, u64); 5] = [
        ("drop write", FD_WRITE, 0),
        ("drop read", FD_READ, 0),
        ("drop seek", FD_SEEK, 0),
        ("drop set_flags", FD_FDSTAT_SET_FLAGS, 0),
        ("drop all", ALL, 0),
    ];
    for (name, drop, _) in cases {
        fresh(dir, "r", b"rights");
        let Ok(fd) = open(dir, false, "r", 0, FD_READ | FD_WRITE, 0, 0) else {
            println!("{name}: open failed");
            continue;
        };
        let before = fdstat(fd).expect("fdstat");
        let verdict = match set_rights(fd, before.base & !drop, before.inheriting & !drop) {
            Err(ERRNO_NOTSUP) => {
                if fdstat(fd).ok() == Some(before) {
                    "consistent".to_string()
                } else {
                    "NOTSUP but the rights changed".to_string()
                }
            }
            Ok(()) => {
                let now = fdstat(fd).expect("fdstat");
                let mut bad = Vec::new();
                if now.base != before.base & !drop {
                    bad.push(format!("base {:#x}", now.base));
                }
                let expect = |right: u64, r: Option<u16>, what: &str, bad: &mut Vec<String>| {
                    if drop & right != 0 && r != Some(ERRNO_NOTCAPABLE) {
                        bad.push(format!("{what} {r:?}"));
                    }
                };
                expect(FD_READ, read(fd, 1).err(), "read", &mut bad);
                expect(FD_WRITE, write(fd, b"").err(), "write", &mut bad);
                expect(FD_SEEK, seek(fd, 0, 0).err(), "seek", &mut bad);
                expect(FD_FDSTAT_SET_FLAGS, set_flags(fd, 0).err(), "set_flags", &mut bad);
                // Widening back is refused.
                if drop != 0 && set_rights(fd, before.base, 0).err() != Some(ERRNO_NOTCAPABLE) {
                    bad.push("widened".into());
                }
                if bad.is_empty() {
                    "consistent".to_string()
                } else {
                    bad.join(", ")
                }
            }
            Err(e) => format!("err {} ({e})", errno_name(e)),
        };
        println!("{name}: {verdict}");
        let _ = close(fd);
    }
    let _ = unlink(dir, "r");
}

/// A directory narrowed to a few path rights and no inheriting rights (kwasm
/// narrows it, wasmtime-wasi answers NOTSUP): files opened through it still
/// get their open mode's rights, write, and switch APPEND off, as under
/// wasmtime-wasi.
fn narrowed_directory(dir: u32) {
    println!("-- a narrowed directory");
    println!("mkdir nd: {}", ok_or_err(&mkdir(dir, "nd")));
    let Ok(d) = open(dir, false, "nd", DIRECTORY, FD_READ, 0, 0) else {
        return println!("open nd: failed");
    };
    let keep = PATH_OPEN | PATH_CREATE_FILE | PATH_UNLINK_FILE | PATH_FILESTAT_GET;
    let verdict = match set_rights(d, keep, 0) {
        Err(ERRNO_NOTSUP) => "consistent".to_string(),
        Ok(()) => match fdstat(d) {
            Ok(s) if s.base == keep && s.inheriting == 0 => "consistent".to_string(),
            other => format!("narrowed but {}", out(&other)),
        },
        Err(e) => format!("err {} ({e})", errno_name(e)),
    };
    println!("set_rights nd: {verdict}");
    for (name, oflags, rights, fdflags) in [
        ("CREAT RW APPEND", CREAT, FD_READ | FD_WRITE, APPEND),
        ("CREAT R", CREAT, FD_READ, 0),
        ("0 W", 0, FD_WRITE, 0),
        ("0 none", 0, 0, 0),
    ] {
        let label = format!("nd/f {name}");
        let f = match open(d, false, "f", oflags, rights, 0, fdflags) {
            Ok(f) => f,
            Err(e) => {
                println!("{label}: {}", out::<u8>(&Err(e)));
                continue;
            }
        };
        let mut line = format!("{label}: ok; {}", out(&fdstat(f)));
        line += &format!("; write {}", out(&write(f, b"abc")));
        line += &format!("; set_flags 0 {}", ok_or_err(&set_flags(f, 0)));
        line += &format!("; seek 0 {}", out(&seek(f, 0, 0)));
        line += &format!("; write {}", out(&write(f, b"X")));
        line += &format!("; tell {}", out(&tell(f)));
        line += &format!("; read {}", shown_bytes(read(f, 8)));
        line += &format!("; close {}", ok_or_err(&close(f)));
        println!("{line}");
        println!("  nd/f now: {}", contents(dir, "nd/f"));
    }
    println!("unlink nd/f: {}", ok_or_err(&unlink(d, "f")));
    let _ = close(d);
}

fn main() {
    let dir = sandbox();
    println!("preopen fdstat: {}", out(&fdstat(dir)));
    issue_set_rights(dir);
    issue_append_off(dir);
    issue_link_rights(dir);
    oflags_matrix(dir);
    fdflags_matrix(dir);
    not_files(dir);
    links_matrix(dir);
    set_rights_contract(dir);
    narrowed_directory(dir);
    // Leave no file the open modes could have touched unchecked.
    println!("hello.txt at the end: {}", contents(dir, "hello.txt"));
}
