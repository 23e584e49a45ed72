//! `kwasm_net` (docs/kwasm_net.md) in user space, over libc sockets and
//! epoll, so that the servers kwasm runs in the kernel also run under
//! Wasmtime for comparison. Numbers and memory layouts are
//! `kwasm_wasi::net`'s (shared with kwasm.ko), errnos go through
//! `kwasm_wasi::errno::from_linux`, and the order of the checks (which
//! error wins when several apply) follows kwasm.ko's.
//!
//! wasmtime-wasi's preview1 has no socket descriptors, so here sockets live
//! in a table of their own that only `kwasm_net` calls see: `fd_read`,
//! `fd_close`, `poll_oneoff`, ... do not work on them (in kwasm.ko they do).
//! Its numbers start at 3, with the `--tcplisten` sockets first (as in
//! kwasm.ko), and a freed number is reused lowest first; 0–2 stand for the
//! standard streams, which are not sockets (`-NOTSOCK`), and any other
//! number not in the table is `-BADF`. Pollers are epoll instances, so
//! closing a socket drops its registrations, as the ABI requires. All of it
//! is closed when the run's store is dropped.

use kwasm_wasi::errno::{self, Errno};
use kwasm_wasi::net::{ctl, events, msg, option, ret, write_event, BatchOp, SockAddr};
use kwasm_wasi::net::{ADDRESS_SIZE, EVENT_SIZE, KIND_STREAM, MAX_EVENTS, MAX_POLLERS, MODULE, SOCKET_NONBLOCK};
use kwasm_wasi::GuestMemory;
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use wasmtime::{Caller, Extern, Linker, Result};

/// The first socket number: 0–2 are the standard streams.
const FIRST_FD: u32 = 3;

/// The sockets and pollers of one run.
pub struct Net {
    /// Socket `FIRST_FD + i` is `sockets[i]`.
    sockets: Vec<Option<OwnedFd>>,
    /// Indexes of `sockets` that are free, for lowest-first reuse.
    free: BTreeSet<usize>,
    /// Poller handle `i` is the epoll instance `pollers[i]`.
    pollers: Vec<Option<OwnedFd>>,
    /// One wait's events (kept for its capacity).
    ready: Vec<libc::epoll_event>,
}

