//! The `fd_*` functions: data, metadata and the fd table.

use crate::errno::{self, Errno};
use crate::fdtable::{Entry, Kind, Resume};
use crate::{fdflags, filetype, fstflags, result, rights, DirEntry, FileStat, GuestMemory, Host, SetTime, Wasi, Whence};

/// The `i`-th (offset, length) pair of an iovec array whose size
/// [`check_iovecs`] accepted; the buffer itself is checked too.
pub(crate) fn iovec(mem: &GuestMemory<'_>, iovs: u32, i: u32) -> Result<(u32, u32), Errno> {
    let at = i.checked_mul(8).and_then(|o| iovs.checked_add(o)).ok_or(errno::FAULT)?;
    let base = mem.read_u32(at)?;
    let len = mem.read_u32(at.checked_add(4).ok_or(errno::FAULT)?)?;
    mem.check(base, len)?;
    Ok((base, len))
}

/// Checks an iovec array and every buffer it names against memory,
/// before any data moves (no allocation: the array is read again as the
/// data moves, each buffer checked again then).
pub(crate) fn check_iovecs(mem: &GuestMemory<'_>, iovs: u32, count: u32) -> Result<(), Errno> {
    mem.check(iovs, count.checked_mul(8).ok_or(errno::FAULT)?)?;
    (0..count).try_for_each(|i| iovec(mem, iovs, i).map(drop))
}

/// Moves data through an iovec array in order, one `op(memory, base, len)`
/// per non-empty buffer, and stops at the first short transfer, so a call
/// never blocks again once it has moved data. An error after some data
/// moved ends the call with what moved (the error shows on the next call).
/// The total goes to `done_ptr`.
pub(crate) fn transfer(
    mem: &mut GuestMemory<'_>,
    iovs: u32,
    count: u32,
    done_ptr: u32,
    mut op: impl FnMut(&mut GuestMemory<'_>, u32, u32) -> Result<usize, Errno>,
) -> Result<(), Errno> {
    mem.check(done_ptr, 4)?;
    check_iovecs(mem, iovs, count)?;
    let mut total: u32 = 0;
    for i in 0..count {
        let (base, len) = iovec(mem, iovs, i)?;
        if len == 0 {
            continue;
        }
        let done = match op(mem, base, len) {
            // A platform never moves more than asked; clamp anyway.
            Ok(n) => (n.min(len as usize)) as u32,
            Err(_) if total > 0 => break,
            Err(e) => return Err(e),
        };
        total = total.checked_add(done).ok_or(errno::OVERFLOW)?;
        if done < len {
            break;
        }
    }
    mem.write_u32(done_ptr, total)
}

/// `filestat` (64 bytes): dev u64 @0, ino u64 @8, filetype u8 @16,
/// nlink u64 @24, size u64 @32, atim @40, mtim @48, ctim @56.
pub(crate) fn write_filestat(mem: &mut GuestMemory<'_>, ptr: u32, s: &FileStat) -> Result<(), Errno> {
    let mut raw = [0u8; 64];
    raw[0..8].copy_from_slice(&s.dev.to_le_bytes());
    raw[8..16].copy_from_slice(&s.ino.to_le_bytes());
    raw[16] = s.filetype;
    raw[24..32].copy_from_slice(&s.nlink.to_le_bytes());
    raw[32..40].copy_from_slice(&s.size.to_le_bytes());
    raw[40..48].copy_from_slice(&s.atim.to_le_bytes());
    raw[48..56].copy_from_slice(&s.mtim.to_le_bytes());
    raw[56..64].copy_from_slice(&s.ctim.to_le_bytes());
    mem.write_bytes(ptr, &raw)
}

/// Decodes `fstflags` into the two times; setting a time and "now" at
/// once is INVAL, as is any unknown bit.
pub(crate) fn set_times(atim: u64, mtim: u64, flags: u32) -> Result<(SetTime, SetTime), Errno> {
    if flags & !fstflags::ALL != 0 {
        return Err(errno::INVAL);
    }
    let one = |t: u64, set: u32, now: u32| match (flags & set != 0, flags & now != 0) {
        (true, true) => Err(errno::INVAL),
        (true, false) => Ok(SetTime::At(t)),
        (false, true) => Ok(SetTime::Now),
        (false, false) => Ok(SetTime::Omit),
    };
    Ok((one(atim, fstflags::ATIM, fstflags::ATIM_NOW)?, one(mtim, fstflags::MTIM, fstflags::MTIM_NOW)?))
}

/// The fd if it is a file opened by path (wasmtime-wasi's `get_file`);
/// anything else is BADF.
fn file<F>(cx: &Wasi<F>, fd: u32) -> Result<&Entry<F>, Errno> {
    let e = cx.fds.get(fd)?;
    match e.kind {
        Kind::File => Ok(e),
        _ => Err(errno::BADF),
    }
}

/// The fd if `fd_seek`/`fd_tell`/`fd_pread`/`fd_pwrite` apply: a stream
/// is SPIPE, a directory BADF.
fn seekable<F>(cx: &Wasi<F>, fd: u32) -> Result<&Entry<F>, Errno> {
    let e = cx.fds.get(fd)?;
    match e.kind {
        Kind::File | Kind::Socket => Ok(e),
        Kind::Stdio { .. } => Err(errno::SPIPE),
        Kind::Dir { .. } => Err(errno::BADF),
    }
}

/// `fd_read(fd, iovs: *const iovec, iovs_len, nread: *mut u32)`
pub fn fd_read<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    nread: u32,
) -> Errno {
    result((|| {
        let e = cx.fds.get(fd)?;
        match e.kind {
            Kind::Stdio { input: true } | Kind::File | Kind::Socket => {}
            _ => return Err(errno::BADF),
        }
        e.require(rights::FD_READ)?;
        transfer(mem, iovs, iovs_len, nread, |m, base, len| host.read(&e.file, m.slice_mut(base, len)?))
    })())
}

