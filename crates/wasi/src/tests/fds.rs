//! Data transfer, metadata and the fd table.

use super::*;

#[test]
fn fd_write_gathers_iovecs_and_reports_the_count() {
    let mut t = T::new();
    let a = t.data(b"hello");
    let b = t.data(b" world");
    let (iovs, n) = t.iovs(&[a, (0, 0), b]);
    let out = t.alloc(4);
    assert_eq!(t.call(|h, cx, m| fd_write(h, cx, m, 1, iovs, n, out)), errno::SUCCESS);
    assert_eq!(t.u32(out), 11);
    assert_eq!(t.stdout.borrow().iter().copied().collect::<Vec<u8>>(), b"hello world");
    assert_eq!(t.write(2, b"err"), Ok(3));
    assert_eq!(t.stderr.borrow().len(), 3);
}

#[test]
fn fd_write_stops_at_a_short_write() {
    let mut t = T::new();
    t.host.write_limit = Some(3);
    let a = t.data(b"12345678");
    let b = t.data(b"abcdefgh");
    let (iovs, n) = t.iovs(&[a, b]);
    let out = t.alloc(4);
    assert_eq!(t.call(|h, cx, m| fd_write(h, cx, m, 1, iovs, n, out)), errno::SUCCESS);
    assert_eq!(t.u32(out), 3);
    assert_eq!(t.stdout.borrow().len(), 3, "the second buffer is not written");
}

#[test]
fn every_iovec_is_checked_before_any_data_moves() {
    let mut t = T::new();
    let a = t.data(b"abcd");
    let (iovs, n) = t.iovs(&[a, (MEM as u32 - 4, 8)]);
    let out = t.alloc(4);
    assert_eq!(t.call(|h, cx, m| fd_write(h, cx, m, 1, iovs, n, out)), errno::FAULT);
    assert!(t.stdout.borrow().is_empty());
    assert_eq!(t.call(|h, cx, m| fd_write(h, cx, m, 1, iovs, u32::MAX, out)), errno::FAULT, "array size overflows");
    assert_eq!(t.call(|h, cx, m| fd_write(h, cx, m, 1, iovs, 1, MEM as u32)), errno::FAULT, "result pointer");
    assert!(t.stdout.borrow().is_empty());
    assert_eq!(t.call(|h, cx, m| fd_write(h, cx, m, 9, iovs, 1, out)), errno::BADF);
}

#[test]
fn streams_go_one_way_and_do_not_seek() {
    let mut t = T::new();
    t.stdin.borrow_mut().extend(b"abcdef");
    let buf1 = t.alloc(4);
    let buf2 = t.alloc(8);
    let (iovs, n) = t.iovs(&[(buf1, 4), (buf2, 8)]);
    let out = t.alloc(8);
    assert_eq!(t.call(|h, cx, m| fd_read(h, cx, m, 0, iovs, n, out)), errno::SUCCESS);
    assert_eq!(t.u32(out), 6);
    assert_eq!(t.bytes(buf1, 4), b"abcd");
    assert_eq!(t.bytes(buf2, 2), b"ef");
    assert_eq!(t.read(1, 4), Err(errno::BADF), "stdout is not readable");
    assert_eq!(t.write(0, b"x"), Err(errno::BADF), "stdin is not writable");
    assert_eq!(t.call(|h, cx, m| fd_seek(h, cx, m, 0, 0, whence::CUR, out)), errno::SPIPE);
    assert_eq!(t.call(|h, cx, m| fd_tell(h, cx, m, 1, out)), errno::SPIPE);
    assert_eq!(t.call(|h, cx, m| fd_pread(h, cx, m, 0, iovs, n, 0, out)), errno::SPIPE);
    assert_eq!(t.call(|h, cx, m| fd_pread(h, cx, m, 1, iovs, n, 0, out)), errno::BADF);
    assert_eq!(t.call(|h, cx, m| fd_pwrite(h, cx, m, 1, iovs, n, 0, out)), errno::SPIPE);
    assert_eq!(t.call(|h, cx, m| fd_pwrite(h, cx, m, 0, iovs, n, 0, out)), errno::BADF);
    assert_eq!(t.call(|h, cx, m| fd_fdstat_set_flags(h, cx, m, 1, 0)), errno::BADF);
    assert_eq!(t.call(|h, cx, m| fd_filestat_set_times(h, cx, m, 1, 0, 0, 0)), errno::BADF);
    assert_eq!(t.call(|h, cx, m| fd_sync(h, cx, m, 1)), errno::BADF);
}

