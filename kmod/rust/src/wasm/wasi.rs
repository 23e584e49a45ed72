//! WASI preview1 bound into Wasmtime. The rules (memory checks, rights, the
//! fd table, layouts, errnos) are `kwasm_wasi`'s; this file is the thin
//! kernel side: [`KernelHost`] does what the caller's own system calls
//! would, through `platform::{file, fs}`, and each import is a one-line
//! adapter from Wasmtime's calling convention.

use super::parking::{Parking, Stop};
use super::store::{host_call, RunState, Sleeps, WasiContext as Context};
use crate::platform::file::{self, FileKind, FileRef, Stat, O_APPEND, O_NONBLOCK};
use crate::platform::fs::{self, FsError};
use crate::platform::net;
use crate::platform::user::{read_strings, UserPtr};
use crate::platform::waiter::{WaitQueue, WakeTarget, Waiter};
use crate::platform::{clock, sched};
use alloc::vec::Vec;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use kwasm_abi::{Error as AbiError, WasiArgs};
use kwasm_wasi::{
    clock as clocks, errno, fdflags, filetype, DirEntry, Errno, FileStat, GuestMemory, Host, OpenOptions, Readiness,
    SetTime, Wasi, Whence, MODULE,
};
use wasmtime::{Caller, Error, Extern, Linker, Result};

/// Builds the program's context from the request: arguments, environment,
/// the caller's standard streams, its listening sockets and preopened
/// directories (fds of the caller, each checked to be what it claims).
pub fn context(req: &WasiArgs) -> Result<Context, AbiError> {
    let args = read_strings(req.args, req.args_count)?;
    let env = read_strings(req.env, req.env_count)?;
    let names = read_strings(req.preopen_names, req.preopen_count)?;
    let fds = UserPtr::new(req.preopen_fds.ptr as usize).read_bytes(req.preopen_fds.len as usize)?;
    let listen_fds = UserPtr::new(req.listen_fds.ptr as usize).read_bytes(req.listen_fds.len as usize)?;
    let mut cx = Wasi::new(args, env);
    // As many open fds as the caller may have (RLIMIT_NOFILE): a server
    // with thousands of connections needs them.
    cx.set_fd_limit(file::open_files_limit());
    for fd in 0..3 {
        // A closed standard stream stays closed for the program too.
        if let Ok(file) = FileRef::get(fd) {
            // As wasmtime-wasi: a terminal (the caller's isatty) is a
            // character device, any other stream reports `unknown`.
            let shown = if req.stdio_terminals & (1 << fd) != 0 {
                filetype::CHARACTER_DEVICE
            } else {
                filetype::UNKNOWN
            };
            cx.set_stdio(fd, file, shown).map_err(|_| AbiError::Malformed)?;
        }
    }
    // Listening sockets first, as `wasmtime run` numbers them.
    for fd in listen_fds.chunks_exact(4) {
        let fd = u32::from_ne_bytes([fd[0], fd[1], fd[2], fd[3]]);
        let sock = FileRef::get(fd).map_err(|_| AbiError::NotASocket)?;
        if sock.kind() != FileKind::Socket {
            return Err(AbiError::NotASocket);
        }
        cx.add_socket(sock, filetype::SOCKET_STREAM).map_err(|_| AbiError::Malformed)?;
    }
    for (i, fd) in fds.chunks_exact(4).enumerate() {
        let fd = u32::from_ne_bytes([fd[0], fd[1], fd[2], fd[3]]);
        let dir = FileRef::get(fd).map_err(|_| AbiError::NotADirectory)?;
        if dir.kind() != FileKind::Directory {
            return Err(AbiError::NotADirectory);
        }
        let name = names.get(i).ok_or(AbiError::Malformed)?;
        cx.add_preopen(dir, name.to_vec()).map_err(|_| AbiError::Malformed)?;
    }
    Ok(cx)
}

