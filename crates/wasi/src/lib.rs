//! WASI `wasi_snapshot_preview1` for kwasm, written against two small seams:
//! [`GuestMemory`] (the program's linear memory, every access checked) and
//! [`Host`] (what the platform does: read a file, open a path, wait, ...).
//!
//! Everything preview1 decides — layouts, bounds checks, rights, the fd
//! table, path rules, errno values — is here and unit-tested on the host;
//! the kernel module implements [`Host`] with direct kernel calls and binds
//! these functions into Wasmtime's linker. The reference for every rule is
//! wasmtime-wasi's own preview1 (`p1.rs`); the deliberate differences are
//! listed in `docs/wasi.md`.
//!
//! Every function takes `(host, cx, mem, ...)` followed by the import's
//! arguments exactly as wasm passes them (`i32` as `u32`, `i64` as `u64`,
//! `filedelta` as `i64`) and returns the errno; values it returns go to
//! guest memory as the ABI says. A bad pointer is [`errno::FAULT`], never a
//! panic.
#![no_std]
// The functions take the wasm import's arguments one by one, as many as it has.
#![allow(clippy::too_many_arguments)]

extern crate alloc;

pub mod errno;
mod fd;
mod fdtable;
mod host;
mod memory;
pub mod net;
mod path;
mod poll;
mod sock;
mod strings;

use alloc::vec::Vec;
pub use errno::Errno;
pub use fd::*;
use fdtable::{Entry, FdTable, Kind};
pub use host::*;
pub use memory::GuestMemory;
pub use path::*;
pub use poll::{poll_oneoff, POLL_MAX};
pub use sock::*;
pub use strings::StringList;

/// The import module name of preview1.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// Every preview1 function. `proc_exit` is the embedder's (it ends the
/// program); all others are functions of this crate with the same name.
pub const FUNCTIONS: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_advise",
    "fd_allocate",
    "fd_close",
    "fd_datasync",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_fdstat_set_rights",
    "fd_filestat_get",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_pread",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_pwrite",
    "fd_read",
    "fd_readdir",
    "fd_renumber",
    "fd_seek",
    "fd_sync",
    "fd_tell",
    "fd_write",
    "path_create_directory",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_link",
    "path_open",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
    "poll_oneoff",
    "proc_exit",
    "proc_raise",
    "sched_yield",
    "random_get",
    "sock_accept",
    "sock_recv",
    "sock_send",
    "sock_shutdown",
];