/// The errno of the libc call that just failed.
fn last_errno() -> Errno {
    errno::from_linux(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
}

/// A libc result: negative is failure, with errno set.
fn check<T: Copy + Default + PartialOrd>(r: T) -> Result<T, Errno> {
    if r < T::default() {
        Err(last_errno())
    } else {
        Ok(r)
    }
}

/// Takes ownership of a descriptor a successful libc call returned.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: callers pass a new descriptor (from socket, accept4 or
    // epoll_create1) that nothing else owns or closes.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The socket level and name of a `set_option`/`get_option` number.
fn sockopt(o: i32) -> Result<(libc::c_int, libc::c_int), Errno> {
    Ok(match o {
        option::REUSEADDR => (libc::SOL_SOCKET, libc::SO_REUSEADDR),
        option::NODELAY => (libc::IPPROTO_TCP, libc::TCP_NODELAY),
        option::KEEPALIVE => (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        option::RCVBUF => (libc::SOL_SOCKET, libc::SO_RCVBUF),
        option::SNDBUF => (libc::SOL_SOCKET, libc::SO_SNDBUF),
        option::REUSEPORT => (libc::SOL_SOCKET, libc::SO_REUSEPORT),
        _ => return Err(errno::INVAL),
    })
}

fn getsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> Result<i32, Errno> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writing and `len` is `v`'s size.
    check(unsafe { libc::getsockopt(fd, level, name, (&mut v as *mut libc::c_int).cast(), &mut len) })?;
    Ok(v)
}

/// `poller_wait`'s timeout for epoll_wait: nanoseconds rounded up to
/// milliseconds (a wait never ends before it is up), negative forever.
pub fn timeout_ms(ns: i64) -> i32 {
    if ns < 0 {
        -1
    } else {
        (ns as u64).div_ceil(1_000_000).min(i32::MAX as u64) as i32
    }
}

/// The local (`peer` false) or remote address of a socket.
fn name(fd: RawFd, peer: bool) -> Result<SockAddr, Errno> {
    let mut a = SockAddr::empty();
    let buf = a.buffer();
    let mut len = buf.len() as libc::socklen_t;
    let ptr = buf.as_mut_ptr().cast::<libc::sockaddr>();
    // SAFETY: the kernel writes at most `len` bytes into `buf`, which has
    // that many; a syscall argument need not be aligned.
    check(unsafe {
        if peer {
            libc::getpeername(fd, ptr, &mut len)
        } else {
            libc::getsockname(fd, ptr, &mut len)
        }
    })?;
    a.set_len(len as usize);
    Ok(a)
}

impl Net {
    /// A table holding `listeners` (the `--tcplisten` sockets) as 3, 4, ...
    pub fn new(listeners: Vec<OwnedFd>) -> Net {
        Net {
            sockets: listeners.into_iter().map(Some).collect(),
            free: BTreeSet::new(),
            pollers: Vec::new(),
            ready: Vec::new(),
        }
    }

    /// The host descriptor of socket `fd`.
    fn socket(&self, fd: u32) -> Result<RawFd, Errno> {
        if fd < FIRST_FD {
            return Err(errno::NOTSOCK);
        }
        match self.sockets.get((fd - FIRST_FD) as usize) {
            Some(Some(s)) => Ok(s.as_raw_fd()),
            _ => Err(errno::BADF),
        }
    }

    /// Adds a socket at the lowest free number.
    fn install(&mut self, s: OwnedFd) -> u32 {
        let i = match self.free.pop_first() {
            Some(i) => {
                self.sockets[i] = Some(s);
                i
            }
            None => {
                self.sockets.push(Some(s));
                self.sockets.len() - 1
            }
        };
        FIRST_FD + i as u32
    }

    fn close(&mut self, fd: u32) -> Result<u32, Errno> {
        self.socket(fd)?;
        let i = (fd - FIRST_FD) as usize;
        // Closing the descriptor also drops its epoll registrations (no
        // other descriptor refers to the socket).
        self.sockets[i] = None;
        self.free.insert(i);
        Ok(0)
    }

    fn open(&mut self, family: i32, kind: i32, flags: i32) -> Result<u32, Errno> {
        let af = match SockAddr::family_of(family)? {
            2 => libc::AF_INET,
            _ => libc::AF_INET6,
        };
        if kind != KIND_STREAM {
            return Err(errno::NOTSUP);
        }
        if flags & !SOCKET_NONBLOCK != 0 {
            return Err(errno::INVAL);
        }
        let nonblock = if flags & SOCKET_NONBLOCK != 0 {
            libc::SOCK_NONBLOCK
        } else {
            0
        };
        // SAFETY: socket() takes no pointers.
        let fd = check(unsafe { libc::socket(af, libc::SOCK_STREAM | libc::SOCK_CLOEXEC | nonblock, 0) })?;
        Ok(self.install(owned(fd)))
    }

    fn bind_or_connect(&self, m: &GuestMemory<'_>, fd: u32, addr: u32, connect: bool) -> Result<u32, Errno> {
        let a = SockAddr::read(m, addr)?;
        let s = self.socket(fd)?;
        let bytes = a.as_bytes();
        let (ptr, len) = (bytes.as_ptr().cast::<libc::sockaddr>(), bytes.len() as libc::socklen_t);
        // SAFETY: `bytes` is a sockaddr of `len` bytes, alive for the call;
        // the kernel copies it, so it need not be aligned.
        check(unsafe {
            if connect {
                libc::connect(s, ptr, len)
            } else {
                libc::bind(s, ptr, len)
            }
        })?;
        Ok(0)
    }

    fn accept(&mut self, m: &mut GuestMemory<'_>, fd: u32, flags: i32, addr_out: u32) -> Result<u32, Errno> {
        if flags & !SOCKET_NONBLOCK != 0 {
            return Err(errno::INVAL);
        }
        // A bad address pointer must not cost the program a connection.
        if addr_out != 0 {
            m.check(addr_out, ADDRESS_SIZE)?;
        }
        let s = self.socket(fd)?;
        let mut peer = SockAddr::empty();
        let buf = peer.buffer();
        let mut len = buf.len() as libc::socklen_t;
        let nonblock = if flags & SOCKET_NONBLOCK != 0 {
            libc::SOCK_NONBLOCK
        } else {
            0
        };
        // SAFETY: the kernel writes at most `len` bytes into `buf`, which
        // has that many.
        let conn =
            check(unsafe { libc::accept4(s, buf.as_mut_ptr().cast(), &mut len, libc::SOCK_CLOEXEC | nonblock) })?;
        peer.set_len(len as usize);
        let new_fd = self.install(owned(conn));
        if addr_out != 0 {
            peer.write(m, addr_out)?;
        }
        Ok(new_fd)
    }

    fn recv(&self, m: &mut GuestMemory<'_>, fd: u32, buf: u32, len: u32, flags: i32) -> Result<u32, Errno> {
        if flags & !(msg::PEEK | msg::DONTWAIT | msg::WAITALL) != 0 {
            return Err(errno::INVAL);
        }
        let mut linux = 0;
        for (ours, theirs) in [
            (msg::PEEK, libc::MSG_PEEK),
            (msg::DONTWAIT, libc::MSG_DONTWAIT),
            (msg::WAITALL, libc::MSG_WAITALL),
        ] {
            if flags & ours != 0 {
                linux |= theirs;
            }
        }
        let s = self.socket(fd)?;
        let buf = m.slice_mut(buf, len)?;
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        let n = check(unsafe { libc::recv(s, buf.as_mut_ptr().cast(), buf.len(), linux) })?;
        Ok(n as u32)
    }

    fn send(&self, m: &GuestMemory<'_>, fd: u32, buf: u32, len: u32, flags: i32) -> Result<u32, Errno> {
        if flags & !msg::DONTWAIT != 0 {
            return Err(errno::INVAL);
        }
        let s = self.socket(fd)?;
        let data = m.slice(buf, len)?;
        // Never SIGPIPE: a closed connection is -PIPE.
        let linux = libc::MSG_NOSIGNAL
            | if flags & msg::DONTWAIT != 0 {
                libc::MSG_DONTWAIT
            } else {
                0
            };
        // SAFETY: the kernel reads at most `data.len()` bytes from `data`.
        let n = check(unsafe { libc::send(s, data.as_ptr().cast(), data.len(), linux) })?;
        Ok(n as u32)
    }

    fn set_option(&self, fd: u32, opt: i32, value: i32) -> Result<u32, Errno> {
        let s = self.socket(fd)?;
        if opt == option::NONBLOCK {
            // SAFETY: fcntl on a descriptor we own; no pointers.
            let flags = check(unsafe { libc::fcntl(s, libc::F_GETFL) })?;
            let flags = if value != 0 {
                flags | libc::O_NONBLOCK
            } else {
                flags & !libc::O_NONBLOCK
            };
            // SAFETY: as above.
            check(unsafe { libc::fcntl(s, libc::F_SETFL, flags) })?;
            return Ok(0);
        }
        let (level, name) = sockopt(opt)?;
        let v: libc::c_int = value;
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `v` is an int of `len` bytes, alive for the call.
        check(unsafe { libc::setsockopt(s, level, name, (&v as *const libc::c_int).cast(), len) })?;
        Ok(0)
    }

    fn get_option(&self, fd: u32, opt: i32) -> Result<u32, Errno> {
        let s = self.socket(fd)?;
        match opt {
            option::NONBLOCK => {
                // SAFETY: fcntl on a descriptor we own; no pointers.
                let flags = check(unsafe { libc::fcntl(s, libc::F_GETFL) })?;
                Ok(u32::from(flags & libc::O_NONBLOCK != 0))
            }
            // Reading SO_ERROR clears it.
            option::ERROR => match getsockopt_int(s, libc::SOL_SOCKET, libc::SO_ERROR)? {
                0 => Ok(0),
                e => Ok(u32::from(errno::from_linux(e))),
            },
            o => {
                let (level, name) = sockopt(o)?;
                Ok(getsockopt_int(s, level, name)?.max(0) as u32)
            }
        }
    }

    fn address(&self, m: &mut GuestMemory<'_>, fd: u32, out: u32, peer: bool) -> Result<u32, Errno> {
        name(self.socket(fd)?, peer)?.write(m, out)?;
        Ok(0)
    }

    fn poller(&self, handle: u32) -> Result<RawFd, Errno> {
        match self.pollers.get(handle as usize) {
            Some(Some(p)) => Ok(p.as_raw_fd()),
            _ => Err(errno::BADF),
        }
    }

    fn poller_create(&mut self) -> Result<u32, Errno> {
        let slot = match self.pollers.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.pollers.len() < MAX_POLLERS => {
                self.pollers.push(None);
                self.pollers.len() - 1
            }
            None => return Err(errno::MFILE),
        };
        // SAFETY: epoll_create1 takes no pointers.
        let ep = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        self.pollers[slot] = Some(owned(ep));
        Ok(slot as u32)
    }

    fn poller_ctl(&self, handle: u32, op: i32, fd: u32, ev: u32, data: u64) -> Result<u32, Errno> {
        let ep = self.poller(handle)?;
        // Only open sockets can be registered, so anything else is not.
        let registered = |fd| self.socket(fd).map_err(|_| errno::NOENT);
        let (op, target) = match op {
            ctl::DEL => (libc::EPOLL_CTL_DEL, registered(fd)?),
            _ if ev & !(events::READINESS | events::ONESHOT | events::ET) != 0 => return Err(errno::INVAL),
            ctl::ADD => (libc::EPOLL_CTL_ADD, self.socket(fd)?),
            ctl::MOD => (libc::EPOLL_CTL_MOD, registered(fd)?),
            _ => return Err(errno::INVAL),
        };
        // The bits are epoll's own, passed on unchanged.
        let mut event = libc::epoll_event { events: ev, u64: data };
        // SAFETY: `event` is a valid epoll_event for the call.
        check(unsafe { libc::epoll_ctl(ep, op, target, &mut event) })?;
        Ok(0)
    }

    fn poller_wait(
        &mut self,
        m: &mut GuestMemory<'_>,
        handle: u32,
        out: u32,
        max: u32,
        timeout_ns: i64,
    ) -> Result<u32, Errno> {
        if max == 0 {
            return Err(errno::INVAL);
        }
        let max = max.min(MAX_EVENTS);
        m.check(out, max * EVENT_SIZE)?;
        let ep = self.poller(handle)?;
        self.ready.resize(max as usize, libc::epoll_event { events: 0, u64: 0 });
        // SAFETY: the kernel writes at most `max` events into `ready`, which has room for `max`.
        let n = check(unsafe { libc::epoll_wait(ep, self.ready.as_mut_ptr(), max as i32, timeout_ms(timeout_ns)) })?;
        for (i, e) in self.ready[..n as usize].iter().enumerate() {
            // Copies: the fields of a packed struct cannot be borrowed.
            let (data, bits) = (e.u64, e.events);
            // Cannot fail: the whole array was checked above.
            write_event(m, out, i as u32, data, bits)?;
        }
        Ok(n as u32)
    }

    /// One op of a `submit` batch.
    fn batch_op(&mut self, m: &mut GuestMemory<'_>, op: BatchOp) -> Result<u32, Errno> {
        match op {
            BatchOp::Send { fd, buf, len, flags } => self.send(m, fd, buf, len, flags),
            BatchOp::Recv { fd, buf, len, flags } => self.recv(m, fd, buf, len, flags),
            BatchOp::PollerWait { poller, events, max_events, timeout_ns } => {
                self.poller_wait(m, poller, events, max_events, timeout_ns)
            }
        }
    }

    fn poller_close(&mut self, handle: u32) -> Result<u32, Errno> {
        self.poller(handle)?;
        self.pollers[handle as usize] = None;
        Ok(0)
    }
}