/// `fd_write(fd, iovs: *const ciovec, iovs_len, nwritten: *mut u32)`
pub fn fd_write<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    nwritten: u32,
) -> Errno {
    result((|| {
        let e = cx.fds.get(fd)?;
        match e.kind {
            Kind::Stdio { input: false } | Kind::File | Kind::Socket => {}
            _ => return Err(errno::BADF),
        }
        e.require(rights::FD_WRITE)?;
        transfer(mem, iovs, iovs_len, nwritten, |m, base, len| host.write(&e.file, m.slice(base, len)?))
    })())
}

/// `fd_pread(fd, iovs, iovs_len, offset: u64, nread: *mut u32)`
pub fn fd_pread<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    offset: u64,
    nread: u32,
) -> Errno {
    result((|| {
        let e = match cx.fds.get(fd)?.kind {
            Kind::Stdio { input: false } => return Err(errno::BADF),
            _ => seekable(cx, fd)?,
        };
        e.require(rights::FD_READ | rights::FD_SEEK)?;
        let mut at = offset;
        transfer(mem, iovs, iovs_len, nread, |m, base, len| {
            let n = host.pread(&e.file, m.slice_mut(base, len)?, at)?;
            at = at.checked_add(n as u64).ok_or(errno::OVERFLOW)?;
            Ok(n)
        })
    })())
}

/// `fd_pwrite(fd, iovs, iovs_len, offset: u64, nwritten: *mut u32)`. On a
/// file opened with APPEND the data goes to the end, as Linux `pwrite`
/// does (and wasmtime-wasi copies).
pub fn fd_pwrite<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    iovs_len: u32,
    offset: u64,
    nwritten: u32,
) -> Errno {
    result((|| {
        let e = match cx.fds.get(fd)?.kind {
            Kind::Stdio { input: true } => return Err(errno::BADF),
            _ => seekable(cx, fd)?,
        };
        e.require(rights::FD_WRITE | rights::FD_SEEK)?;
        let mut at = offset;
        transfer(mem, iovs, iovs_len, nwritten, |m, base, len| {
            let n = host.pwrite(&e.file, m.slice(base, len)?, at)?;
            at = at.checked_add(n as u64).ok_or(errno::OVERFLOW)?;
            Ok(n)
        })
    })())
}