/// An inode mode as a WASI filetype.
fn mode_filetype(mode: u32) -> u8 {
    match FileKind::from_mode(mode) {
        FileKind::Regular => filetype::REGULAR_FILE,
        FileKind::Directory => filetype::DIRECTORY,
        FileKind::CharDevice => filetype::CHARACTER_DEVICE,
        FileKind::BlockDevice => filetype::BLOCK_DEVICE,
        FileKind::Socket => filetype::SOCKET_STREAM,
        FileKind::Symlink => filetype::SYMBOLIC_LINK,
        FileKind::Fifo | FileKind::Unknown => filetype::UNKNOWN,
    }
}

/// Linux `DT_*` as a WASI filetype.
fn dirent_filetype(dt: u8) -> u8 {
    match dt {
        2 => filetype::CHARACTER_DEVICE,
        4 => filetype::DIRECTORY,
        6 => filetype::BLOCK_DEVICE,
        8 => filetype::REGULAR_FILE,
        10 => filetype::SYMBOLIC_LINK,
        12 => filetype::SOCKET_STREAM,
        _ => filetype::UNKNOWN,
    }
}

fn stat(st: Stat) -> FileStat {
    FileStat {
        dev: st.dev,
        ino: st.ino,
        filetype: mode_filetype(st.mode),
        nlink: st.nlink,
        size: st.size,
        atim: st.atime_ns.max(0) as u64,
        mtim: st.mtime_ns.max(0) as u64,
        ctim: st.ctime_ns.max(0) as u64,
    }
}

fn linux(e: i32) -> Errno {
    errno::from_linux(e)
}

fn fs_error(e: FsError) -> Errno {
    match e {
        FsError::Errno(e) => errno::from_linux(e),
        FsError::Escapes => errno::ESCAPE,
    }
}

// utimensat's special values.
const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

fn utime(t: SetTime) -> Result<i64, Errno> {
    match t {
        SetTime::Omit => Ok(UTIME_OMIT),
        SetTime::Now => Ok(UTIME_NOW),
        SetTime::At(ns) => i64::try_from(ns).map_err(|_| errno::OVERFLOW),
    }
}

// EPOLL* bits (uapi).
const EPOLLIN: u32 = 0x1;
const EPOLLOUT: u32 = 0x4;
const EPOLLERR: u32 = 0x8;
const EPOLLHUP: u32 = 0x10;
const EPOLLRDNORM: u32 = 0x40;
const EPOLLWRNORM: u32 = 0x100;

/// What a `poll_oneoff` waiting on files is woken through: hooked onto
/// each file's wait queues, a wake-up marks it woken and wakes the task.
#[repr(C)]
struct PollWake {
    /// First: the hooks' callback finds the PollWake from it.
    target: WakeTarget,
    /// Non-null once a file signalled a change since the last look.
    woken: AtomicPtr<u8>,
    queue: WaitQueue,
}

impl PollWake {
    fn new() -> Option<PollWake> {
        Some(PollWake {
            target: WakeTarget::new(PollWake::wake),
            woken: AtomicPtr::new(ptr::null_mut()),
            queue: WaitQueue::new()?,
        })
    }

    /// # Safety
    /// `target` is the `target` of a live PollWake (its hooks are armed).
    unsafe fn wake(target: *const WakeTarget, _mask: u32) {
        // SAFETY: per the contract; `target` is its first field.
        let w = unsafe { &*target.cast::<PollWake>() };
        w.woken.store(ptr::NonNull::dangling().as_ptr(), Ordering::SeqCst);
        w.queue.wake();
    }
}

/// `random_get` fills at most this much between chances to reschedule.
const RANDOM_CHUNK: usize = 256 * 1024;

/// The kernel side of WASI for one call. `run_deadline_ns`: when the run's
/// time limit ends (a wait ends then too, so `--timeout` also bounds a
/// program sleeping in `poll_oneoff`). `parking`: the run's, for a wait
/// that parks on a signal and then goes on to its deadline.
struct KernelHost<'a> {
    run_deadline_ns: Option<u64>,
    parking: Option<&'a Parking>,
}