#[test]
fn fdstat_reports_what_wasmtime_wasi_reports() {
    let mut t = T::new();
    assert_eq!(t.fdstat(0), Ok((filetype::UNKNOWN, 0, rights::FD_READ, rights::FD_READ)));
    assert_eq!(t.fdstat(1), Ok((filetype::CHARACTER_DEVICE, 0, rights::FD_WRITE, rights::FD_WRITE)));
    assert_eq!(t.fdstat(3), Ok((filetype::DIRECTORY, 0, rights::PREOPEN_BASE, rights::PREOPEN_INHERITING)));
    let bits = |b: &[u32]| b.iter().fold(0u64, |r, &i| r | 1 << i);
    let base = bits(&[9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 23, 24, 25, 26]);
    assert_eq!(rights::PREOPEN_BASE, base, "wasmtime-wasi's hard-coded set");
    assert_eq!(rights::PREOPEN_INHERITING, base | bits(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 22, 27]));

    t.dir.write("f", b"data");
    let ro = t.open(b"f", 0, rights::FD_READ, 0).unwrap();
    let wo = t.open(b"f", 0, rights::FD_WRITE, fdflags::APPEND as u32).unwrap();
    let rw = t.open(b"f", 0, RW, 0).unwrap();
    assert_eq!(t.fdstat(ro), Ok((filetype::REGULAR_FILE, 0, rights::ALL & !rights::FD_WRITE, rights::ALL & !rights::FD_WRITE)));
    let no_read = rights::ALL & !(rights::FD_READ | rights::FD_READDIR);
    assert_eq!(t.fdstat(wo), Ok((filetype::REGULAR_FILE, fdflags::APPEND, no_read, no_read)));
    assert_eq!(t.fdstat(rw).unwrap().2, rights::ALL);

    t.dir.mkdir("d");
    let d = t.open(b"d", oflags::DIRECTORY, rights::FD_READ, 0).unwrap();
    let dir_rights = rights::ALL
        & !(rights::FD_SEEK | rights::FD_FILESTAT_SET_SIZE | rights::PATH_FILESTAT_SET_SIZE | rights::FD_WRITE);
    assert_eq!(t.fdstat(d), Ok((filetype::DIRECTORY, 0, dir_rights, dir_rights)));
    assert_eq!(t.fdstat(99), Err(errno::BADF));
}

#[test]
fn prestat_names_the_preopens_only() {
    let mut t = T::new();
    let at = t.alloc(8);
    t.put(at, &[0xff; 8]);
    assert_eq!(t.call(|h, cx, m| fd_prestat_get(h, cx, m, 3, at)), errno::SUCCESS);
    assert_eq!(t.bytes(at, 8), [0, 0, 0, 0, 8, 0, 0, 0], "tag 0 (dir), padding zeroed, name_len 8");
    let name = t.alloc(16);
    t.put(name, &[0xee; 16]);
    assert_eq!(t.call(|h, cx, m| fd_prestat_dir_name(h, cx, m, 3, name, 7)), errno::NAMETOOLONG);
    assert_eq!(t.call(|h, cx, m| fd_prestat_dir_name(h, cx, m, 3, name, 16)), errno::SUCCESS);
    assert_eq!(t.bytes(name, 9), b"/sandbox\xee", "no NUL, nothing past the name");
    assert_eq!(t.call(|h, cx, m| fd_prestat_dir_name(h, cx, m, 3, MEM as u32 - 4, 16)), errno::FAULT);

    assert_eq!(t.call(|h, cx, m| fd_prestat_get(h, cx, m, 1, at)), errno::BADF);
    assert_eq!(t.call(|h, cx, m| fd_prestat_get(h, cx, m, 4, at)), errno::BADF);
    assert_eq!(t.call(|h, cx, m| fd_prestat_dir_name(h, cx, m, 1, name, 16)), errno::NOTDIR);
    assert_eq!(t.call(|h, cx, m| fd_prestat_dir_name(h, cx, m, 4, name, 16)), errno::BADF);
    t.dir.mkdir("d");
    let d = t.open(b"d", oflags::DIRECTORY, rights::FD_READ, 0).unwrap();
    assert_eq!(t.call(|h, cx, m| fd_prestat_get(h, cx, m, d, at)), errno::BADF, "opened, not preopened");
}

