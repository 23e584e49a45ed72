//! The `path_*` functions. Paths are checked here (UTF-8, no NUL, not
//! empty, not absolute); resolving them *beneath* their directory is the
//! platform's (see [`Host`]).

use crate::errno::{self, Errno};
use crate::fd::{set_times, write_filestat};
use crate::fdtable::{opened_rights, Entry, Kind};
use crate::{fdflags, filetype, lookupflags, oflags, result, rights, GuestMemory, Host, OpenOptions, Wasi};
use alloc::vec::Vec;

/// The longest symlink target Linux stores (`PATH_MAX` less the NUL).
const LINK_MAX: usize = 4096;

/// A string argument: in memory, and UTF-8 (ILSEQ otherwise, as
/// wasmtime-wasi reads every path as a `str`).
fn string<'m>(mem: &'m GuestMemory<'_>, ptr: u32, len: u32) -> Result<&'m [u8], Errno> {
    let s = mem.slice(ptr, len)?;
    core::str::from_utf8(s).map_err(|_| errno::ILSEQ)?;
    Ok(s)
}

/// What the platform may be handed as a path: no NUL (INVAL), not empty
/// (NOENT), relative (an absolute path would leave the directory:
/// ESCAPE).
fn check_path(p: &[u8]) -> Result<&[u8], Errno> {
    if p.contains(&0) {
        Err(errno::INVAL)
    } else if p.is_empty() {
        Err(errno::NOENT)
    } else if p.first() == Some(&b'/') {
        Err(errno::ESCAPE)
    } else {
        Ok(p)
    }
}

/// The fd if it is a directory (anything else is BADF, as
/// wasmtime-wasi's `get_dir_fd`), with `needed` rights.
fn dir<F>(cx: &Wasi<F>, fd: u32, needed: u64) -> Result<&Entry<F>, Errno> {
    let e = cx.fds.get(fd)?;
    if !e.is_dir() {
        return Err(errno::BADF);
    }
    e.require(needed)?;
    Ok(e)
}

/// A platform operation on one path beneath a directory.
type PathOp<H> = fn(&mut H, &<H as Host>::File, &[u8]) -> Result<(), Errno>;

/// A call that names one path beneath a directory fd and needs `right`
/// there: checks all three, then `op` on the platform.
#[allow(clippy::too_many_arguments)]
fn one_path<H: Host + ?Sized>(
    host: &mut H,
    cx: &Wasi<H::File>,
    mem: &GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
    right: u64,
    op: PathOp<H>,
) -> Errno {
    result((|| {
        let d = dir(cx, fd, right)?;
        let p = string(mem, path, path_len)?;
        op(host, &d.file, check_path(p)?)
    })())
}

fn follow(flags: u32) -> Result<bool, Errno> {
    if flags & !lookupflags::SYMLINK_FOLLOW != 0 {
        return Err(errno::INVAL);
    }
    Ok(flags & lookupflags::SYMLINK_FOLLOW != 0)
}

/// `path_create_directory(fd, path, path_len)`
pub fn path_create_directory<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
) -> Errno {
    one_path(host, cx, mem, fd, path, path_len, rights::PATH_CREATE_DIRECTORY, H::mkdir_at)
}

/// `path_filestat_get(fd, flags, path, path_len, buf: *mut filestat)`
pub fn path_filestat_get<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    flags: u32,
    path: u32,
    path_len: u32,
    buf: u32,
) -> Errno {
    result((|| {
        let follow = follow(flags)?;
        let d = dir(cx, fd, rights::PATH_FILESTAT_GET)?;
        let p = string(mem, path, path_len)?;
        mem.check(buf, 64)?;
        let st = host.stat_at(&d.file, check_path(p)?, follow)?;
        write_filestat(mem, buf, &st)
    })())
}

/// `path_filestat_set_times(fd, flags, path, path_len, atim, mtim, fst_flags)`
pub fn path_filestat_set_times<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    flags: u32,
    path: u32,
    path_len: u32,
    atim: u64,
    mtim: u64,
    fst_flags: u32,
) -> Errno {
    result((|| {
        let follow = follow(flags)?;
        let (a, m) = set_times(atim, mtim, fst_flags)?;
        let d = dir(cx, fd, rights::PATH_FILESTAT_SET_TIMES)?;
        let p = string(mem, path, path_len)?;
        host.set_times_at(&d.file, check_path(p)?, follow, a, m)
    })())
}