impl Host for KernelHost<'_> {
    type File = FileRef;

    fn read(&mut self, f: &FileRef, buf: &mut [u8]) -> Result<usize, Errno> {
        f.read(buf).map_err(linux)
    }

    fn write(&mut self, f: &FileRef, data: &[u8]) -> Result<usize, Errno> {
        f.write(data).map_err(linux)
    }

    fn pread(&mut self, f: &FileRef, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        f.pread(buf, offset).map_err(linux)
    }

    fn pwrite(&mut self, f: &FileRef, data: &[u8], offset: u64) -> Result<usize, Errno> {
        f.pwrite(data, offset).map_err(linux)
    }

    fn seek(&mut self, f: &FileRef, offset: i64, whence: Whence) -> Result<u64, Errno> {
        let whence = match whence {
            Whence::Set => 0,
            Whence::Cur => 1,
            Whence::End => 2,
        };
        f.seek(offset, whence).map_err(linux)
    }

    fn sync(&mut self, f: &FileRef, data_only: bool) -> Result<(), Errno> {
        f.sync(data_only).map_err(linux)
    }

    fn advise(&mut self, f: &FileRef, offset: u64, len: u64, advice: u8) -> Result<(), Errno> {
        // preview1 orders sequential before random; Linux the other way.
        let advice = match advice {
            0 => 0,
            1 => 2,
            2 => 1,
            3 => 3,
            4 => 4,
            5 => 5,
            _ => return Err(errno::INVAL),
        };
        let offset = i64::try_from(offset).map_err(|_| errno::INVAL)?;
        let len = i64::try_from(len).map_err(|_| errno::INVAL)?;
        f.advise(offset, len, advice).map_err(linux)
    }

    fn allocate(&mut self, f: &FileRef, offset: u64, len: u64) -> Result<(), Errno> {
        let offset = i64::try_from(offset).map_err(|_| errno::INVAL)?;
        let len = i64::try_from(len).map_err(|_| errno::INVAL)?;
        f.allocate(offset, len).map_err(linux)
    }

    fn stat(&mut self, f: &FileRef) -> Result<FileStat, Errno> {
        f.stat().map(stat).map_err(linux)
    }

    fn set_size(&mut self, f: &FileRef, size: u64) -> Result<(), Errno> {
        f.set_size(size).map_err(linux)
    }

    fn set_times(&mut self, f: &FileRef, atim: SetTime, mtim: SetTime) -> Result<(), Errno> {
        f.set_times(utime(atim)?, utime(mtim)?).map_err(linux)
    }

    fn fdflags(&mut self, f: &FileRef) -> Result<u16, Errno> {
        let open = f.flags();
        let mut flags = 0;
        if open & O_APPEND != 0 {
            flags |= fdflags::APPEND;
        }
        if open & O_NONBLOCK != 0 {
            flags |= fdflags::NONBLOCK;
        }
        Ok(flags)
    }

    fn set_fdflags(&mut self, f: &FileRef, flags: u16) -> Result<(), Errno> {
        let mut open = 0;
        if flags & fdflags::APPEND != 0 {
            open |= O_APPEND;
        }
        if flags & fdflags::NONBLOCK != 0 {
            open |= O_NONBLOCK;
        }
        // The struct file's own O_APPEND is what write(2) and pwrite(2)
        // consult, so clearing it here really stops appending (wasmtime-wasi
        // keeps the flag per fd and appends itself; the bytes end up the
        // same). As fcntl(F_SETFL): an append-only inode keeps O_APPEND.
        if (f.flags() ^ open) & O_APPEND != 0 && f.append_only() {
            return Err(errno::PERM);
        }
        f.set_flags(O_APPEND | O_NONBLOCK, open);
        Ok(())
    }

    fn readdir(
        &mut self,
        dir: &FileRef,
        cookie: u64,
        each: &mut dyn FnMut(DirEntry<'_>, u64) -> bool,
    ) -> Result<(), Errno> {
        fs::read_dir(dir, cookie, &mut |e| {
            each(
                DirEntry {
                    ino: e.ino,
                    filetype: dirent_filetype(e.kind),
                    name: e.name,
                },
                e.next,
            )
        })
        .map_err(fs_error)
    }

    fn open_at(&mut self, dir: &FileRef, path: &[u8], how: OpenOptions) -> Result<FileRef, Errno> {
        let how = fs::Open {
            read: how.read,
            write: how.write,
            create: how.create,
            exclusive: how.exclusive,
            truncate: how.truncate,
            directory: how.directory,
            follow: how.follow,
            append: how.append,
            nonblock: how.nonblock,
            sync: how.sync,
            dsync: how.dsync,
        };
        fs::open_at(dir, path, how).map_err(fs_error)
    }

    fn stat_at(&mut self, dir: &FileRef, path: &[u8], follow: bool) -> Result<FileStat, Errno> {
        fs::stat_at(dir, path, follow).map(stat).map_err(fs_error)
    }

    fn set_times_at(
        &mut self,
        dir: &FileRef,
        path: &[u8],
        follow: bool,
        atim: SetTime,
        mtim: SetTime,
    ) -> Result<(), Errno> {
        fs::set_times_at(dir, path, follow, utime(atim)?, utime(mtim)?).map_err(fs_error)
    }

    fn mkdir_at(&mut self, dir: &FileRef, path: &[u8]) -> Result<(), Errno> {
        fs::mkdir_at(dir, path).map_err(fs_error)
    }

    fn unlink_at(&mut self, dir: &FileRef, path: &[u8]) -> Result<(), Errno> {
        fs::unlink_at(dir, path).map_err(fs_error)
    }

    fn rmdir_at(&mut self, dir: &FileRef, path: &[u8]) -> Result<(), Errno> {
        fs::rmdir_at(dir, path).map_err(fs_error)
    }

    fn symlink_at(&mut self, target: &[u8], dir: &FileRef, path: &[u8]) -> Result<(), Errno> {
        fs::symlink_at(target, dir, path).map_err(fs_error)
    }

    fn readlink_at(&mut self, dir: &FileRef, path: &[u8], buf: &mut [u8]) -> Result<usize, Errno> {
        fs::readlink_at(dir, path, buf).map_err(fs_error)
    }

    fn link_at(
        &mut self,
        old_dir: &FileRef,
        old: &[u8],
        follow: bool,
        new_dir: &FileRef,
        new: &[u8],
    ) -> Result<(), Errno> {
        fs::link_at(old_dir, old, follow, new_dir, new).map_err(fs_error)
    }

    fn rename_at(&mut self, old_dir: &FileRef, old: &[u8], new_dir: &FileRef, new: &[u8]) -> Result<(), Errno> {
        fs::rename_at(old_dir, old, new_dir, new).map_err(fs_error)
    }

    fn poll(
        &mut self,
        files: &[&FileRef],
        want: &[Readiness],
        deadline_ns: Option<u64>,
        ready: &mut [Readiness],
    ) -> Result<(), Errno> {
        // Hooked onto the files' wait queues once the first look finds
        // nothing ready (as poll(2) does); unhooked when this returns.
        let mut wake: Option<PollWake> = None;
        let mut hooks: Vec<Waiter> = Vec::new();
        loop {
            if let Some(w) = &wake {
                w.woken.store(ptr::null_mut(), Ordering::SeqCst);
            }
            let mut any = false;
            for ((file, want), ready) in files.iter().zip(want).zip(ready.iter_mut()) {
                let mask = file.poll_mask();
                *ready = Readiness {
                    read: want.read && mask & (EPOLLIN | EPOLLRDNORM | EPOLLHUP | EPOLLERR) != 0,
                    write: want.write && mask & (EPOLLOUT | EPOLLWRNORM | EPOLLERR) != 0,
                    hangup: mask & EPOLLHUP != 0,
                };
                any |= ready.read || ready.write;
            }
            let now = clock::monotonic_ns();
            if any || deadline_ns.is_some_and(|d| now >= d) {
                return Ok(());
            }
            if self.run_deadline_ns.is_some_and(|d| now >= d) {
                // The run's time is up: its next yield point ends it.
                return Err(errno::INTR);
            }
            if files.is_empty() && deadline_ns.is_none() {
                return Err(errno::INVAL);
            }
            let until = match (deadline_ns, self.run_deadline_ns) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let w = match &mut wake {
                Some(w) => w,
                None => {
                    let w = wake.insert(PollWake::new().ok_or(errno::NOMEM)?);
                    for file in files {
                        // SAFETY: `w` lives in `wake`, declared before
                        // `hooks`, and is not moved while hooks exist
                        // (hooks are dropped first on every return).
                        let (hook, _) = unsafe { Waiter::arm(file, &w.target) }.map_err(linux)?;
                        hooks.push(hook);
                    }
                    // The hooks now catch any change: look once more.
                    continue;
                }
            };
            w.queue.wait(&w.woken, until);
            if sched::signal_pending() {
                // A signal the process survives parks the run; then the
                // wait goes on, to the deadline it had.
                match self.parking.map(Parking::on_signal) {
                    Some(Ok(_)) => continue,
                    _ => return Err(errno::INTR),
                }
            }
        }
    }

    fn readable_bytes(&mut self, f: &FileRef) -> u64 {
        if f.kind() != FileKind::Regular {
            return 0;
        }
        match (f.stat(), f.seek(0, 1)) {
            (Ok(st), Ok(pos)) => st.size.saturating_sub(pos),
            _ => 0,
        }
    }

    fn sock_accept(&mut self, f: &FileRef, nonblock: bool) -> Result<FileRef, Errno> {
        net::accept(f, nonblock).map_err(linux)
    }

    fn sock_recv(&mut self, f: &FileRef, buf: &mut [u8], peek: bool, waitall: bool) -> Result<usize, Errno> {
        let flags = if peek { net::MSG_PEEK } else { 0 } | if waitall { net::MSG_WAITALL } else { 0 };
        net::recv(f, buf, flags).map_err(linux)
    }

    fn sock_send(&mut self, f: &FileRef, data: &[u8]) -> Result<usize, Errno> {
        net::send(f, data, 0).map_err(linux)
    }

    fn sock_shutdown(&mut self, f: &FileRef, read: bool, write: bool) -> Result<(), Errno> {
        let how = match (read, write) {
            (true, false) => 0,
            (false, true) => 1,
            (true, true) => 2,
            (false, false) => return Err(errno::INVAL),
        };
        net::shutdown(f, how).map_err(linux)
    }

    fn clock_time(&mut self, id: u32) -> Result<u64, Errno> {
        match id {
            clocks::REALTIME => Ok(clock::realtime_ns()),
            clocks::MONOTONIC => Ok(clock::monotonic_ns()),
            clocks::PROCESS_CPUTIME | clocks::THREAD_CPUTIME => Ok(clock::task_cputime_ns()),
            _ => Err(errno::INVAL),
        }
    }

    fn clock_res(&mut self, id: u32) -> Result<u64, Errno> {
        match id {
            clocks::REALTIME | clocks::MONOTONIC | clocks::PROCESS_CPUTIME | clocks::THREAD_CPUTIME => Ok(1),
            _ => Err(errno::INVAL),
        }
    }

    fn random(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        // A whole 4 GiB memory at once would hold the CPU for seconds.
        for chunk in buf.chunks_mut(RANDOM_CHUNK) {
            clock::random_bytes(chunk);
            sched::cond_resched();
        }
        Ok(())
    }

    fn sched_yield(&mut self) -> Result<(), Errno> {
        sched::cond_resched();
        Ok(())
    }

    fn raise(&mut self, sig: u8) -> Result<(), Errno> {
        // preview1 numbers signals as Linux does up to SIGTERM (15), then
        // skips SIGSTKFLT (16).
        let sig = match sig {
            1..=15 => i32::from(sig),
            16..=30 => i32::from(sig) + 1,
            _ => return Err(errno::INVAL),
        };
        sched::raise(sig).map_err(linux)
    }
}

