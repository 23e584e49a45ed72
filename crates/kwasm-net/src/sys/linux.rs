//! The native backend: libc sockets and epoll, so that a server built on
//! this crate also runs as an ordinary Linux program (the baseline the
//! wasm build is measured against). Every fd is `CLOEXEC`.

use crate::poll::{Ctl, ERR, ET, HUP, IN, ONESHOT, OUT, RDHUP};
use crate::socket::Opt;
use std::io;
use std::mem::{self, size_of};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::time::Duration;

// The ABI's event bits are epoll's; check it rather than translate.
const _: () = assert!(
    IN == libc::EPOLLIN as u32
        && OUT == libc::EPOLLOUT as u32
        && ERR == libc::EPOLLERR as u32
        && HUP == libc::EPOLLHUP as u32
        && RDHUP == libc::EPOLLRDHUP as u32
        && ONESHOT == libc::EPOLLONESHOT as u32
        && ET == libc::EPOLLET as u32
);

/// The kernel's event record. It is packed on x86_64, so its fields are
/// only ever copied out, never borrowed.
pub type RawEvent = libc::epoll_event;

pub const EMPTY_EVENT: RawEvent = libc::epoll_event { events: 0, u64: 0 };

/// The token and the ready bits of an event.
pub fn event_parts(e: &RawEvent) -> (u64, u32) {
    let e = *e;
    (e.u64, e.events)
}

/// A libc result that is -1 on failure, with the error from errno.
fn cvt<T: PartialEq + From<i8>>(r: T) -> io::Result<T> {
    if r == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Room for either kind of `sockaddr`, aligned for both.
#[repr(C)]
union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

fn to_raw(addr: &SocketAddr) -> (RawAddr, libc::socklen_t) {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_in is plain integers: all zeroes is a valid value.
            let mut sin: libc::sockaddr_in = unsafe { mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            (RawAddr { v4: sin }, size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_in6 is plain integers: all zeroes is a valid value.
            let mut sin6: libc::sockaddr_in6 = unsafe { mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            (RawAddr { v6: sin6 }, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

/// Calls `f` with a zeroed address buffer and its length, as `accept`,
/// `getsockname` and `getpeername` want, and decodes what it wrote.
fn from_raw(f: impl FnOnce(*mut libc::sockaddr, *mut libc::socklen_t) -> io::Result<()>) -> io::Result<SocketAddr> {
    // SAFETY: both sockaddr variants are plain integers: all zeroes is valid.
    let mut raw: RawAddr = unsafe { mem::zeroed() };
    let mut len = size_of::<RawAddr>() as libc::socklen_t;
    f(&mut raw as *mut RawAddr as *mut libc::sockaddr, &mut len)?;
    // SAFETY: every variant starts with the family field (sa_family_t) at
    // offset 0, and the buffer is initialized, so reading it through v4 is
    // sound; the family then says which variant the kernel wrote.
    match unsafe { raw.v4.sin_family } as i32 {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (family AF_INET).
            let sin = unsafe { raw.v4 };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Ok(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)).into())
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 (family AF_INET6).
            let sin6 = unsafe { raw.v6 };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Ok(SocketAddrV6::new(ip, u16::from_be(sin6.sin6_port), sin6.sin6_flowinfo, sin6.sin6_scope_id).into())
        }
        family => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("socket address of unexpected family {family}"),
        )),
    }
}

pub fn socket(v6: bool, nonblocking: bool) -> io::Result<RawFd> {
    let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    let flags = libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: no pointers; a failure is -1 with errno set.
    cvt(unsafe { libc::socket(family, libc::SOCK_STREAM | flags, 0) })
}

pub fn bind(fd: RawFd, addr: &SocketAddr) -> io::Result<()> {
    let (raw, len) = to_raw(addr);
    // SAFETY: `raw` is a valid sockaddr of `len` bytes for the call's duration.
    cvt(unsafe { libc::bind(fd, &raw as *const RawAddr as *const libc::sockaddr, len) }).map(drop)
}

pub fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: no pointers.
    cvt(unsafe { libc::listen(fd, backlog) }).map(drop)
}

pub fn connect(fd: RawFd, addr: &SocketAddr) -> io::Result<()> {
    let (raw, len) = to_raw(addr);
    // SAFETY: `raw` is a valid sockaddr of `len` bytes for the call's duration.
    cvt(unsafe { libc::connect(fd, &raw as *const RawAddr as *const libc::sockaddr, len) }).map(drop)
}

pub fn accept(fd: RawFd, nonblocking: bool) -> io::Result<(RawFd, SocketAddr)> {
    let flags = libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    let mut new_fd = -1;
    let peer = from_raw(|addr, len| {
        // SAFETY: `addr` points to `*len` writable bytes, as accept4 wants.
        new_fd = cvt(unsafe { libc::accept4(fd, addr, len, flags) })?;
        Ok(())
    })?;
    Ok((new_fd, peer))
}

pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    cvt(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) }).map(|n| n as usize)
}

pub fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of its length. MSG_NOSIGNAL: a
    // closed connection is EPIPE, not SIGPIPE, as the ABI promises.
    cvt(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) }).map(|n| n as usize)
}