#[test]
fn preopens_and_sockets_number_from_three_in_order() {
    let mut cx: Wasi<u32> = Wasi::new(StringList::from_packed(Vec::new(), 0).unwrap(), StringList::from_packed(Vec::new(), 0).unwrap());
    assert_eq!(cx.set_stdio(3, 0, 0), Err(errno::INVAL));
    assert_eq!(cx.add_preopen(10, b"/a".to_vec()), Ok(3), "numbered from 3 even without stdio");
    cx.set_stdio(0, 1, 0).unwrap();
    cx.set_stdio(1, 2, 0).unwrap();
    cx.set_stdio(2, 3, 0).unwrap();
    assert_eq!(cx.add_preopen(11, b"/b".to_vec()), Ok(4));
    assert_eq!(cx.add_socket(12, filetype::SOCKET_STREAM), Ok(5));
    assert_eq!(cx.file(4), Some(&11));
    assert_eq!(cx.open_fds(), 6);
}

#[test]
fn fd_numbers_are_reused_like_wasmtime_wasi() {
    let mut t = T::new();
    t.dir.write("f", b"");
    let a = t.open(b"f", 0, RW, 0).unwrap();
    let b = t.open(b"f", 0, RW, 0).unwrap();
    let c = t.open(b"f", 0, RW, 0).unwrap();
    assert_eq!((a, b, c), (4, 5, 6));
    assert_eq!(t.call(|h, cx, m| fd_close(h, cx, m, a)), errno::SUCCESS);
    assert_eq!(t.call(|h, cx, m| fd_close(h, cx, m, b)), errno::SUCCESS);
    assert_eq!(t.call(|h, cx, m| fd_close(h, cx, m, b)), errno::BADF, "closed twice");
    // The highest freed number first, then the next lower.
    assert_eq!(t.open(b"f", 0, RW, 0), Ok(5));
    assert_eq!(t.open(b"f", 0, RW, 0), Ok(4));
    assert_eq!(t.open(b"f", 0, RW, 0), Ok(7));
}

#[test]
fn closing_drops_the_platform_file_and_preopens_can_close() {
    let mut t = T::new();
    assert_eq!(Rc::strong_count(&t.stdout), 2);
    assert_eq!(t.call(|h, cx, m| fd_close(h, cx, m, 1)), errno::SUCCESS);
    assert_eq!(Rc::strong_count(&t.stdout), 1, "the host file was dropped");
    assert_eq!(t.write(1, b"x"), Err(errno::BADF));
    assert_eq!(t.call(|h, cx, m| fd_close(h, cx, m, 3)), errno::SUCCESS);
    assert_eq!(t.open(b"f", oflags::CREAT, RW, 0), Err(errno::BADF));
    t.dir.write("g", b"");
    assert_eq!(t.open_in(3, b"g", 0, RW, 0), Err(errno::BADF));
}

#[test]
fn renumber_moves_and_closes_the_target() {
    let mut t = T::new();
    t.dir.write("f", b"from f");
    let f = t.open(b"f", 0, RW, 0).unwrap();
    assert_eq!(f, 4);
    assert_eq!(t.call(|h, cx, m| fd_renumber(h, cx, m, f, 9)), errno::BADF, "target not open");
    assert_eq!(t.call(|h, cx, m| fd_renumber(h, cx, m, 9, 1)), errno::BADF, "source not open");
    assert_eq!(t.call(|h, cx, m| fd_renumber(h, cx, m, f, f)), errno::SUCCESS);
    assert_eq!(t.call(|h, cx, m| fd_renumber(h, cx, m, f, 1)), errno::SUCCESS);
    assert_eq!(Rc::strong_count(&t.stdout), 1, "old fd 1 closed");
    assert_eq!(t.read(1, 6).unwrap(), b"from f");
    assert_eq!(t.fdstat(4), Err(errno::BADF));
    assert_eq!(t.open(b"f", 0, RW, 0), Ok(4), "the source's number is free again");
}

