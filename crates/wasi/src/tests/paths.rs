//! `path_*`: argument decoding, path rules, and real filesystem effects.

use super::*;
use std::os::unix::ffi::OsStrExt;

#[test]
fn path_open_decodes_flags_like_wasmtime_wasi() {
    let mut t = T::new();
    t.dir.write("f", b"old");
    let f = t.open(b"f", oflags::TRUNC, rights::FD_READ, fdflags::NONBLOCK as u32).unwrap();
    let how = t.host.last_open.unwrap();
    assert!(how.read && how.write && how.truncate && how.nonblock && how.follow, "TRUNC implies write: {how:?}");
    assert!(!how.create && !how.directory && !how.append);
    assert_eq!(t.dir.read("f"), b"");
    assert_eq!(t.fdstat(f).unwrap().2, rights::ALL, "reported from the open mode");

    t.open(b"g", oflags::CREAT | oflags::EXCL, rights::FD_WRITE, fdflags::APPEND as u32).unwrap();
    let how = t.host.last_open.unwrap();
    assert!(!how.read && how.write && how.create && how.exclusive && how.append, "{how:?}");
    assert_eq!(t.open(b"g", oflags::CREAT | oflags::EXCL, RW, 0), Err(errno::EXIST));

    t.open(b"g", 0, 0, 0).unwrap();
    let how = t.host.last_open.unwrap();
    assert!(how.read && !how.write, "no rights at all: read-only");

    // EXCL without CREAT is not exclusive creation.
    t.open(b"g", oflags::EXCL, rights::FD_READ, 0).unwrap();
    assert!(!t.host.last_open.unwrap().exclusive);
}

#[test]
fn path_open_refuses_bad_combinations_before_touching_anything() {
    let mut t = T::new();
    t.dir.mkdir("d");
    for bad in [oflags::CREAT, oflags::EXCL, oflags::TRUNC] {
        assert_eq!(t.open(b"d", oflags::DIRECTORY | bad, rights::FD_READ, 0), Err(errno::INVAL));
    }
    for sync in [fdflags::SYNC, fdflags::DSYNC, fdflags::RSYNC] {
        assert_eq!(t.open(b"x", oflags::CREAT, RW, sync as u32), Err(errno::NOTSUP));
    }
    assert_eq!(t.open(b"x", 0x10, RW, 0), Err(errno::INVAL), "unknown oflag");
    assert_eq!(t.open(b"x", oflags::CREAT, 1 << 30, 0), Err(errno::INVAL), "unknown right");
    assert_eq!(t.open(b"x", oflags::CREAT, RW, 0x20), Err(errno::INVAL), "unknown fdflag");
    let (p, l) = t.data(b"x");
    let out = t.alloc(4);
    assert_eq!(t.call(|h, cx, m| path_open(h, cx, m, 3, 2, p, l, oflags::CREAT, RW, RW, 0, out)), errno::INVAL, "lookupflags");
    assert_eq!(t.call(|h, cx, m| path_open(h, cx, m, 3, 0, p, l, oflags::CREAT, RW, RW, 0, MEM as u32)), errno::FAULT);
    assert!(t.host.last_open.is_none(), "nothing reached the platform");
    assert!(!t.dir.exists("x"));
}

#[test]
fn path_open_through_non_directories() {
    let mut t = T::new();
    t.dir.write("f", b"");
    let f = t.open(b"f", 0, RW, 0).unwrap();
    assert_eq!(t.open_in(f, b"x", 0, RW, 0), Err(errno::NOTDIR), "a file");
    assert_eq!(t.open_in(1, b"x", 0, RW, 0), Err(errno::BADF), "a stream");
    assert_eq!(t.open_in(42, b"x", 0, RW, 0), Err(errno::BADF), "not open");
    // The other path functions answer BADF for a file, as wasmtime-wasi.
    assert_eq!(t.path1(path_create_directory, f, b"d"), errno::BADF);
    assert_eq!(t.path_stat(f, b"x", true), Err(errno::BADF));
}

#[test]
fn directories_open_as_directories() {
    let mut t = T::new();
    t.dir.mkdir("d/e");
    t.dir.write("d/e/file", b"deep");
    let d = t.open(b"d", 0, rights::FD_READ, 0).unwrap();
    assert_eq!(t.fdstat(d).unwrap().0, filetype::DIRECTORY, "no O_DIRECTORY needed");
    let f = t.open_in(d, b"e/file", 0, rights::FD_READ, 0).unwrap();
    assert_eq!(t.read(f, 10).unwrap(), b"deep");
    assert_eq!(t.read(d, 10), Err(errno::BADF), "fd_read on a directory");
    assert_eq!(t.write(d, b"x"), Err(errno::BADF));
    assert_eq!(t.open(b"d", 0, RW, 0), Err(errno::ISDIR), "a directory opened for writing");
    assert_eq!(t.open(b"d/e/file", oflags::DIRECTORY, rights::FD_READ, 0), Err(errno::NOTDIR));
    assert_eq!(t.open(b"d/e/file/", 0, rights::FD_READ, 0), Err(errno::NOTDIR), "trailing slash");
    assert_eq!(t.open(b"d/e/", oflags::DIRECTORY, rights::FD_READ, 0).map(|_| ()), Ok(()));
}

