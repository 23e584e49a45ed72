//! TCP sockets and a readiness poller for the programs kwasm runs: the
//! guest side of the `kwasm_net` import module (`docs/kwasm_net.md`).
//!
//! One API, two backends. On `wasm32-wasip1` every call is one `kwasm_net`
//! import, served by kwasm.ko (or by `kwasm-reference` under Wasmtime).
//! Natively on Linux the same calls are libc sockets and epoll, so one
//! server source gives both the wasm program and its native baseline.
//!
//! * [`TcpListener`] and [`TcpStream`] own a socket fd and close it when
//!   dropped. They are blocking until [`set_nonblocking`](TcpStream::set_nonblocking)
//!   (or [`TcpListener::accept_nonblocking`]) says otherwise.
//! * [`Poller`] is epoll: register fds with an [`Interest`], a `u64` token
//!   and a [`Mode`], then [`wait`](Poller::wait) fills [`Events`]. A wait
//!   costs O(ready fds), not O(registered).
//! * [`Batch`] runs sends, receives and a wait in one call: a server's
//!   "send the replies, then wait" crosses into kwasm.ko once.
//! * Errors are [`std::io::Error`]s carrying the platform's errno (a WASI
//!   errno on wasm), so [`io::Error::kind`] means the same on both:
//!   `WouldBlock` for a non-blocking call that would wait, `Interrupted`
//!   for a wait cut short by a signal, and so on.
//!
//! ```no_run
//! use kwasm_net::{Events, Interest, Mode, Poller, TcpListener};
//! use std::os::fd::AsRawFd;
//!
//! let listener = TcpListener::bind("127.0.0.1:7000".parse().unwrap())?;
//! listener.set_nonblocking(true)?;
//! let poller = Poller::new()?;
//! poller.add(listener.as_raw_fd(), Interest::READABLE, 0, Mode::Level)?;
//! let mut events = Events::with_capacity(256);
//! loop {
//!     poller.wait(&mut events, None)?;
//!     for event in &events {
//!         if event.token == 0 {
//!             // Accept until WouldBlock; register each stream with a token of its own.
//!             let (_stream, _peer) = listener.accept_nonblocking()?;
//!         }
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

mod batch;
mod poll;
mod socket;

#[cfg(target_os = "wasi")]
#[path = "sys/wasi.rs"]
mod sys;

#[cfg(all(target_os = "linux", not(target_family = "wasm")))]
#[path = "sys/linux.rs"]
mod sys;

#[cfg(not(any(target_os = "wasi", all(target_os = "linux", not(target_family = "wasm")))))]
compile_error!("kwasm-net supports wasm32-wasip1 (the kwasm_net imports) and Linux (libc and epoll)");

pub use batch::Batch;
pub use poll::{Event, Events, Interest, Iter, Mode, Poller};
pub use socket::{TcpListener, TcpStream};

/// A socket address in the 28-byte layout of the `kwasm_net` ABI, which
/// the wasm backend hands to the imports:
///
/// | offset | type     | field                                          |
/// |--------|----------|------------------------------------------------|
/// | 0      | u16      | family: 4 = IPv4, 6 = IPv6                     |
/// | 2      | u16      | port, host byte order                          |
/// | 4      | u32      | IPv6 flow info (0 for IPv4)                    |
/// | 8      | [u8; 16] | address bytes in network order (IPv4: first 4) |
/// | 24     | u32      | IPv6 scope id (0 for IPv4)                     |
///
/// All integers are little-endian. Convert with `From<SocketAddr>` and
/// `TryFrom<Address> for SocketAddr` (an unknown family is `InvalidData`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address([u8; Address::LEN]);

impl Address {
    /// The size of an encoded address in bytes.
    pub const LEN: usize = 28;
    /// The family field of an IPv4 address.
    pub const FAMILY_V4: u16 = 4;
    /// The family field of an IPv6 address.
    pub const FAMILY_V6: u16 = 6;

    /// An address from its encoded bytes (not checked until converted).
    pub const fn from_bytes(bytes: [u8; Address::LEN]) -> Address {
        Address(bytes)
    }

    /// The encoded bytes.
    pub const fn as_bytes(&self) -> &[u8; Address::LEN] {
        &self.0
    }

    fn u16_at(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.0[at], self.0[at + 1]])
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes([self.0[at], self.0[at + 1], self.0[at + 2], self.0[at + 3]])
    }
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        let mut b = [0u8; Address::LEN];
        let (family, flowinfo, scope_id) = match addr {
            SocketAddr::V4(a) => {
                b[8..12].copy_from_slice(&a.ip().octets());
                (Address::FAMILY_V4, 0, 0)
            }
            SocketAddr::V6(a) => {
                b[8..24].copy_from_slice(&a.ip().octets());
                (Address::FAMILY_V6, a.flowinfo(), a.scope_id())
            }
        };
        b[0..2].copy_from_slice(&family.to_le_bytes());
        b[2..4].copy_from_slice(&addr.port().to_le_bytes());
        b[4..8].copy_from_slice(&flowinfo.to_le_bytes());
        b[24..28].copy_from_slice(&scope_id.to_le_bytes());
        Address(b)
    }
}

impl TryFrom<Address> for SocketAddr {
    type Error = io::Error;

    fn try_from(a: Address) -> io::Result<SocketAddr> {
        let port = a.u16_at(2);
        match a.u16_at(0) {
            Address::FAMILY_V4 => {
                let ip = Ipv4Addr::new(a.0[8], a.0[9], a.0[10], a.0[11]);
                Ok(SocketAddrV4::new(ip, port).into())
            }
            Address::FAMILY_V6 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&a.0[8..24]);
                Ok(SocketAddrV6::new(Ipv6Addr::from(octets), port, a.u32_at(4), a.u32_at(24)).into())
            }
            family => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("kwasm_net address of unknown family {family}"),
            )),
        }
    }
}