/// `fd_seek(fd, offset: i64, whence, newoffset: *mut u64)`
pub fn fd_seek<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    offset: i64,
    whence: u32,
    newoffset: u32,
) -> Errno {
    result((|| {
        let whence = match whence {
            crate::whence::SET => Whence::Set,
            crate::whence::CUR => Whence::Cur,
            crate::whence::END => Whence::End,
            _ => return Err(errno::INVAL),
        };
        let e = seekable(cx, fd)?;
        e.require(rights::FD_SEEK)?;
        mem.check(newoffset, 8)?;
        let pos = host.seek(&e.file, offset, whence)?;
        mem.write_u64(newoffset, pos)
    })())
}

/// `fd_tell(fd, offset: *mut u64)`
pub fn fd_tell<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    offset: u32,
) -> Errno {
    result((|| {
        let e = seekable(cx, fd)?;
        e.require(rights::FD_TELL)?;
        mem.check(offset, 8)?;
        let pos = host.seek(&e.file, 0, Whence::Cur)?;
        mem.write_u64(offset, pos)
    })())
}

/// `fd_advise(fd, offset: u64, len: u64, advice)`
pub fn fd_advise<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    offset: u64,
    len: u64,
    advice: u32,
) -> Errno {
    result((|| {
        if advice > crate::advice::NOREUSE as u32 {
            return Err(errno::INVAL);
        }
        let e = file(cx, fd)?;
        e.require(rights::FD_ADVISE)?;
        host.advise(&e.file, offset, len, advice as u8)
    })())
}

/// `fd_allocate(fd, offset: u64, len: u64)`: `posix_fallocate`.
pub fn fd_allocate<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    offset: u64,
    len: u64,
) -> Errno {
    result((|| {
        let e = file(cx, fd)?;
        e.require(rights::FD_ALLOCATE)?;
        host.allocate(&e.file, offset, len)
    })())
}

/// `fd_close(fd)`: any fd, preopens and standard streams included.
pub fn fd_close<H: Host + ?Sized>(
    _host: &mut H,
    cx: &mut Wasi<H::File>,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
) -> Errno {
    result(cx.fds.remove(fd).map(drop))
}

/// `fd_datasync(fd)`
pub fn fd_datasync<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
) -> Errno {
    result((|| {
        let e = file(cx, fd)?;
        e.require(rights::FD_DATASYNC)?;
        host.sync(&e.file, true)
    })())
}

/// `fd_sync(fd)`
pub fn fd_sync<H: Host + ?Sized>(host: &mut H, cx: &mut Wasi<H::File>, _mem: &mut GuestMemory<'_>, fd: u32) -> Errno {
    result((|| {
        let e = file(cx, fd)?;
        e.require(rights::FD_SYNC)?;
        host.sync(&e.file, false)
    })())
}

/// `fd_fdstat_get(fd, stat: *mut fdstat)`; the struct is 24 bytes:
/// filetype u8 @0, flags u16 @2, rights_base u64 @8, rights_inheriting u64 @16.
pub fn fd_fdstat_get<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    stat: u32,
) -> Errno {
    result((|| {
        let e = cx.fds.get(fd)?;
        mem.check(stat, 24)?;
        let flags = match e.kind {
            Kind::File | Kind::Socket => host.fdflags(&e.file)? & fdflags::ALL,
            Kind::Stdio { .. } | Kind::Dir { .. } => 0,
        };
        let mut raw = [0u8; 24];
        raw[0] = e.filetype;
        raw[2..4].copy_from_slice(&flags.to_le_bytes());
        raw[8..16].copy_from_slice(&e.base.to_le_bytes());
        raw[16..24].copy_from_slice(&e.inheriting.to_le_bytes());
        mem.write_bytes(stat, &raw)
    })())
}

/// `fd_fdstat_set_flags(fd, flags)`: only APPEND and NONBLOCK can change
/// (the sync flags are INVAL), and only on files and sockets.
pub fn fd_fdstat_set_flags<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    flags: u32,
) -> Errno {
    result((|| {
        let flags = u16::try_from(flags).map_err(|_| errno::INVAL)?;
        if flags & !fdflags::ALL != 0 {
            return Err(errno::INVAL);
        }
        let e = cx.fds.get(fd)?;
        if !matches!(e.kind, Kind::File | Kind::Socket) {
            return Err(errno::BADF);
        }
        if flags & (fdflags::DSYNC | fdflags::RSYNC | fdflags::SYNC) != 0 {
            return Err(errno::INVAL);
        }
        e.require(rights::FD_FDSTAT_SET_FLAGS)?;
        host.set_fdflags(&e.file, flags)
    })())
}