pub fn shutdown(fd: RawFd, how: Shutdown) -> io::Result<()> {
    let how = match how {
        Shutdown::Read => libc::SHUT_RD,
        Shutdown::Write => libc::SHUT_WR,
        Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: no pointers.
    cvt(unsafe { libc::shutdown(fd, how) }).map(drop)
}

pub fn close(fd: RawFd) -> io::Result<()> {
    // SAFETY: the caller owns `fd` and never uses it again.
    cvt(unsafe { libc::close(fd) }).map(drop)
}

/// The `setsockopt` level and name of an option.
fn sockopt(opt: Opt) -> (i32, i32) {
    match opt {
        Opt::ReuseAddr => (libc::SOL_SOCKET, libc::SO_REUSEADDR),
        Opt::NoDelay => (libc::IPPROTO_TCP, libc::TCP_NODELAY),
        Opt::Error => (libc::SOL_SOCKET, libc::SO_ERROR),
    }
}

pub fn set_option(fd: RawFd, opt: Opt, value: i32) -> io::Result<()> {
    let (level, name) = sockopt(opt);
    // SAFETY: the option value is an int, passed with its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            size_of::<i32>() as libc::socklen_t,
        )
    })
    .map(drop)
}

pub fn get_option(fd: RawFd, opt: Opt) -> io::Result<i32> {
    let (level, name) = sockopt(opt);
    let mut value: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    // SAFETY: `value` has room for the int option and `len` says so.
    cvt(unsafe { libc::getsockopt(fd, level, name, &mut value as *mut i32 as *mut libc::c_void, &mut len) })?;
    Ok(value)
}

pub fn set_nonblocking(fd: RawFd, nonblocking: bool) -> io::Result<()> {
    let mut on = nonblocking as libc::c_int;
    // SAFETY: FIONBIO reads one int through the pointer, which is valid.
    cvt(unsafe { libc::ioctl(fd, libc::FIONBIO, &mut on) }).map(drop)
}

pub fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    // SAFETY: `addr` points to `*len` writable bytes, as getsockname wants.
    from_raw(|addr, len| cvt(unsafe { libc::getsockname(fd, addr, len) }).map(drop))
}

pub fn peer_addr(fd: RawFd) -> io::Result<SocketAddr> {
    // SAFETY: `addr` points to `*len` writable bytes, as getpeername wants.
    from_raw(|addr, len| cvt(unsafe { libc::getpeername(fd, addr, len) }).map(drop))
}

pub fn poller_create() -> io::Result<i32> {
    // SAFETY: no pointers.
    cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
}

pub fn poller_ctl(poller: i32, ctl: Ctl, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let op = match ctl {
        Ctl::Add => libc::EPOLL_CTL_ADD,
        Ctl::Modify => libc::EPOLL_CTL_MOD,
        Ctl::Delete => libc::EPOLL_CTL_DEL,
    };
    let mut event = libc::epoll_event { events, u64: token };
    // SAFETY: `event` is a valid epoll_event for the call's duration.
    cvt(unsafe { libc::epoll_ctl(poller, op, fd, &mut event) }).map(drop)
}

pub fn poller_wait(poller: i32, events: &mut [RawEvent], timeout: Option<Duration>) -> io::Result<usize> {
    // epoll counts milliseconds: round up, so a wait never ends before its timeout.
    let ms = match timeout {
        None => -1,
        Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
    };
    let max = events.len().min(i32::MAX as usize) as i32;
    // SAFETY: `events` has room for `max` records.
    let n = cvt(unsafe { libc::epoll_wait(poller, events.as_mut_ptr(), max, ms) })?;
    Ok(n as usize)
}

pub fn poller_close(poller: i32) -> io::Result<()> {
    close(poller)
}

/// A batch natively: its ops one by one, with the ABI's rule for stopping
/// (after an error or a short send). Returns how many ran.
pub fn submit(ops: &mut [crate::batch::RawOp]) -> io::Result<usize> {
    use crate::batch::{OP_POLLER_WAIT, OP_RECV, OP_SEND};
    for (i, op) in ops.iter_mut().enumerate() {
        let len = op.len as usize;
        // The `Batch` borrows each op's buffer, `len` bytes (a wait's: `len`
        // events), for as long as it lives, and nothing else uses it.
        let r = match op.op {
            // SAFETY: `buf` is valid for reads of `len` bytes (above).
            OP_SEND => send(op.fd, unsafe { std::slice::from_raw_parts(op.buf, len) }),
            // SAFETY: `buf` is valid for writes of `len` bytes (above).
            OP_RECV => recv(op.fd, unsafe { std::slice::from_raw_parts_mut(op.buf, len) }),
            OP_POLLER_WAIT => {
                // SAFETY: `buf` is `len` events, valid for writes (above).
                let events = unsafe { std::slice::from_raw_parts_mut(op.buf.cast::<RawEvent>(), len) };
                let timeout = u64::try_from(op.timeout_ns).ok().map(std::time::Duration::from_nanos);
                poller_wait(op.fd, events, timeout)
            }
            _ => Err(io::Error::from_raw_os_error(libc::EINVAL)),
        };
        op.result = match &r {
            Ok(n) => (*n).min(i32::MAX as usize) as i32,
            Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
        };
        let short_send = op.op == OP_SEND && matches!(r, Ok(n) if n < len);
        if r.is_err() || short_send {
            return Ok(i + 1);
        }
    }
    Ok(ops.len())
}