#[test]
fn the_fd_limit_is_mfile_and_closes_what_was_opened() {
    let mut t = T::new();
    t.dir.write("f", b"");
    t.cx.set_fd_limit(5);
    assert_eq!(t.open(b"f", 0, RW, 0), Ok(4));
    assert_eq!(t.open(b"f", 0, RW, 0), Err(errno::MFILE));
    assert_eq!(t.cx.open_fds(), 5);
}

#[test]
fn files_read_write_seek_and_tell() {
    let mut t = T::new();
    let f = t.open(b"f", oflags::CREAT, RW, 0).unwrap();
    assert_eq!(t.write(f, b"0123456789"), Ok(10));
    let out = t.alloc(8);
    assert_eq!(t.call(|h, cx, m| fd_tell(h, cx, m, f, out)), errno::SUCCESS);
    assert_eq!(t.u64(out), 10);
    assert_eq!(t.call(|h, cx, m| fd_seek(h, cx, m, f, -4, whence::END, out)), errno::SUCCESS);
    assert_eq!(t.u64(out), 6);
    assert_eq!(t.read(f, 100).unwrap(), b"6789");
    assert_eq!(t.call(|h, cx, m| fd_seek(h, cx, m, f, 2, whence::SET, out)), errno::SUCCESS);
    assert_eq!(t.call(|h, cx, m| fd_seek(h, cx, m, f, 1, whence::CUR, out)), errno::SUCCESS);
    assert_eq!(t.u64(out), 3);
    assert_eq!(t.call(|h, cx, m| fd_seek(h, cx, m, f, -1, whence::SET, out)), errno::INVAL);
    assert_eq!(t.call(|h, cx, m| fd_seek(h, cx, m, f, 0, 3, out)), errno::INVAL, "bad whence");
    assert_eq!(t.call(|h, cx, m| fd_seek(h, cx, m, f, 0, whence::SET, MEM as u32 - 7)), errno::FAULT);
    assert_eq!(t.call(|h, cx, m| fd_seek(h, cx, m, 3, 0, whence::SET, out)), errno::BADF, "a directory");
    assert_eq!(t.dir.read("f"), b"0123456789");
}

#[test]
fn pread_and_pwrite_leave_the_position_and_append_goes_to_the_end() {
    let mut t = T::new();
    t.dir.write("f", b"abcdefgh");
    let f = t.open(b"f", 0, RW, 0).unwrap();
    let b1 = t.alloc(2);
    let b2 = t.alloc(3);
    let (iovs, n) = t.iovs(&[(b1, 2), (b2, 3)]);
    let out = t.alloc(4);
    assert_eq!(t.call(|h, cx, m| fd_pread(h, cx, m, f, iovs, n, 3, out)), errno::SUCCESS);
    assert_eq!((t.u32(out), t.bytes(b1, 2), t.bytes(b2, 3)), (5, &b"de"[..], &b"fgh"[..]));
    assert_eq!(t.call(|h, cx, m| fd_pread(h, cx, m, f, iovs, n, 7, out)), errno::SUCCESS);
    assert_eq!(t.u32(out), 1, "stops at the end of the file");
    let d = t.data(b"XY");
    let (iovs, n) = t.iovs(&[d]);
    assert_eq!(t.call(|h, cx, m| fd_pwrite(h, cx, m, f, iovs, n, 1, out)), errno::SUCCESS);
    assert_eq!(t.dir.read("f"), b"aXYdefgh");
    assert_eq!(t.read(f, 3).unwrap(), b"aXY", "the position did not move");

    let a = t.open(b"f", 0, rights::FD_WRITE, fdflags::APPEND as u32).unwrap();
    assert_eq!(t.call(|h, cx, m| fd_pwrite(h, cx, m, a, iovs, n, 0, out)), errno::SUCCESS);
    assert_eq!(t.dir.read("f"), b"aXYdefghXY", "pwrite on an APPEND file appends (Linux)");
    assert_eq!(t.call(|h, cx, m| fd_pread(h, cx, m, 3, iovs, n, 0, out)), errno::BADF, "a directory");
}