/// `fd_fdstat_set_rights(fd, base: u64, inheriting: u64)`: narrows the
/// fd's rights (from then on enforced); asking for a right it lacks is
/// NOTCAPABLE.
pub fn fd_fdstat_set_rights<H: Host + ?Sized>(
    _host: &mut H,
    cx: &mut Wasi<H::File>,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    base: u64,
    inheriting: u64,
) -> Errno {
    result((|| {
        if (base | inheriting) & !rights::ALL != 0 {
            return Err(errno::INVAL);
        }
        let e = cx.fds.get_mut(fd)?;
        if base & !e.base != 0 || inheriting & !e.inheriting != 0 {
            return Err(errno::NOTCAPABLE);
        }
        e.base = base;
        e.inheriting = inheriting;
        e.narrowed = true;
        Ok(())
    })())
}

/// `fd_filestat_get(fd, buf: *mut filestat)`; a standard stream reports
/// only its file type, as in wasmtime-wasi.
pub fn fd_filestat_get<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    buf: u32,
) -> Errno {
    result((|| {
        let e = cx.fds.get(fd)?;
        e.require(rights::FD_FILESTAT_GET)?;
        mem.check(buf, 64)?;
        let st = match e.kind {
            Kind::Stdio { .. } => FileStat { filetype: e.filetype, ..FileStat::default() },
            _ => host.stat(&e.file)?,
        };
        write_filestat(mem, buf, &st)
    })())
}

/// `fd_filestat_set_size(fd, size: u64)`
pub fn fd_filestat_set_size<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    size: u64,
) -> Errno {
    result((|| {
        let e = file(cx, fd)?;
        e.require(rights::FD_FILESTAT_SET_SIZE)?;
        host.set_size(&e.file, size)
    })())
}

/// `fd_filestat_set_times(fd, atim: u64, mtim: u64, fst_flags)`
pub fn fd_filestat_set_times<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    atim: u64,
    mtim: u64,
    fst_flags: u32,
) -> Errno {
    result((|| {
        let (a, m) = set_times(atim, mtim, fst_flags)?;
        let e = cx.fds.get(fd)?;
        if let Kind::Stdio { .. } = e.kind {
            return Err(errno::BADF);
        }
        e.require(rights::FD_FILESTAT_SET_TIMES)?;
        host.set_times(&e.file, a, m)
    })())
}

/// `fd_prestat_get(fd, buf: *mut prestat)`; the struct is 8 bytes: tag u8
/// @0 (0: a directory), name length u32 @4. Not a preopen: BADF.
pub fn fd_prestat_get<H: Host + ?Sized>(
    _host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    buf: u32,
) -> Errno {
    result((|| {
        let Kind::Dir { preopen: Some(name), .. } = &cx.fds.get(fd)?.kind else {
            return Err(errno::BADF);
        };
        let len = u32::try_from(name.len()).map_err(|_| errno::OVERFLOW)?;
        let mut raw = [0u8; 8];
        raw[4..8].copy_from_slice(&len.to_le_bytes());
        mem.write_bytes(buf, &raw)
    })())
}

/// `fd_prestat_dir_name(fd, path: *mut u8, path_len)`: the preopen's name,
/// without a NUL; NAMETOOLONG if it does not fit, NOTDIR if `fd` is not a
/// preopen.
pub fn fd_prestat_dir_name<H: Host + ?Sized>(
    _host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
) -> Errno {
    result((|| {
        let Kind::Dir { preopen: Some(name), .. } = &cx.fds.get(fd)?.kind else {
            return Err(errno::NOTDIR);
        };
        if name.len() > path_len as usize {
            return Err(errno::NAMETOOLONG);
        }
        mem.write_bytes(path, name)
    })())
}

/// `fd_renumber(from, to)`: both must be open; `to` is closed and `from`
/// takes its number.
pub fn fd_renumber<H: Host + ?Sized>(
    _host: &mut H,
    cx: &mut Wasi<H::File>,
    _mem: &mut GuestMemory<'_>,
    from: u32,
    to: u32,
) -> Errno {
    result(cx.fds.renumber(from, to))
}