#[test]
fn paths_are_checked_before_the_platform_sees_them() {
    let mut t = T::new();
    t.dir.write("f", b"");
    assert_eq!(t.open(b"/etc/passwd", 0, rights::FD_READ, 0), Err(errno::ESCAPE), "absolute");
    assert_eq!(t.open(b"", 0, rights::FD_READ, 0), Err(errno::NOENT), "empty");
    assert_eq!(t.open(b"f\0x", 0, rights::FD_READ, 0), Err(errno::INVAL), "NUL");
    assert_eq!(t.open(b"\xff", 0, rights::FD_READ, 0), Err(errno::ILSEQ), "not UTF-8");
    assert!(t.host.last_open.is_none());
    assert_eq!(t.path1(path_create_directory, 3, b"/abs"), errno::ESCAPE);
    assert_eq!(t.path1(path_unlink_file, 3, b""), errno::NOENT);
    assert_eq!(t.path1(path_remove_directory, 3, b"a\0"), errno::INVAL);
    // Out of memory paths fault.
    let end = MEM as u32;
    assert_eq!(t.call(|h, cx, m| path_create_directory(h, cx, m, 3, end - 2, 3)), errno::FAULT);
    assert_eq!(t.call(|h, cx, m| path_create_directory(h, cx, m, 3, u32::MAX, 2)), errno::FAULT);
}

#[test]
fn escapes_are_notcapable_from_the_platform() {
    let mut t = T::new();
    t.dir.mkdir("d");
    assert_eq!(t.open(b"../x", oflags::CREAT, RW, 0), Err(errno::ESCAPE));
    assert_eq!(t.open(b"d/../../x", oflags::CREAT, RW, 0), Err(errno::ESCAPE));
    assert_eq!(t.open(b"d/../f", oflags::CREAT, RW, 0).map(|_| ()), Ok(()), "inside is fine");
    std::os::unix::fs::symlink("/etc", t.dir.path("abs")).unwrap();
    std::os::unix::fs::symlink("../..", t.dir.path("d/up")).unwrap();
    assert_eq!(t.open(b"abs/passwd", 0, rights::FD_READ, 0), Err(errno::ESCAPE));
    assert_eq!(t.open(b"d/up/x", 0, rights::FD_READ, 0), Err(errno::ESCAPE));
    let d = t.open(b"d", 0, rights::FD_READ, 0).unwrap();
    assert_eq!(t.open_in(d, b"../f", 0, rights::FD_READ, 0), Err(errno::ESCAPE), "beneath the opened dir");
}

#[test]
fn create_remove_and_unlink() {
    let mut t = T::new();
    assert_eq!(t.path1(path_create_directory, 3, b"d"), errno::SUCCESS);
    assert!(t.dir.path("d").is_dir());
    assert_eq!(t.path1(path_create_directory, 3, b"d/e/"), errno::SUCCESS, "a trailing slash is fine");
    assert_eq!(t.path1(path_remove_directory, 3, b"d/e"), errno::SUCCESS);
    assert_eq!(t.path1(path_remove_directory, 3, b"d"), errno::SUCCESS);
    t.dir.write("f", b"");
    assert_eq!(t.path1(path_unlink_file, 3, b"f/"), errno::NOTDIR);
    assert_eq!(t.path1(path_unlink_file, 3, b"f"), errno::SUCCESS);
    assert!(!t.dir.exists("f"));
    assert_eq!(t.path1(path_remove_directory, 1, b"x"), errno::BADF);
}

#[test]
fn filestat_by_path_follows_only_when_asked() {
    let mut t = T::new();
    t.dir.write("f", b"hello");
    std::os::unix::fs::symlink("f", t.dir.path("l")).unwrap();
    let st = t.path_stat(3, b"l", true).unwrap();
    assert_eq!((st.filetype, st.size), (filetype::REGULAR_FILE, 5));
    let st = t.path_stat(3, b"l", false).unwrap();
    assert_eq!((st.filetype, st.size), (filetype::SYMBOLIC_LINK, 1));
    assert_eq!(t.path_stat(3, b"missing", true), Err(errno::NOENT));
    let (p, l) = t.data(b"f");
    assert_eq!(t.call(|h, cx, m| path_filestat_get(h, cx, m, 3, 2, p, l, 0)), errno::INVAL, "lookupflags");
    assert_eq!(t.call(|h, cx, m| path_filestat_get(h, cx, m, 3, 0, p, l, MEM as u32 - 63)), errno::FAULT);
}