/// `path_link(old_fd, old_flags, old_path, old_path_len, new_fd, new_path,
/// new_path_len)`: a hard link, also between two preopens. Following a
/// symlink (SYMLINK_FOLLOW) is INVAL, as in wasmtime-wasi.
pub fn path_link<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    old_fd: u32,
    old_flags: u32,
    old_path: u32,
    old_path_len: u32,
    new_fd: u32,
    new_path: u32,
    new_path_len: u32,
) -> Errno {
    result((|| {
        let follow = follow(old_flags)?;
        let old_dir = dir(cx, old_fd, rights::PATH_LINK_SOURCE)?;
        let new_dir = dir(cx, new_fd, rights::PATH_LINK_TARGET)?;
        let old = string(mem, old_path, old_path_len)?;
        let new = string(mem, new_path, new_path_len)?;
        if follow {
            return Err(errno::INVAL);
        }
        host.link_at(&old_dir.file, check_path(old)?, false, &new_dir.file, check_path(new)?)
    })())
}

/// `path_open(fd, dirflags, path, path_len, oflags, rights_base: u64,
/// rights_inheriting: u64, fdflags, opened_fd: *mut u32)`.
///
/// As wasmtime-wasi: the file is opened for reading unless only writing
/// was asked for, and for writing if FD_WRITE, CREAT or TRUNC say so; the
/// sync fdflags are NOTSUP; DIRECTORY with CREAT, EXCL or TRUNC is INVAL;
/// a directory opened through a file fd is NOTDIR. Of the rights asked
/// for only FD_READ and FD_WRITE count, for the open mode; the fd's rights
/// are what that mode allows ([`opened_rights`]); `rights_inheriting` is
/// checked for unknown bits and otherwise ignored.
pub fn path_open<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    dirflags: u32,
    path: u32,
    path_len: u32,
    oflags: u32,
    rights_base: u64,
    rights_inheriting: u64,
    fdflags: u32,
    opened_fd: u32,
) -> Errno {
    result((|| {
        let follow = follow(dirflags)?;
        if oflags & !oflags::ALL != 0
            || (rights_base | rights_inheriting) & !rights::ALL != 0
            || fdflags & !(fdflags::ALL as u32) != 0
        {
            return Err(errno::INVAL);
        }
        let fdflags = fdflags as u16;
        let p = string(mem, path, path_len)?;
        let d = cx.fds.get(fd)?;
        match d.kind {
            Kind::Dir { .. } => {}
            Kind::File => return Err(errno::NOTDIR),
            _ => return Err(errno::BADF),
        }
        if fdflags & (fdflags::DSYNC | fdflags::RSYNC | fdflags::SYNC) != 0 {
            return Err(errno::NOTSUP);
        }
        let has = |bit: u32| oflags & bit != 0;
        if has(oflags::DIRECTORY) && (has(oflags::CREAT) || has(oflags::EXCL) || has(oflags::TRUNC)) {
            return Err(errno::INVAL);
        }
        let mut needed = rights::PATH_OPEN;
        if has(oflags::CREAT) {
            needed |= rights::PATH_CREATE_FILE;
        }
        if has(oflags::TRUNC) {
            needed |= rights::PATH_FILESTAT_SET_SIZE;
        }
        d.require(needed)?;
        mem.check(opened_fd, 4)?;

        let wants_write = rights_base & rights::FD_WRITE != 0;
        let how = OpenOptions {
            read: rights_base & rights::FD_READ != 0 || !wants_write,
            write: wants_write || has(oflags::CREAT) || has(oflags::TRUNC),
            create: has(oflags::CREAT),
            exclusive: has(oflags::CREAT) && has(oflags::EXCL),
            truncate: has(oflags::TRUNC),
            directory: has(oflags::DIRECTORY),
            follow,
            append: fdflags & fdflags::APPEND != 0,
            nonblock: fdflags & fdflags::NONBLOCK != 0,
            sync: false,
            dsync: false,
        };
        let file = host.open_at(&d.file, check_path(p)?, how)?;
        let ft = host.stat(&file)?.filetype;
        let kind = if ft == filetype::DIRECTORY {
            Kind::Dir { preopen: None, resume: Default::default() }
        } else {
            Kind::File
        };
        // The new fd's rights come from its open mode alone, as in
        // wasmtime-wasi: neither the rights asked for nor a narrowed
        // directory's inheriting rights take any away (a program asking
        // for FD_READ only still gets a writable file with CREAT, and may
        // change its flags), so it can do exactly what it can under
        // wasmtime-wasi. Narrowing stays the fd's own.
        let computed = opened_rights(ft, how.read, how.write);
        let new_fd = cx.fds.push(Entry::new(file, kind, ft, computed, computed))?;
        mem.write_u32(opened_fd, new_fd)
    })())
}