/// Fills a `fd_readdir` buffer the way wasmtime-wasi does: a 24-byte
/// `dirent` (d_next u64, d_ino u64, d_namlen u32, d_type u8) and then the
/// name, each cut where the buffer ends.
struct Filler<'a, 'm> {
    mem: &'a mut GuestMemory<'m>,
    at: u32,
    cap: u32,
}

impl Filler<'_, '_> {
    fn put_bytes(&mut self, bytes: &[u8]) -> Result<bool, Errno> {
        let n = self.cap.min(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
        // `n <= bytes.len()`, and `at..at + cap` was checked to be in memory.
        self.mem.write_bytes(self.at, bytes.get(..n as usize).ok_or(errno::FAULT)?)?;
        // A buffer may end exactly at 4 GiB.
        self.at = self.at.wrapping_add(n);
        self.cap -= n;
        Ok(self.cap > 0)
    }

    /// Writes one entry; false once the buffer is full.
    fn put(&mut self, next: u64, ino: u64, filetype: u8, name: &[u8]) -> Result<bool, Errno> {
        let namlen = u32::try_from(name.len()).map_err(|_| errno::OVERFLOW)?;
        let mut head = [0u8; 24];
        head[0..8].copy_from_slice(&next.to_le_bytes());
        head[8..16].copy_from_slice(&ino.to_le_bytes());
        head[16..20].copy_from_slice(&namlen.to_le_bytes());
        head[20] = filetype;
        Ok(self.put_bytes(&head)? && self.put_bytes(name)?)
    }
}

/// `fd_readdir(fd, buf: *mut u8, buf_len, cookie: u64, bufused: *mut u32)`.
///
/// Entry `i` (from 0) has cookie `i` and `d_next` `i + 1`: `.` and `..`
/// come first (both with the directory's own inode, as in wasmtime-wasi),
/// then the platform's entries in its order. The buffer is filled to the
/// last byte, the last entry cut short if it does not fit; a program sees
/// `bufused == buf_len` and reads on from the last whole entry's `d_next`.
pub fn fd_readdir<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    buf: u32,
    buf_len: u32,
    cookie: u64,
    bufused: u32,
) -> Errno {
    result((|| {
        let e = cx.fds.get(fd)?;
        let Kind::Dir { resume, .. } = &e.kind else {
            return Err(errno::BADF);
        };
        e.require(rights::FD_READDIR)?;
        mem.check(buf, buf_len)?;
        mem.check(bufused, 4)?;
        let mut out = Filler { mem: &mut *mem, at: buf, cap: buf_len };
        let mut full = false;
        if cookie < 2 {
            let ino = host.stat(&e.file)?.ino;
            if cookie == 0 {
                full = !out.put(1, ino, filetype::DIRECTORY, b".")?;
            }
            if !full {
                full = !out.put(2, ino, filetype::DIRECTORY, b"..")?;
            }
        }
        let mut stopped = None;
        if !full {
            // Resume where an earlier call stopped, or walk from the start.
            let (mut index, start) = match resume.find(cookie) {
                Some(pos) if cookie > 2 => (cookie, pos),
                _ => (2, 0),
            };
            let mut before = start;
            let mut failed = None;
            host.readdir(&e.file, start, &mut |d: DirEntry<'_>, next| {
                let at = before;
                before = next;
                if d.name == b"." || d.name == b".." {
                    return true;
                }
                let i = index;
                index += 1;
                if i < cookie {
                    return true;
                }
                match out.put(i.saturating_add(1), d.ino, d.filetype, d.name) {
                    Ok(true) => true,
                    Ok(false) => {
                        stopped = Some((i, at, next));
                        false
                    }
                    Err(err) => {
                        failed = Some(err);
                        false
                    }
                }
            })?;
            if let Some(err) = failed {
                return Err(err);
            }
        }
        let used = buf_len - out.cap;
        mem.write_u32(bufused, used)?;
        if let Some((i, at, next)) = stopped {
            if let Kind::Dir { resume, .. } = &mut cx.fds.get_mut(fd)?.kind {
                *resume = Resume { points: [Some((i, at)), i.checked_add(1).map(|j| (j, next))] };
            }
        }
        Ok(())
    })())
}
