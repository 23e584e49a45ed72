//! WASI `wasi_snapshot_preview1` for kwasm, written against two small seams:
//! [`GuestMemory`] (the program's linear memory, every access checked) and
//! [`Host`] (what the platform does: write to an fd, read a clock, ...).
//!
//! Nothing here knows about the kernel or about Wasmtime, so the rules —
//! layouts, bounds checks, errno values — are unit-tested on the host; the
//! kernel module implements [`Host`] with direct kernel calls and binds these
//! functions into Wasmtime's linker.
#![no_std]

extern crate alloc;

pub mod errno;
mod memory;
mod strings;

use alloc::vec::Vec;
pub use errno::Errno;
pub use memory::GuestMemory;
pub use strings::StringList;

/// The import module name of preview1.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// The preview1 functions kwasm implements so far. A program importing any
/// other is refused before it starts (see [`unsupported_import`]).
pub const SUPPORTED: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "fd_write",
    "fd_read",
    "fd_fdstat_get",
    "proc_exit",
    "clock_time_get",
    "clock_res_get",
    "random_get",
    "sched_yield",
];

/// The message for an import kwasm cannot satisfy, or `None` if it can.
pub fn unsupported_import(module: &str, name: &str) -> Option<alloc::string::String> {
    if module != MODULE {
        return Some(alloc::format!(
            "unknown import module `{module}` (import `{module}::{name}`): kwasm provides only {MODULE}"
        ));
    }
    if SUPPORTED.contains(&name) {
        None
    } else {
        Some(alloc::format!("not supported yet: wasi:{name}"))
    }
}

/// Clock ids (`clockid`).
pub mod clock {
    pub const REALTIME: u32 = 0;
    pub const MONOTONIC: u32 = 1;
    pub const PROCESS_CPUTIME: u32 = 2;
    pub const THREAD_CPUTIME: u32 = 3;
}

/// File types (`filetype`).
pub mod filetype {
    pub const UNKNOWN: u8 = 0;
    pub const BLOCK_DEVICE: u8 = 1;
    pub const CHARACTER_DEVICE: u8 = 2;
    pub const DIRECTORY: u8 = 3;
    pub const REGULAR_FILE: u8 = 4;
    pub const SOCKET_DGRAM: u8 = 5;
    pub const SOCKET_STREAM: u8 = 6;
    pub const SYMBOLIC_LINK: u8 = 7;
}

/// `fdflags` bits.
pub mod fdflags {
    pub const APPEND: u16 = 1 << 0;
    pub const DSYNC: u16 = 1 << 1;
    pub const NONBLOCK: u16 = 1 << 2;
    pub const RSYNC: u16 = 1 << 3;
    pub const SYNC: u16 = 1 << 4;
}

/// `rights` bits used for the standard streams.
pub mod rights {
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    pub const FD_WRITE: u64 = 1 << 6;
    pub const POLL_FD_READWRITE: u64 = 1 << 27;
}

/// What `fd_fdstat_get` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdStat {
    pub filetype: u8,
    pub flags: u16,
    pub rights_base: u64,
    pub rights_inheriting: u64,
}

/// The platform underneath: each call is what the program's process would
/// have done with a system call.
pub trait Host {
    fn write(&mut self, fd: u32, data: &[u8]) -> Result<usize, Errno>;
    fn read(&mut self, fd: u32, buf: &mut [u8]) -> Result<usize, Errno>;
    fn fdstat(&mut self, fd: u32) -> Result<FdStat, Errno>;
    /// Nanoseconds on clock `id`.
    fn clock_time(&mut self, id: u32) -> Result<u64, Errno>;
    /// Resolution of clock `id`, in nanoseconds.
    fn clock_res(&mut self, id: u32) -> Result<u64, Errno>;
    /// Fills `buf` with cryptographically secure random bytes.
    fn random(&mut self, buf: &mut [u8]) -> Result<(), Errno>;
    fn sched_yield(&mut self) -> Result<(), Errno>;
}

/// The program's arguments and environment.
pub struct Context {
    pub args: StringList,
    pub env: StringList,
}

fn result(r: Result<(), Errno>) -> Errno {
    match r {
        Ok(()) => errno::SUCCESS,
        Err(e) => e,
    }
}

/// `args_sizes_get(argc: *mut u32, argv_buf_size: *mut u32)`
pub fn args_sizes_get(cx: &Context, mem: &mut GuestMemory<'_>, argc: u32, buf_size: u32) -> Errno {
    result(cx.args.write_sizes(mem, argc, buf_size))
}

/// `args_get(argv: *mut *mut u8, argv_buf: *mut u8)`
pub fn args_get(cx: &Context, mem: &mut GuestMemory<'_>, argv: u32, buf: u32) -> Errno {
    result(cx.args.write(mem, argv, buf))
}

/// `environ_sizes_get(count: *mut u32, buf_size: *mut u32)`
pub fn environ_sizes_get(cx: &Context, mem: &mut GuestMemory<'_>, count: u32, buf_size: u32) -> Errno {
    result(cx.env.write_sizes(mem, count, buf_size))
}