/// `path_readlink(fd, path, path_len, buf: *mut u8, buf_len, bufused: *mut u32)`:
/// the target, cut to `buf_len`, without a NUL. An absolute target is
/// ESCAPE (it names something outside the sandbox).
pub fn path_readlink<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
    buf: u32,
    buf_len: u32,
    bufused: u32,
) -> Errno {
    result((|| {
        let d = dir(cx, fd, rights::PATH_READLINK)?;
        let p = string(mem, path, path_len)?;
        mem.check(buf, buf_len)?;
        mem.check(bufused, 4)?;
        let mut target = Vec::new();
        target.try_reserve_exact(LINK_MAX).map_err(|_| errno::NOMEM)?;
        target.resize(LINK_MAX, 0);
        let len = host.readlink_at(&d.file, check_path(p)?, &mut target)?;
        target.truncate(len);
        if target.first() == Some(&b'/') {
            return Err(errno::ESCAPE);
        }
        if let Err(e) = core::str::from_utf8(&target) {
            // A target longer than LINK_MAX may end inside a character.
            if e.error_len().is_some() || len <= LINK_MAX {
                return Err(errno::ILSEQ);
            }
        }
        let n = target.len().min(buf_len as usize);
        mem.write_bytes(buf, target.get(..n).ok_or(errno::FAULT)?)?;
        mem.write_u32(bufused, n as u32)
    })())
}

/// `path_remove_directory(fd, path, path_len)`
pub fn path_remove_directory<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
) -> Errno {
    one_path(host, cx, mem, fd, path, path_len, rights::PATH_REMOVE_DIRECTORY, H::rmdir_at)
}

/// `path_rename(fd, old_path, old_path_len, new_fd, new_path, new_path_len)`,
/// also between two preopens.
pub fn path_rename<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    old_path: u32,
    old_path_len: u32,
    new_fd: u32,
    new_path: u32,
    new_path_len: u32,
) -> Errno {
    result((|| {
        let old_dir = dir(cx, fd, rights::PATH_RENAME_SOURCE)?;
        let new_dir = dir(cx, new_fd, rights::PATH_RENAME_TARGET)?;
        let old = string(mem, old_path, old_path_len)?;
        let new = string(mem, new_path, new_path_len)?;
        host.rename_at(&old_dir.file, check_path(old)?, &new_dir.file, check_path(new)?)
    })())
}

/// `path_symlink(old_path, old_path_len, fd, new_path, new_path_len)`: a
/// link at `new_path` to `old_path`. An absolute target is ESCAPE.
pub fn path_symlink<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    old_path: u32,
    old_path_len: u32,
    fd: u32,
    new_path: u32,
    new_path_len: u32,
) -> Errno {
    result((|| {
        let d = dir(cx, fd, rights::PATH_SYMLINK)?;
        let target = string(mem, old_path, old_path_len)?;
        let new = string(mem, new_path, new_path_len)?;
        if target.first() == Some(&b'/') {
            return Err(errno::ESCAPE);
        }
        if target.contains(&0) {
            return Err(errno::INVAL);
        }
        host.symlink_at(target, &d.file, check_path(new)?)
    })())
}

/// `path_unlink_file(fd, path, path_len)`
pub fn path_unlink_file<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    path: u32,
    path_len: u32,
) -> Errno {
    one_path(host, cx, mem, fd, path, path_len, rights::PATH_UNLINK_FILE, H::unlink_at)
}