#[test]
fn fdstat_set_flags_changes_append_and_nonblock_only() {
    let mut t = T::new();
    t.dir.write("f", b"ab");
    let f = t.open(b"f", 0, RW, 0).unwrap();
    assert_eq!(t.call(|h, cx, m| fd_fdstat_set_flags(h, cx, m, f, fdflags::APPEND as u32)), errno::SUCCESS);
    assert_eq!(t.fdstat(f).unwrap().1, fdflags::APPEND);
    assert_eq!(t.write(f, b"c"), Ok(1));
    assert_eq!(t.dir.read("f"), b"abc");
    for bad in [fdflags::SYNC as u32, fdflags::DSYNC as u32, fdflags::RSYNC as u32, 0x20, 0x10000] {
        assert_eq!(t.call(|h, cx, m| fd_fdstat_set_flags(h, cx, m, f, bad)), errno::INVAL, "{bad:#x}");
    }
    assert_eq!(t.call(|h, cx, m| fd_fdstat_set_flags(h, cx, m, 3, 0)), errno::BADF, "a directory");
    assert_eq!(t.call(|h, cx, m| fd_fdstat_set_flags(h, cx, m, f, fdflags::NONBLOCK as u32)), errno::SUCCESS);
    assert_eq!(t.fdstat(f).unwrap().1, fdflags::NONBLOCK);
}

#[test]
fn set_rights_narrows_enforces_and_never_widens() {
    let mut t = T::new();
    t.dir.write("f", b"abc");
    let f = t.open(b"f", 0, RW, 0).unwrap();
    let keep = rights::FD_READ | rights::FD_SEEK;
    assert_eq!(t.call(|h, cx, m| fd_fdstat_set_rights(h, cx, m, f, keep, 0)), errno::SUCCESS);
    assert_eq!(t.fdstat(f).unwrap().2, keep);
    assert_eq!(t.write(f, b"x"), Err(errno::NOTCAPABLE));
    assert_eq!(t.read(f, 3).unwrap(), b"abc");
    let out = t.alloc(8);
    assert_eq!(t.call(|h, cx, m| fd_tell(h, cx, m, f, out)), errno::NOTCAPABLE);
    assert_eq!(t.call(|h, cx, m| fd_fdstat_set_rights(h, cx, m, f, keep | rights::FD_WRITE, 0)), errno::NOTCAPABLE);
    assert_eq!(t.call(|h, cx, m| fd_fdstat_set_rights(h, cx, m, f, keep, 1)), errno::NOTCAPABLE, "inheriting too");
    assert_eq!(t.call(|h, cx, m| fd_fdstat_set_rights(h, cx, m, f, 1 << 30, 0)), errno::INVAL);
    assert_eq!(t.call(|h, cx, m| fd_fdstat_set_rights(h, cx, m, 77, 0, 0)), errno::BADF);

    // A directory narrowed: its path rights are enforced, but what it opens
    // gets the rights of its open mode (wasmtime-wasi's), not the
    // directory's inheriting rights.
    let dir_keep = rights::PATH_OPEN | rights::FD_READDIR;
    let inherit = rights::FD_READ;
    assert_eq!(t.call(|h, cx, m| fd_fdstat_set_rights(h, cx, m, 3, dir_keep, inherit)), errno::SUCCESS);
    assert_eq!(t.path1(path_create_directory, 3, b"d"), errno::NOTCAPABLE);
    assert_eq!(t.open(b"new", oflags::CREAT, RW, 0), Err(errno::NOTCAPABLE), "needs PATH_CREATE_FILE");
    let g = t.open(b"f", 0, RW, 0).unwrap();
    assert_eq!(t.fdstat(g).unwrap().2, rights::ALL);
    assert_eq!(t.write(g, b"x"), Ok(1));
    assert_eq!(t.dir.read("f"), b"xbc");
}