/// The message for an import kwasm cannot satisfy, or `None` if it can.
pub fn unsupported_import(module: &str, name: &str) -> Option<alloc::string::String> {
    let (functions, what) = match module {
        MODULE => (FUNCTIONS, "a preview1 function"),
        net::MODULE => (net::FUNCTIONS, "a kwasm_net function (docs/kwasm_net.md)"),
        _ => {
            return Some(alloc::format!(
                "unknown import module `{module}` (import `{module}::{name}`): kwasm provides only {MODULE} and {}",
                net::MODULE
            ))
        }
    };
    if functions.contains(&name) {
        None
    } else {
        Some(alloc::format!("unknown import `{module}::{name}`: not {what}"))
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
    pub const ALL: u16 = 0x1f;
}

/// `oflags` bits (`path_open`).
pub mod oflags {
    pub const CREAT: u32 = 1 << 0;
    pub const DIRECTORY: u32 = 1 << 1;
    pub const EXCL: u32 = 1 << 2;
    pub const TRUNC: u32 = 1 << 3;
    pub const ALL: u32 = 0xf;
}

/// `lookupflags` bits.
pub mod lookupflags {
    pub const SYMLINK_FOLLOW: u32 = 1 << 0;
}

/// `fstflags` bits (`*_set_times`).
pub mod fstflags {
    pub const ATIM: u32 = 1 << 0;
    pub const ATIM_NOW: u32 = 1 << 1;
    pub const MTIM: u32 = 1 << 2;
    pub const MTIM_NOW: u32 = 1 << 3;
    pub const ALL: u32 = 0xf;
}

/// `whence` values (`fd_seek`).
pub mod whence {
    pub const SET: u32 = 0;
    pub const CUR: u32 = 1;
    pub const END: u32 = 2;
}

/// `advice` values (`fd_advise`).
pub mod advice {
    pub const NORMAL: u8 = 0;
    pub const SEQUENTIAL: u8 = 1;
    pub const RANDOM: u8 = 2;
    pub const WILLNEED: u8 = 3;
    pub const DONTNEED: u8 = 4;
    pub const NOREUSE: u8 = 5;
}

/// `eventtype` values and `subclockflags`/`eventrwflags` bits (`poll_oneoff`).
pub mod event {
    pub const CLOCK: u8 = 0;
    pub const FD_READ: u8 = 1;
    pub const FD_WRITE: u8 = 2;
    pub const SUBSCRIPTION_CLOCK_ABSTIME: u16 = 1 << 0;
    pub const FD_READWRITE_HANGUP: u16 = 1 << 0;
}

/// Socket flags: `riflags`, `roflags`, `sdflags`.
pub mod sockflags {
    pub const RECV_PEEK: u32 = 1 << 0;
    pub const RECV_WAITALL: u32 = 1 << 1;
    pub const RECV_DATA_TRUNCATED: u16 = 1 << 0;
    pub const SHUT_RD: u32 = 1 << 0;
    pub const SHUT_WR: u32 = 1 << 1;
}

/// `rights` bits.
pub mod rights {
    pub const FD_DATASYNC: u64 = 1 << 0;
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_SEEK: u64 = 1 << 2;
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    pub const FD_SYNC: u64 = 1 << 4;
    pub const FD_TELL: u64 = 1 << 5;
    pub const FD_WRITE: u64 = 1 << 6;
    pub const FD_ADVISE: u64 = 1 << 7;
    pub const FD_ALLOCATE: u64 = 1 << 8;
    pub const PATH_CREATE_DIRECTORY: u64 = 1 << 9;
    pub const PATH_CREATE_FILE: u64 = 1 << 10;
    pub const PATH_LINK_SOURCE: u64 = 1 << 11;
    pub const PATH_LINK_TARGET: u64 = 1 << 12;
    pub const PATH_OPEN: u64 = 1 << 13;
    pub const FD_READDIR: u64 = 1 << 14;
    pub const PATH_READLINK: u64 = 1 << 15;
    pub const PATH_RENAME_SOURCE: u64 = 1 << 16;
    pub const PATH_RENAME_TARGET: u64 = 1 << 17;
    pub const PATH_FILESTAT_GET: u64 = 1 << 18;
    pub const PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
    pub const PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
    pub const FD_FILESTAT_GET: u64 = 1 << 21;
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    pub const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
    pub const PATH_SYMLINK: u64 = 1 << 24;
    pub const PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
    pub const PATH_UNLINK_FILE: u64 = 1 << 26;
    pub const POLL_FD_READWRITE: u64 = 1 << 27;
    pub const SOCK_SHUTDOWN: u64 = 1 << 28;
    pub const SOCK_ACCEPT: u64 = 1 << 29;
    /// Every right preview1 defines.
    pub const ALL: u64 = (1 << 30) - 1;

    /// A preopened directory's base rights, as wasmtime-wasi reports them.
    pub const PREOPEN_BASE: u64 = PATH_CREATE_DIRECTORY
        | PATH_CREATE_FILE
        | PATH_LINK_SOURCE
        | PATH_LINK_TARGET
        | PATH_OPEN
        | FD_READDIR
        | PATH_READLINK
        | PATH_RENAME_SOURCE
        | PATH_RENAME_TARGET
        | PATH_SYMLINK
        | PATH_REMOVE_DIRECTORY
        | PATH_UNLINK_FILE
        | PATH_FILESTAT_GET
        | PATH_FILESTAT_SET_TIMES
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_TIMES;
    /// A preopened directory's inheriting rights, as wasmtime-wasi reports them.
    pub const PREOPEN_INHERITING: u64 = PREOPEN_BASE
        | FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_WRITE
        | FD_ADVISE
        | FD_ALLOCATE
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_SIZE
        | FD_FILESTAT_SET_TIMES
        | POLL_FD_READWRITE;
    /// A socket's rights (wasmtime-wasi has no preview1 sockets; these are
    /// what a socket can do).
    pub const SOCKET: u64 =
        FD_READ | FD_WRITE | FD_FDSTAT_SET_FLAGS | FD_FILESTAT_GET | POLL_FD_READWRITE | SOCK_SHUTDOWN | SOCK_ACCEPT;
}

/// Largest number of open fds a program gets unless the embedder sets
/// another with [`Wasi::set_fd_limit`] (Linux's default `RLIMIT_NOFILE`).
pub const DEFAULT_FD_LIMIT: u32 = 1024;

/// One program's WASI state: its arguments, environment and fd table (what
/// wasmtime-wasi's `WasiP1Ctx` holds). `F` is the platform's open file
/// ([`Host::File`]); dropping the context drops, and so closes, them all.
pub struct Wasi<F> {
    pub args: StringList,
    pub env: StringList,
    fds: FdTable<F>,
}

impl<F> Wasi<F> {
    /// A context with no fds yet: add the standard streams with
    /// [`set_stdio`](Self::set_stdio), then the preopens in order.
    pub fn new(args: StringList, env: StringList) -> Self {
        Wasi { args, env, fds: FdTable::new(DEFAULT_FD_LIMIT) }
    }

    /// Makes `file` standard stream `fd` (0: input, 1 and 2: output).
    /// `filetype` is what `fd_fdstat_get`/`fd_filestat_get` report; for
    /// the same answers as wasmtime-wasi pass
    /// [`CHARACTER_DEVICE`](filetype::CHARACTER_DEVICE) for a terminal and
    /// [`UNKNOWN`](filetype::UNKNOWN) otherwise. Standard streams behave
    /// as streams whatever they are (no seek, no metadata), as there.
    pub fn set_stdio(&mut self, fd: u32, file: F, filetype: u8) -> Result<(), Errno> {
        let (input, right) = match fd {
            0 => (true, rights::FD_READ),
            1 | 2 => (false, rights::FD_WRITE),
            _ => return Err(errno::INVAL),
        };
        self.fds.insert_at(fd, Entry::new(file, Kind::Stdio { input }, filetype, right, right))
    }

    /// Adds a preopened directory that the program finds under
    /// `guest_name` (`fd_prestat_dir_name`). Preopens are numbered from 3
    /// in the order they are added; the fd is returned.
    pub fn add_preopen(&mut self, dir: F, guest_name: Vec<u8>) -> Result<u32, Errno> {
        let fd = self.fds.next_fd().max(3);
        let kind = Kind::Dir { preopen: Some(guest_name), resume: Default::default() };
        let entry = Entry::new(dir, kind, filetype::DIRECTORY, rights::PREOPEN_BASE, rights::PREOPEN_INHERITING);
        self.fds.insert_at(fd, entry)?;
        Ok(fd)
    }

    /// Adds a socket the program is handed (e.g. a listening socket); its
    /// `filetype` is [`SOCKET_STREAM`](filetype::SOCKET_STREAM) or
    /// [`SOCKET_DGRAM`](filetype::SOCKET_DGRAM). Returns its fd.
    pub fn add_socket(&mut self, sock: F, filetype: u8) -> Result<u32, Errno> {
        let fd = self.fds.next_fd().max(3);
        self.fds.insert_at(fd, Entry::new(sock, Kind::Socket, filetype, rights::SOCKET, rights::SOCKET))?;
        Ok(fd)
    }

    /// Most fds open at once; past it, opening answers [`errno::MFILE`].
    pub fn set_fd_limit(&mut self, limit: u32) {
        self.fds.set_limit(limit);
    }

    /// The platform file behind `fd`, if it is open.
    pub fn file(&self, fd: u32) -> Option<&F> {
        self.fds.get(fd).ok().map(|e| &e.file)
    }

    /// How many fds are open.
    pub fn open_fds(&self) -> u32 {
        self.fds.len()
    }
}

fn result(r: Result<(), Errno>) -> Errno {
    match r {
        Ok(()) => errno::SUCCESS,
        Err(e) => e,
    }
}

/// `args_sizes_get(argc: *mut u32, argv_buf_size: *mut u32)`
pub fn args_sizes_get<H: Host + ?Sized>(
    _host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    argc: u32,
    buf_size: u32,
) -> Errno {
    result(cx.args.write_sizes(mem, argc, buf_size))
}

/// `args_get(argv: *mut *mut u8, argv_buf: *mut u8)`
pub fn args_get<H: Host + ?Sized>(
    _host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    argv: u32,
    buf: u32,
) -> Errno {
    result(cx.args.write(mem, argv, buf))
}

/// `environ_sizes_get(count: *mut u32, buf_size: *mut u32)`
pub fn environ_sizes_get<H: Host + ?Sized>(
    _host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    count: u32,
    buf_size: u32,
) -> Errno {
    result(cx.env.write_sizes(mem, count, buf_size))
}

/// `environ_get(environ: *mut *mut u8, environ_buf: *mut u8)`
pub fn environ_get<H: Host + ?Sized>(
    _host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    environ: u32,
    buf: u32,
) -> Errno {
    result(cx.env.write(mem, environ, buf))
}

fn check_clock(id: u32) -> Result<(), Errno> {
    if id <= clock::THREAD_CPUTIME {
        Ok(())
    } else {
        Err(errno::INVAL)
    }
}

/// `clock_time_get(id, precision: u64, time: *mut u64)`; the precision is
/// a hint and ignored.
pub fn clock_time_get<H: Host + ?Sized>(
    host: &mut H,
    _cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    id: u32,
    _precision: u64,
    time: u32,
) -> Errno {
    result((|| {
        check_clock(id)?;
        mem.check(time, 8)?;
        let t = host.clock_time(id)?;
        mem.write_u64(time, t)
    })())
}

/// `clock_res_get(id, resolution: *mut u64)`
pub fn clock_res_get<H: Host + ?Sized>(
    host: &mut H,
    _cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    id: u32,
    res: u32,
) -> Errno {
    result((|| {
        check_clock(id)?;
        mem.check(res, 8)?;
        let r = host.clock_res(id)?;
        mem.write_u64(res, r)
    })())
}

/// `random_get(buf: *mut u8, len)`
pub fn random_get<H: Host + ?Sized>(
    host: &mut H,
    _cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    buf: u32,
    len: u32,
) -> Errno {
    result((|| host.random(mem.slice_mut(buf, len)?))())
}

/// `sched_yield()`
pub fn sched_yield<H: Host + ?Sized>(host: &mut H, _cx: &mut Wasi<H::File>, _mem: &mut GuestMemory<'_>) -> Errno {
    result(host.sched_yield())
}

/// The highest preview1 `signal` number (`SIGSYS`).
const SIGNAL_MAX: u32 = 30;

/// `proc_raise(sig)`: raises the signal on the program's process.
pub fn proc_raise<H: Host + ?Sized>(host: &mut H, _cx: &mut Wasi<H::File>, _mem: &mut GuestMemory<'_>, sig: u32) -> Errno {
    if sig > SIGNAL_MAX {
        return errno::INVAL;
    }
    result(host.raise(sig as u8))
}

#[cfg(test)]
mod tests;
