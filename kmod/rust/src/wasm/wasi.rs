//! WASI preview1 bound into Wasmtime: each import is a thin adapter from
//! Wasmtime's calling convention to `kwasm_wasi`, with [`KernelHost`] doing
//! what the caller's own system calls would.

use super::store::{RunState, Stop};
use crate::platform::file::{FileKind, FileRef, O_APPEND, O_NONBLOCK};
use crate::platform::{clock, sched};
use kwasm_wasi::{clock as clocks, errno, fdflags, filetype, rights, Errno, FdStat, GuestMemory, Host, MODULE};
use wasmtime::{Caller, Engine, Error, Extern, Linker, Result};

/// The process's standard streams; other fds are not the program's (its
/// preopens and sockets come with the full WASI).
const STDIO: u32 = 2;

struct KernelHost;

fn stdio(fd: u32) -> Result<FileRef, Errno> {
    if fd > STDIO {
        return Err(errno::BADF);
    }
    FileRef::get(fd).map_err(errno::from_linux)
}

impl Host for KernelHost {
    fn write(&mut self, fd: u32, data: &[u8]) -> Result<usize, Errno> {
        stdio(fd)?.write(data).map_err(errno::from_linux)
    }

    fn read(&mut self, fd: u32, buf: &mut [u8]) -> Result<usize, Errno> {
        stdio(fd)?.read(buf).map_err(errno::from_linux)
    }

    fn fdstat(&mut self, fd: u32) -> Result<FdStat, Errno> {
        let file = stdio(fd)?;
        let filetype = match file.kind() {
            FileKind::Regular => filetype::REGULAR_FILE,
            FileKind::Directory => filetype::DIRECTORY,
            FileKind::CharDevice => filetype::CHARACTER_DEVICE,
            FileKind::BlockDevice => filetype::BLOCK_DEVICE,
            FileKind::Socket => filetype::SOCKET_STREAM,
            FileKind::Symlink => filetype::SYMBOLIC_LINK,
            FileKind::Fifo | FileKind::Unknown => filetype::UNKNOWN,
        };
        let open = file.flags();
        let mut flags = 0;
        if open & O_APPEND != 0 {
            flags |= fdflags::APPEND;
        }
        if open & O_NONBLOCK != 0 {
            flags |= fdflags::NONBLOCK;
        }
        let rights = rights::FD_READ | rights::FD_WRITE | rights::FD_FDSTAT_SET_FLAGS | rights::POLL_FD_READWRITE;
        Ok(FdStat {
            filetype,
            flags,
            rights_base: rights,
            rights_inheriting: rights,
        })
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
        clock::random_bytes(buf);
        Ok(())
    }

    fn sched_yield(&mut self) -> Result<(), Errno> {
        sched::cond_resched();
        Ok(())
    }
}

/// Runs `f` with the program's memory and the run state.
fn with_memory<R>(
    caller: &mut Caller<'_, RunState>,
    f: impl FnOnce(&mut GuestMemory<'_>, &mut RunState) -> R,
) -> Result<R> {
    let memory = caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| Error::msg("the program exports no `memory`, which WASI needs"))?;
    let (bytes, state) = memory.data_and_store_mut(caller);
    Ok(f(&mut GuestMemory::new(bytes), state))
}

type C<'a> = Caller<'a, RunState>;

/// A linker with every import of `kwasm_wasi::SUPPORTED`.
pub fn linker(engine: &Engine) -> Result<Linker<RunState>> {
    let mut l = Linker::new(engine);
    l.func_wrap(MODULE, "args_get", |mut c: C<'_>, argv: u32, buf: u32| {
        with_memory(&mut c, |m, s| kwasm_wasi::args_get(&s.wasi, m, argv, buf) as i32)
    })?;
    l.func_wrap(MODULE, "args_sizes_get", |mut c: C<'_>, argc: u32, size: u32| {
        with_memory(&mut c, |m, s| kwasm_wasi::args_sizes_get(&s.wasi, m, argc, size) as i32)
    })?;
    l.func_wrap(MODULE, "environ_get", |mut c: C<'_>, env: u32, buf: u32| {
        with_memory(&mut c, |m, s| kwasm_wasi::environ_get(&s.wasi, m, env, buf) as i32)
    })?;
    l.func_wrap(MODULE, "environ_sizes_get", |mut c: C<'_>, count: u32, size: u32| {
        with_memory(&mut c, |m, s| {
            kwasm_wasi::environ_sizes_get(&s.wasi, m, count, size) as i32
        })
    })?;
    l.func_wrap(
        MODULE,
        "fd_write",
        |mut c: C<'_>, fd: u32, iovs: u32, len: u32, n: u32| {
            with_memory(&mut c, |m, _| {
                kwasm_wasi::fd_write(&mut KernelHost, m, fd, iovs, len, n) as i32
            })
        },
    )?;
    l.func_wrap(
        MODULE,
        "fd_read",
        |mut c: C<'_>, fd: u32, iovs: u32, len: u32, n: u32| {
            with_memory(&mut c, |m, _| {
                kwasm_wasi::fd_read(&mut KernelHost, m, fd, iovs, len, n) as i32
            })
        },
    )?;
    l.func_wrap(MODULE, "fd_fdstat_get", |mut c: C<'_>, fd: u32, stat: u32| {
        with_memory(&mut c, |m, _| {
            kwasm_wasi::fd_fdstat_get(&mut KernelHost, m, fd, stat) as i32
        })
    })?;
    l.func_wrap(
        MODULE,
        "clock_time_get",
        |mut c: C<'_>, id: u32, precision: u64, time: u32| {
            with_memory(&mut c, |m, _| {
                kwasm_wasi::clock_time_get(&mut KernelHost, m, id, precision, time) as i32
            })
        },
    )?;
    l.func_wrap(MODULE, "clock_res_get", |mut c: C<'_>, id: u32, res: u32| {
        with_memory(&mut c, |m, _| {
            kwasm_wasi::clock_res_get(&mut KernelHost, m, id, res) as i32
        })
    })?;
    l.func_wrap(MODULE, "random_get", |mut c: C<'_>, buf: u32, len: u32| {
        with_memory(&mut c, |m, _| {
            kwasm_wasi::random_get(&mut KernelHost, m, buf, len) as i32
        })
    })?;
    l.func_wrap(MODULE, "sched_yield", |_: C<'_>| {
        kwasm_wasi::sched_yield(&mut KernelHost) as i32
    })?;
    l.func_wrap(MODULE, "proc_exit", |_: C<'_>, code: u32| -> Result<()> {
        Err(Error::new(Stop::Exit(code as i32)))
    })?;
    Ok(l)
}