/// Runs `f` on the program's memory (empty if it exports none, so every
/// pointer is a fault) and its `Net`; returns the value or `-errno`.
fn call<T>(
    c: &mut Caller<'_, T>,
    get: fn(&mut T) -> &mut Net,
    f: impl FnOnce(&mut GuestMemory<'_>, &mut Net) -> Result<u32, Errno>,
) -> i32 {
    match c.get_export("memory").and_then(Extern::into_memory) {
        Some(memory) => {
            let (bytes, state) = memory.data_and_store_mut(c);
            ret(f(&mut GuestMemory::new(bytes), get(state)))
        }
        None => ret(f(&mut GuestMemory::new(&mut []), get(c.data_mut()))),
    }
}

/// Adds every kwasm_net function to `l`; `get` finds the run's `Net`.
pub fn add_to_linker<T: 'static>(l: &mut Linker<T>, get: fn(&mut T) -> &mut Net) -> Result<()> {
    /// `$name(args) => |memory, net| body`, the body a `Result<u32, Errno>`.
    macro_rules! bind {
        ($( $name:ident ( $( $arg:ident : $ty:ty ),* ) => |$m:ident, $n:ident| $body:expr ),* $(,)?) => {
            $(
                l.func_wrap(MODULE, stringify!($name), move |mut c: Caller<'_, T>, $( $arg: $ty ),*| -> i32 {
                    #[allow(unused_variables)]
                    call(&mut c, get, |$m, $n| $body)
                })?;
            )*
        };
    }
    bind!(
        socket(family: i32, kind: i32, flags: i32) => |m, n| n.open(family, kind, flags),
        bind(fd: u32, addr: u32) => |m, n| n.bind_or_connect(m, fd, addr, false),
        listen(fd: u32, backlog: i32) => |m, n| {
            // SAFETY: listen() takes no pointers.
            check(unsafe { libc::listen(n.socket(fd)?, backlog) }).map(|_| 0)
        },
        connect(fd: u32, addr: u32) => |m, n| n.bind_or_connect(m, fd, addr, true),
        accept(fd: u32, flags: i32, addr: u32) => |m, n| n.accept(m, fd, flags, addr),
        recv(fd: u32, buf: u32, len: u32, flags: i32) => |m, n| n.recv(m, fd, buf, len, flags),
        send(fd: u32, buf: u32, len: u32, flags: i32) => |m, n| n.send(m, fd, buf, len, flags),
        shutdown(fd: u32, how: i32) => |m, n| {
            // 0, 1, 2 are SHUT_RD, SHUT_WR, SHUT_RDWR.
            if !(0..=2).contains(&how) {
                return Err(errno::INVAL);
            }
            // SAFETY: shutdown() takes no pointers.
            check(unsafe { libc::shutdown(n.socket(fd)?, how) }).map(|_| 0)
        },
        close(fd: u32) => |m, n| n.close(fd),
        set_option(fd: u32, opt: i32, value: i32) => |m, n| n.set_option(fd, opt, value),
        get_option(fd: u32, opt: i32) => |m, n| n.get_option(fd, opt),
        local_addr(fd: u32, out: u32) => |m, n| n.address(m, fd, out, false),
        peer_addr(fd: u32, out: u32) => |m, n| n.address(m, fd, out, true),
        poller_create() => |m, n| n.poller_create(),
        poller_ctl(p: u32, op: i32, fd: u32, ev: u32, data: u64) => |m, n| n.poller_ctl(p, op, fd, ev, data),
        poller_wait(p: u32, out: u32, max: u32, timeout: i64) => |m, n| n.poller_wait(m, p, out, max, timeout),
        poller_close(p: u32) => |m, n| n.poller_close(p),
        submit(ops: u32, count: u32) => |m, n| {
            let done = kwasm_wasi::net::submit(m, ops, count, |m, op| Ok::<_, Infallible>(n.batch_op(m, op)));
            let Ok(r) = done;
            r
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_milliseconds() {
        assert_eq!(timeout_ms(-1), -1);
        assert_eq!(timeout_ms(i64::MIN), -1);
        assert_eq!(timeout_ms(0), 0);
        assert_eq!(timeout_ms(1), 1);
        assert_eq!(timeout_ms(1_000_000), 1);
        assert_eq!(timeout_ms(1_000_001), 2);
        assert_eq!(timeout_ms(i64::MAX), i32::MAX);
    }

    #[test]
    fn numbers_start_after_stdio_and_are_reused_lowest_first() {
        let mut n = Net::new(Vec::new());
        assert_eq!(n.socket(1), Err(errno::NOTSOCK));
        assert_eq!(n.socket(3), Err(errno::BADF));
        let a = n.open(4, KIND_STREAM, 0).unwrap();
        let b = n.open(6, KIND_STREAM, SOCKET_NONBLOCK).unwrap();
        let c = n.open(4, KIND_STREAM, 0).unwrap();
        assert_eq!((a, b, c), (3, 4, 5));
        assert_eq!(n.get_option(b, option::NONBLOCK), Ok(1));
        assert_eq!(n.close(b), Ok(0));
        assert_eq!(n.close(b), Err(errno::BADF));
        assert_eq!(n.close(a), Ok(0));
        assert_eq!(n.open(4, KIND_STREAM, 0), Ok(3));
        assert_eq!(n.open(4, KIND_STREAM, 0), Ok(4));
        assert_eq!(n.open(4, KIND_STREAM, 0), Ok(6));
        assert_eq!(n.open(5, KIND_STREAM, 0), Err(errno::AFNOSUPPORT));
        assert_eq!(n.open(4, 2, 0), Err(errno::NOTSUP));
        assert_eq!(n.open(4, KIND_STREAM, 2), Err(errno::INVAL));
    }

    #[test]
    fn pollers_are_limited_and_reused() {
        let mut n = Net::new(Vec::new());
        for i in 0..MAX_POLLERS as u32 {
            assert_eq!(n.poller_create(), Ok(i));
        }
        assert_eq!(n.poller_create(), Err(errno::MFILE));
        assert_eq!(n.poller_close(7), Ok(0));
        assert_eq!(n.poller_close(7), Err(errno::BADF));
        assert_eq!(n.poller_create(), Ok(7));
    }
}
