//! [`TcpListener`] and [`TcpStream`]: owned socket fds over the backend's
//! calls, closed when dropped.

use crate::sys;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};

/// How many connections may wait to be accepted; the kernel caps it at
/// `net.core.somaxconn` (4096 by default), so ask for that much.
const BACKLOG: i32 = 4096;

/// Socket options, numbered as the `kwasm_net` ABI numbers them (its
/// `NONBLOCK`, 8, is `sys::set_nonblocking`).
#[derive(Clone, Copy, Debug)]
#[repr(i32)]
pub(crate) enum Opt {
    ReuseAddr = 1,
    NoDelay = 2,
    /// The pending socket error (an errno, 0 if none); reading clears it.
    Error = 7,
}

/// An open socket fd, closed on drop.
struct Socket(RawFd);

impl Socket {
    fn new(addr: &SocketAddr) -> io::Result<Socket> {
        sys::socket(addr.is_ipv6(), false).map(Socket)
    }

    fn set_flag(&self, opt: Opt, on: bool) -> io::Result<()> {
        sys::set_option(self.0, opt, on as i32)
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        let errno = sys::get_option(self.0, Opt::Error)?;
        Ok((errno != 0).then(|| io::Error::from_raw_os_error(errno)))
    }

    fn into_raw(self) -> RawFd {
        let fd = self.0;
        std::mem::forget(self);
        fd
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // Nothing useful can be done about a failed close: the fd is gone
        // either way (as std's OwnedFd does, ignore it).
        let _ = sys::close(self.0);
    }
}

/// A listening TCP socket.
pub struct TcpListener(Socket);

impl TcpListener {
    /// A socket bound to `addr` (with `SO_REUSEADDR`, so a restarted server
    /// can bind again at once) and listening. It is blocking; see
    /// [`set_nonblocking`](Self::set_nonblocking).
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let sock = Socket::new(&addr)?;
        sock.set_flag(Opt::ReuseAddr, true)?;
        sys::bind(sock.0, &addr)?;
        sys::listen(sock.0, BACKLOG)?;
        Ok(TcpListener(sock))
    }

    /// The next connection and its peer's address. The stream is blocking,
    /// whatever the listener is.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_with(false)
    }

    /// [`accept`](Self::accept), but the stream is non-blocking from the
    /// start (one call instead of two, as an event loop wants).
    pub fn accept_nonblocking(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_with(true)
    }

    fn accept_with(&self, nonblocking: bool) -> io::Result<(TcpStream, SocketAddr)> {
        let (fd, peer) = sys::accept(self.0 .0, nonblocking)?;
        Ok((TcpStream(Socket(fd)), peer))
    }

    /// The address the listener is bound to (the port chosen, if it asked for 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.0 .0)
    }

    /// Non-blocking: [`accept`](Self::accept) fails with `WouldBlock`
    /// instead of waiting for a connection.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        sys::set_nonblocking(self.0 .0, nonblocking)
    }

    /// The pending socket error (`SO_ERROR`), clearing it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.take_error()
    }
}

/// A connected TCP socket. Besides the inherent methods it is
/// [`Read`] and [`Write`], also through a shared reference.
pub struct TcpStream(Socket);

impl TcpStream {
    /// A blocking connection to `addr`, established before this returns.
    pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let sock = Socket::new(&addr)?;
        sys::connect(sock.0, &addr)?;
        Ok(TcpStream(sock))
    }

    /// Bytes received into `buf`; 0 at the end of the stream (or for an
    /// empty `buf`). Non-blocking with nothing to read: `WouldBlock`.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        sys::recv(self.0 .0, buf)
    }

    /// Bytes of `buf` sent, maybe fewer than all. Non-blocking with no room
    /// to send: `WouldBlock`. A connection the peer closed is
    /// `BrokenPipe`, never a `SIGPIPE`.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        sys::send(self.0 .0, buf)
    }

    /// Shuts down the reading half, the writing half (the peer reads end of
    /// stream) or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        sys::shutdown(self.0 .0, how)
    }

    /// `TCP_NODELAY`: send small writes at once instead of coalescing them.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.0.set_flag(Opt::NoDelay, nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(sys::get_option(self.0 .0, Opt::NoDelay)? != 0)
    }

    /// Non-blocking: reads and writes that would wait fail with `WouldBlock`.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        sys::set_nonblocking(self.0 .0, nonblocking)
    }

    /// The pending socket error (`SO_ERROR`), clearing it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.take_error()
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.0 .0)
    }

    /// The other end's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        sys::peer_addr(self.0 .0)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        TcpStream::read(self, buf)
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        TcpStream::read(self, buf)
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        TcpStream::write(self, buf)
    }

    /// Nothing to do: writes go straight to the socket.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        TcpStream::write(self, buf)
    }

    /// Nothing to do: writes go straight to the socket.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

macro_rules! fd_traits {
    ($t:ident) => {
        impl AsRawFd for $t {
            fn as_raw_fd(&self) -> RawFd {
                self.0 .0
            }
        }

        impl IntoRawFd for $t {
            fn into_raw_fd(self) -> RawFd {
                self.0.into_raw()
            }
        }

        impl FromRawFd for $t {
            /// Takes ownership of `fd` (for instance the listening socket
            /// `kwasm run --tcplisten` puts at fd 3). Its blocking mode is
            /// left as it is.
            ///
            /// # Safety
            ///
            /// `fd` must be an open socket of the right kind that nothing
            /// else owns: it is closed when the value is dropped.
            unsafe fn from_raw_fd(fd: RawFd) -> $t {
                $t(Socket(fd))
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t)).field("fd", &self.0 .0).finish()
            }
        }
    };
}

fd_traits!(TcpListener);
fd_traits!(TcpStream);
