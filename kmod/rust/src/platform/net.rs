//! Sockets, used as the calling process's own socket calls would use them:
//! created in its network namespace with its credentials (the kernel's own
//! permission checks, e.g. binding a port below 1024, apply), reached
//! through their files. What WASI's `sock_*` and kwasm_net need.

use super::ffi::{self, int_result};
use super::file::FileRef;

/// `MSG_*` flags of recv/send.
pub const MSG_PEEK: i32 = 0x2;
pub const MSG_DONTWAIT: i32 = 0x40;
pub const MSG_WAITALL: i32 = 0x100;
const MSG_NOSIGNAL: i32 = 0x4000;

/// Socket options kwasm offers, each an int option of Linux.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOption {
    ReuseAddr,
    ReusePort,
    KeepAlive,
    RecvBuffer,
    SendBuffer,
    NoDelay,
}

impl SockOption {
    /// (level, name) as setsockopt(2) takes them.
    fn linux(self) -> (i32, i32) {
        const SOL_SOCKET: i32 = 1;
        const IPPROTO_TCP: i32 = 6;
        match self {
            SockOption::ReuseAddr => (SOL_SOCKET, 2),
            SockOption::ReusePort => (SOL_SOCKET, 15),
            SockOption::KeepAlive => (SOL_SOCKET, 9),
            SockOption::SendBuffer => (SOL_SOCKET, 7),
            SockOption::RecvBuffer => (SOL_SOCKET, 8),
            SockOption::NoDelay => (IPPROTO_TCP, 1),
        }
    }
}

fn len_result(n: i32) -> Result<usize, i32> {
    int_result(n).map(|_| n as usize)
}

/// `socket(family, SOCK_STREAM, IPPROTO_TCP)` (`family`: `AF_INET` or
/// `AF_INET6`): a new TCP socket's file.
pub fn open_stream(family: i32, nonblock: bool) -> Result<FileRef, i32> {
    // SAFETY: process context; the result is a new file reference or ERR_PTR.
    FileRef::from_raw(unsafe { ffi::kwasm_sock_open(family, nonblock) })
}

/// `bind(2)`; `addr` is a `sockaddr_in`/`sockaddr_in6`.
pub fn bind(f: &FileRef, addr: &[u8]) -> Result<(), i32> {
    // SAFETY: `f` is held; the kernel reads `addr.len()` bytes of `addr`.
    int_result(unsafe { ffi::kwasm_sock_bind(f.raw(), addr.as_ptr().cast(), addr.len() as i32) })
}

/// `listen(2)`.
pub fn listen(f: &FileRef, backlog: i32) -> Result<(), i32> {
    // SAFETY: `f` is held.
    int_result(unsafe { ffi::kwasm_sock_listen(f.raw(), backlog) })
}

/// `connect(2)` (non-blocking per the file's O_NONBLOCK: EINPROGRESS).
pub fn connect(f: &FileRef, addr: &[u8]) -> Result<(), i32> {
    // SAFETY: as bind().
    int_result(unsafe { ffi::kwasm_sock_connect(f.raw(), addr.as_ptr().cast(), addr.len() as i32) })
}

/// `getsockname(2)` (`peer`: `getpeername(2)`) into `out`; its length.
pub fn name(f: &FileRef, peer: bool, out: &mut [u8; 28]) -> Result<usize, i32> {
    // SAFETY: `f` is held; the glue writes at most 28 bytes (sockaddr_in6).
    len_result(unsafe { ffi::kwasm_sock_name(f.raw(), out.as_mut_ptr().cast(), peer) })
}

/// `accept4(2)` on a listening socket.
pub fn accept(f: &FileRef, nonblock: bool) -> Result<FileRef, i32> {
    // SAFETY: `f` is held; the result is a new file reference or ERR_PTR.
    FileRef::from_raw(unsafe { ffi::kwasm_sock_accept(f.raw(), nonblock) })
}

/// `recv(2)` into one buffer; `flags` are `MSG_*`.
pub fn recv(f: &FileRef, buf: &mut [u8], flags: i32) -> Result<usize, i32> {
    let len = buf.len().min(i32::MAX as usize);
    // SAFETY: `f` is held; `buf` is writable for `len` bytes.
    len_result(unsafe { ffi::kwasm_sock_recv(f.raw(), buf.as_mut_ptr().cast(), len, flags) })
}

/// `send(2)` of one buffer; never raises SIGPIPE (EPIPE instead).
pub fn send(f: &FileRef, data: &[u8], flags: i32) -> Result<usize, i32> {
    let len = data.len().min(i32::MAX as usize);
    // SAFETY: `f` is held; `data` is readable for `len` bytes.
    len_result(unsafe { ffi::kwasm_sock_send(f.raw(), data.as_ptr().cast(), len, flags | MSG_NOSIGNAL) })
}

/// `shutdown(2)`: SHUT_RD 0, SHUT_WR 1, SHUT_RDWR 2.
pub fn shutdown(f: &FileRef, how: i32) -> Result<(), i32> {
    // SAFETY: `f` is held.
    int_result(unsafe { ffi::kwasm_sock_shutdown(f.raw(), how) })
}

/// `setsockopt(2)` of an int option.
pub fn set_option(f: &FileRef, option: SockOption, value: i32) -> Result<(), i32> {
    let (level, name) = option.linux();
    // SAFETY: `f` is held; process context.
    int_result(unsafe { ffi::kwasm_sock_setopt(f.raw(), level, name, value) })
}

/// `getsockopt(2)` of an int option.
pub fn get_option(f: &FileRef, option: SockOption) -> Result<i32, i32> {
    let (level, name) = option.linux();
    // SAFETY: `f` is held.
    let v = unsafe { ffi::kwasm_sock_getopt(f.raw(), level, name) };
    int_result(v).map(|_| v)
}

/// `SO_ERROR`: the pending error (a Linux errno, 0 if none), cleared.
pub fn take_error(f: &FileRef) -> Result<i32, i32> {
    // SAFETY: `f` is held.
    let e = unsafe { ffi::kwasm_sock_error(f.raw()) };
    int_result(e).map(|_| e)
}

/// Whether `f` is a socket.
pub fn is_socket(f: &FileRef) -> bool {
    // SAFETY: `f` is held.
    unsafe { ffi::kwasm_file_is_socket(f.raw()) }
}