#[test]
fn filestat_layout_and_streams() {
    let mut t = T::new();
    t.dir.write("f", b"12345");
    let f = t.open(b"f", 0, rights::FD_READ, 0).unwrap();
    let at = t.alloc(64);
    t.put(at, &[0xff; 64]);
    assert_eq!(t.call(|h, cx, m| fd_filestat_get(h, cx, m, f, at)), errno::SUCCESS);
    let md = std::fs::metadata(t.dir.path("f")).unwrap();
    use std::os::unix::fs::MetadataExt;
    let st = t.filestat_at(at);
    assert_eq!((st.dev, st.ino, st.filetype, st.nlink, st.size), (md.dev(), md.ino(), filetype::REGULAR_FILE, 1, 5));
    assert_eq!(st.mtim, md.mtime() as u64 * 1_000_000_000 + md.mtime_nsec() as u64);
    assert_eq!(t.bytes(at + 17, 7), [0; 7], "padding after filetype is zeroed");

    assert_eq!(t.call(|h, cx, m| fd_filestat_get(h, cx, m, 1, at)), errno::SUCCESS);
    assert_eq!(t.filestat_at(at), FileStat { filetype: filetype::CHARACTER_DEVICE, ..FileStat::default() });
    assert_eq!(t.call(|h, cx, m| fd_filestat_get(h, cx, m, 3, at)), errno::SUCCESS);
    assert_eq!(t.u8(at + 16), filetype::DIRECTORY);
}

#[test]
fn size_allocate_sync_and_advise_apply_to_files_only() {
    let mut t = T::new();
    let f = t.open(b"f", oflags::CREAT, RW, 0).unwrap();
    assert_eq!(t.call(|h, cx, m| fd_filestat_set_size(h, cx, m, f, 100)), errno::SUCCESS);
    assert_eq!(t.dir.read("f").len(), 100);
    assert_eq!(t.call(|h, cx, m| fd_allocate(h, cx, m, f, 50, 100)), errno::SUCCESS);
    assert_eq!(t.dir.read("f").len(), 150, "posix_fallocate grows the file");
    assert_eq!(t.call(|h, cx, m| fd_allocate(h, cx, m, f, 0, 10)), errno::SUCCESS);
    assert_eq!(t.dir.read("f").len(), 150, "and never shrinks it");
    assert_eq!(t.call(|h, cx, m| fd_datasync(h, cx, m, f)), errno::SUCCESS);
    assert_eq!(t.call(|h, cx, m| fd_sync(h, cx, m, f)), errno::SUCCESS);
    assert_eq!(t.call(|h, cx, m| fd_advise(h, cx, m, f, 0, 0, advice::DONTNEED as u32)), errno::SUCCESS);
    assert_eq!(t.call(|h, cx, m| fd_advise(h, cx, m, f, 0, 0, 6)), errno::INVAL);
    for fd in [1, 3] {
        assert_eq!(t.call(|h, cx, m| fd_filestat_set_size(h, cx, m, fd, 0)), errno::BADF);
        assert_eq!(t.call(|h, cx, m| fd_allocate(h, cx, m, fd, 0, 1)), errno::BADF);
        assert_eq!(t.call(|h, cx, m| fd_datasync(h, cx, m, fd)), errno::BADF);
        assert_eq!(t.call(|h, cx, m| fd_advise(h, cx, m, fd, 0, 0, 0)), errno::BADF);
    }
}

#[test]
fn set_times_validates_fstflags_first() {
    let mut t = T::new();
    t.dir.write("f", b"");
    let f = t.open(b"f", 0, RW, 0).unwrap();
    let when = 1_000_000_000 * 1_000_000 + 123;
    assert_eq!(
        t.call(|h, cx, m| fd_filestat_set_times(h, cx, m, f, when, when + 1, fstflags::ATIM | fstflags::MTIM)),
        errno::SUCCESS
    );
    let st = t.path_stat(3, b"f", true).unwrap();
    assert_eq!((st.atim, st.mtim), (when, when + 1));
    // Omitted times stay.
    assert_eq!(t.call(|h, cx, m| fd_filestat_set_times(h, cx, m, f, 5, 0, fstflags::ATIM)), errno::SUCCESS);
    assert_eq!(t.path_stat(3, b"f", true).unwrap().mtim, when + 1);
    for bad in [fstflags::ATIM | fstflags::ATIM_NOW, fstflags::MTIM | fstflags::MTIM_NOW, 0x10] {
        assert_eq!(t.call(|h, cx, m| fd_filestat_set_times(h, cx, m, f, 0, 0, bad)), errno::INVAL);
        assert_eq!(t.call(|h, cx, m| fd_filestat_set_times(h, cx, m, 99, 0, 0, bad)), errno::INVAL, "before the fd");
    }
    assert_eq!(t.call(|h, cx, m| fd_filestat_set_times(h, cx, m, 3, 0, 0, fstflags::MTIM_NOW)), errno::SUCCESS);
}