#[test]
fn path_set_times() {
    let mut t = T::new();
    t.dir.write("f", b"");
    let (p, l) = t.data(b"f");
    let when = 1_600_000_000_000_000_000;
    let set = fstflags::MTIM;
    assert_eq!(t.call(|h, cx, m| path_filestat_set_times(h, cx, m, 3, 1, p, l, 0, when, set)), errno::SUCCESS);
    assert_eq!(t.path_stat(3, b"f", true).unwrap().mtim, when);
    let both = fstflags::MTIM | fstflags::MTIM_NOW;
    assert_eq!(t.call(|h, cx, m| path_filestat_set_times(h, cx, m, 3, 1, p, l, 0, when, both)), errno::INVAL);
    assert_eq!(t.call(|h, cx, m| path_filestat_set_times(h, cx, m, 3, 4, p, l, 0, when, set)), errno::INVAL);
}

#[test]
fn symlinks_and_readlink() {
    let mut t = T::new();
    let sym = |t: &mut T, target: &[u8], at: &[u8]| {
        let (tp, tl) = t.data(target);
        let (p, l) = t.data(at);
        t.call(|h, cx, m| path_symlink(h, cx, m, tp, tl, 3, p, l))
    };
    assert_eq!(sym(&mut t, b"target/file", b"l"), errno::SUCCESS);
    assert_eq!(std::fs::read_link(t.dir.path("l")).unwrap().to_str(), Some("target/file"));
    assert_eq!(sym(&mut t, b"/etc/passwd", b"abs"), errno::ESCAPE);
    assert!(!t.dir.exists("abs"));
    assert_eq!(sym(&mut t, b"x", b"l"), errno::EXIST);
    assert_eq!(sym(&mut t, b"x", b"/abs"), errno::ESCAPE);

    let (p, l) = t.data(b"l");
    let buf = t.alloc(32);
    let used = t.alloc(4);
    t.put(buf, &[0xee; 32]);
    assert_eq!(t.call(|h, cx, m| path_readlink(h, cx, m, 3, p, l, buf, 32, used)), errno::SUCCESS);
    assert_eq!((t.u32(used), t.bytes(buf, 12)), (11, &b"target/file\xee"[..]));
    assert_eq!(t.call(|h, cx, m| path_readlink(h, cx, m, 3, p, l, buf, 4, used)), errno::SUCCESS);
    assert_eq!((t.u32(used), t.bytes(buf, 4)), (4, &b"targ"[..]), "cut to the buffer");
    assert_eq!(t.call(|h, cx, m| path_readlink(h, cx, m, 3, p, l, MEM as u32 - 2, 4, used)), errno::FAULT);

    std::os::unix::fs::symlink("/etc", t.dir.path("outside")).unwrap();
    let (p, l) = t.data(b"outside");
    assert_eq!(t.call(|h, cx, m| path_readlink(h, cx, m, 3, p, l, buf, 32, used)), errno::ESCAPE);
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(b"bad\xff"), t.dir.path("latin1")).unwrap();
    let (p, l) = t.data(b"latin1");
    assert_eq!(t.call(|h, cx, m| path_readlink(h, cx, m, 3, p, l, buf, 32, used)), errno::ILSEQ);
    t.dir.write("plain", b"");
    let (p, l) = t.data(b"plain");
    assert_eq!(t.call(|h, cx, m| path_readlink(h, cx, m, 3, p, l, buf, 32, used)), errno::INVAL);
}

/// A second preopen of another temporary directory, as fd 4.
fn second_preopen(t: &mut T) -> TempDir {
    let other = TempDir::new();
    let fd = t.cx.add_preopen(FakeFile::Dir { path: other.0.clone() }, b"/other".to_vec()).unwrap();
    assert_eq!(fd, 4);
    other
}

#[test]
fn rename_and_link_work_across_preopens() {
    let mut t = T::new();
    let other = second_preopen(&mut t);
    t.dir.write("f", b"moved");
    let (a, al) = t.data(b"f");
    let (b, bl) = t.data(b"g");
    assert_eq!(t.call(|h, cx, m| path_rename(h, cx, m, 3, a, al, 4, b, bl)), errno::SUCCESS);
    assert_eq!(other.read("g"), b"moved");
    assert!(!t.dir.exists("f"));
    assert_eq!(t.call(|h, cx, m| path_rename(h, cx, m, 3, a, al, 4, b, bl)), errno::NOENT);

    let (c, cl) = t.data(b"h");
    assert_eq!(t.call(|h, cx, m| path_link(h, cx, m, 4, 0, b, bl, 3, c, cl)), errno::SUCCESS);
    assert_eq!(t.dir.read("h"), b"moved");
    assert_eq!(t.path_stat(3, b"h", false).unwrap().nlink, 2);
    let (d, dl) = t.data(b"i");
    assert_eq!(
        t.call(|h, cx, m| path_link(h, cx, m, 4, lookupflags::SYMLINK_FOLLOW, b, bl, 3, d, dl)),
        errno::INVAL,
        "wasmtime-wasi refuses to follow"
    );
    assert_eq!(t.call(|h, cx, m| path_link(h, cx, m, 4, 0, b, bl, 1, d, dl)), errno::BADF);
    assert_eq!(t.call(|h, cx, m| path_rename(h, cx, m, 1, a, al, 4, b, bl)), errno::BADF);
    assert!(!t.dir.exists("i"));
}