/// Runs `f` with the calling program's memory and the run's state.
pub(super) fn with_run<R>(
    caller: &mut Caller<'_, RunState>,
    f: impl FnOnce(&mut GuestMemory<'_>, &mut RunState) -> R,
) -> Result<R> {
    let memory = match caller.data().memory {
        Some(m) => m,
        None => caller
            .get_export("memory")
            .and_then(Extern::into_memory)
            .ok_or_else(|| Error::msg("the program exports no `memory`, which WASI needs"))?,
    };
    let (bytes, state) = memory.data_and_store_mut(caller);
    Ok(f(&mut GuestMemory::new(bytes), state))
}

/// Runs the WASI function `f` with the program's memory and its WASI
/// state, and returns its errno — restarting it as the kernel restarts a
/// system call (see [`restart`]).
fn with_memory(
    caller: &mut Caller<'_, RunState>,
    mut f: impl FnMut(&mut KernelHost, &mut GuestMemory<'_>, &mut Context) -> Errno,
) -> Result<i32> {
    with_run(caller, |m, state| -> Result<i32> {
        loop {
            let mut host = KernelHost {
                run_deadline_ns: state.deadline_ns(),
                parking: Some(&state.parking),
            };
            let r = f(&mut host, m, &mut state.wasi);
            if r != errno::INTR || !restart(&state.parking)? {
                return Ok(i32::from(r));
            }
        }
    })
    .and_then(|r| r)
}

/// A host call was interrupted (INTR): `true` if it is to be made again —
/// a signal the process survives was pending and the run is back from
/// parking, so the call goes on as if nothing happened; `false` if no
/// signal was (the run's time ran out: the program sees INTR and its next
/// yield point ends it); a trap ending the run on a signal that ends the
/// process.
pub(super) fn restart(parking: &Parking) -> Result<bool> {
    parking.on_signal().map_err(Error::new)
}

/// `fd_close` (also kwasm_net's `close`): the fd also leaves the pollers.
pub(super) fn close_fd(state: &mut RunState, m: &mut GuestMemory<'_>, fd: u32) -> Result<u32, Errno> {
    let mut host = KernelHost {
        run_deadline_ns: None,
        parking: None,
    };
    match kwasm_wasi::fd_close(&mut host, &mut state.wasi, m, fd) {
        errno::SUCCESS => {
            state.net.forget(fd);
            Ok(0)
        }
        e => Err(e),
    }
}

type C<'a> = Caller<'a, RunState>;

/// Binds preview1 functions: each takes its wasm parameters, runs the
/// `kwasm_wasi` function of the same name on the kernel host, and returns
/// its errno; inside the wasm section or outside as `$sleeps` says.
macro_rules! bind {
    ($linker:ident, $sleeps:expr; $( $name:ident ( $( $arg:ident : $ty:ty ),* ) ),* $(,)?) => {
        $(
            $linker.func_wrap(MODULE, stringify!($name), |mut c: C<'_>, $( $arg: $ty ),*| {
                host_call(&mut c, $sleeps, |c| {
                    with_memory(c, |host, m, cx| kwasm_wasi::$name(host, cx, m $(, $arg)*))
                })
            })?;
        )*
    };
}

/// Adds every function of `wasi_snapshot_preview1` to `l`.
pub(super) fn add_to_linker(l: &mut Linker<RunState>) -> Result<()> {
    // Only the program's own state, the clocks and the CSPRNG (whose
    // rescheduling between chunks leaves the section by itself).
    bind!(l, Sleeps::Never;
        args_get(argv: u32, buf: u32),
        args_sizes_get(argc: u32, size: u32),
        environ_get(env: u32, buf: u32),
        environ_sizes_get(count: u32, size: u32),
        clock_res_get(id: u32, res: u32),
        clock_time_get(id: u32, precision: u64, time: u32),
        fd_prestat_get(fd: u32, prestat: u32),
        fd_prestat_dir_name(fd: u32, path: u32, len: u32),
        random_get(buf: u32, len: u32),
        sched_yield(),
    );
    // Files, sockets, waiting: the kernel may sleep in any of them.
    bind!(l, Sleeps::Maybe;
        fd_advise(fd: u32, offset: u64, len: u64, advice: u32),
        fd_allocate(fd: u32, offset: u64, len: u64),
        fd_datasync(fd: u32),
        fd_fdstat_get(fd: u32, stat: u32),
        fd_fdstat_set_flags(fd: u32, flags: u32),
        fd_fdstat_set_rights(fd: u32, base: u64, inheriting: u64),
        fd_filestat_get(fd: u32, stat: u32),
        fd_filestat_set_size(fd: u32, size: u64),
        fd_filestat_set_times(fd: u32, atim: u64, mtim: u64, flags: u32),
        fd_pread(fd: u32, iovs: u32, count: u32, offset: u64, n: u32),
        fd_pwrite(fd: u32, iovs: u32, count: u32, offset: u64, n: u32),
        fd_read(fd: u32, iovs: u32, count: u32, n: u32),
        fd_readdir(fd: u32, buf: u32, len: u32, cookie: u64, used: u32),
        fd_seek(fd: u32, offset: i64, whence: u32, new_offset: u32),
        fd_sync(fd: u32),
        fd_tell(fd: u32, offset: u32),
        fd_write(fd: u32, iovs: u32, count: u32, n: u32),
        path_create_directory(fd: u32, path: u32, len: u32),
        path_filestat_get(fd: u32, flags: u32, path: u32, len: u32, stat: u32),
        path_filestat_set_times(fd: u32, flags: u32, path: u32, len: u32, atim: u64, mtim: u64, fst: u32),
        path_link(old_fd: u32, old_flags: u32, old: u32, old_len: u32, new_fd: u32, new: u32, new_len: u32),
        path_open(
            fd: u32,
            dirflags: u32,
            path: u32,
            len: u32,
            oflags: u32,
            base: u64,
            inheriting: u64,
            fdflags: u32,
            opened: u32
        ),
        path_readlink(fd: u32, path: u32, len: u32, buf: u32, buf_len: u32, used: u32),
        path_remove_directory(fd: u32, path: u32, len: u32),
        path_rename(fd: u32, old: u32, old_len: u32, new_fd: u32, new: u32, new_len: u32),
        path_symlink(old: u32, old_len: u32, fd: u32, new: u32, new_len: u32),
        path_unlink_file(fd: u32, path: u32, len: u32),
        poll_oneoff(subs: u32, events: u32, count: u32, n: u32),
        proc_raise(sig: u32),
        sock_accept(fd: u32, flags: u32, new_fd: u32),
        sock_recv(fd: u32, iovs: u32, count: u32, flags: u32, n: u32, out_flags: u32),
        sock_send(fd: u32, iovs: u32, count: u32, flags: u32, n: u32),
        sock_shutdown(fd: u32, how: u32),
    );
    l.func_wrap(MODULE, "fd_close", |mut c: C<'_>, fd: u32| {
        host_call(&mut c, Sleeps::Maybe, |c| {
            with_run(c, |m, state| close_fd(state, m, fd).err().map_or(0, i32::from))
        })
    })?;
    // The fd renumbered onto is closed and the other changes number: both
    // leave the pollers (registrations follow fd numbers).
    l.func_wrap(MODULE, "fd_renumber", |mut c: C<'_>, fd: u32, to: u32| {
        host_call(&mut c, Sleeps::Maybe, |c| with_run(c, |m, state| {
            let mut host = KernelHost {
                run_deadline_ns: None,
                parking: None,
            };
            let r = kwasm_wasi::fd_renumber(&mut host, &mut state.wasi, m, fd, to);
            if r == errno::SUCCESS {
                state.net.forget(fd);
                state.net.forget(to);
            }
            i32::from(r)
        }))
    })?;
    l.func_wrap(MODULE, "proc_exit", |_: C<'_>, code: u32| -> Result<()> {
        Err(Error::new(Stop::Exit(code as i32)))
    })?;
    Ok(())
}