/// `environ_get(environ: *mut *mut u8, environ_buf: *mut u8)`
pub fn environ_get(cx: &Context, mem: &mut GuestMemory<'_>, environ: u32, buf: u32) -> Errno {
    result(cx.env.write(mem, environ, buf))
}

/// The (offset, length) pairs of an iovec array, all checked against memory.
fn iovecs(mem: &GuestMemory<'_>, iovs: u32, count: u32) -> Result<Vec<(u32, u32)>, Errno> {
    let bytes = count.checked_mul(8).ok_or(errno::OVERFLOW)?;
    mem.check(iovs, bytes)?;
    let mut out = Vec::new();
    out.try_reserve_exact(count as usize).map_err(|_| errno::NOMEM)?;
    for i in 0..count {
        let base = mem.read_u32(iovs + i * 8)?;
        let len = mem.read_u32(iovs + i * 8 + 4)?;
        mem.check(base, len)?;
        out.push((base, len));
    }
    Ok(out)
}

/// Moves data through an iovec array in order, one `op(memory, base, len)`
/// per non-empty buffer, and stops at the first short transfer, so a call
/// never blocks again once it has moved data. An error after some data
/// moved ends the call with what moved (the error shows on the next call).
/// The total goes to `done_ptr`.
fn transfer(
    mem: &mut GuestMemory<'_>,
    iovs: u32,
    count: u32,
    done_ptr: u32,
    mut op: impl FnMut(&mut GuestMemory<'_>, u32, u32) -> Result<usize, Errno>,
) -> Errno {
    result((|| {
        mem.check(done_ptr, 4)?;
        let mut total: u32 = 0;
        for (base, len) in iovecs(mem, iovs, count)? {
            if len == 0 {
                continue;
            }
            let done = match op(mem, base, len) {
                Ok(n) => n as u32,
                Err(_) if total > 0 => break,
                Err(e) => return Err(e),
            };
            total = total.checked_add(done).ok_or(errno::OVERFLOW)?;
            if done < len {
                break;
            }
        }
        mem.write_u32(done_ptr, total)
    })())
}

/// `fd_write(fd, iovs: *const ciovec, iovs_len, nwritten: *mut u32)`
pub fn fd_write(
    host: &mut dyn Host,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    iovs: u32,
    count: u32,
    nwritten: u32,
) -> Errno {
    transfer(mem, iovs, count, nwritten, |m, base, len| {
        host.write(fd, m.slice(base, len)?)
    })
}

/// `fd_read(fd, iovs: *const iovec, iovs_len, nread: *mut u32)`
pub fn fd_read(host: &mut dyn Host, mem: &mut GuestMemory<'_>, fd: u32, iovs: u32, count: u32, nread: u32) -> Errno {
    transfer(mem, iovs, count, nread, |m, base, len| {
        host.read(fd, m.slice_mut(base, len)?)
    })
}

/// `fd_fdstat_get(fd, stat: *mut fdstat)`; the struct is 24 bytes:
/// filetype u8 @0, flags u16 @2, rights_base u64 @8, rights_inheriting u64 @16.
pub fn fd_fdstat_get(host: &mut dyn Host, mem: &mut GuestMemory<'_>, fd: u32, stat: u32) -> Errno {
    result((|| {
        mem.check(stat, 24)?;
        let s = host.fdstat(fd)?;
        let mut raw = [0u8; 24];
        raw[0] = s.filetype;
        raw[2..4].copy_from_slice(&s.flags.to_le_bytes());
        raw[8..16].copy_from_slice(&s.rights_base.to_le_bytes());
        raw[16..24].copy_from_slice(&s.rights_inheriting.to_le_bytes());
        mem.write_bytes(stat, &raw)
    })())
}

/// `clock_time_get(id, precision: u64, time: *mut u64)`
pub fn clock_time_get(host: &mut dyn Host, mem: &mut GuestMemory<'_>, id: u32, _precision: u64, time: u32) -> Errno {
    result((|| {
        mem.check(time, 8)?;
        let t = host.clock_time(id)?;
        mem.write_u64(time, t)
    })())
}

/// `clock_res_get(id, resolution: *mut u64)`
pub fn clock_res_get(host: &mut dyn Host, mem: &mut GuestMemory<'_>, id: u32, res: u32) -> Errno {
    result((|| {
        mem.check(res, 8)?;
        let r = host.clock_res(id)?;
        mem.write_u64(res, r)
    })())
}

/// `random_get(buf: *mut u8, len)`
pub fn random_get(host: &mut dyn Host, mem: &mut GuestMemory<'_>, buf: u32, len: u32) -> Errno {
    result((|| host.random(mem.slice_mut(buf, len)?))())
}

/// `sched_yield()`
pub fn sched_yield(host: &mut dyn Host) -> Errno {
    result(host.sched_yield())
}

#[cfg(test)]
mod tests;
