//! `kwasm_net`, the import module for servers (docs/kwasm_net.md): its
//! numbers and memory layouts, shared by kwasm.ko and `kwasm-reference`,
//! which each do the socket calls themselves. Addresses are converted to
//! and from Linux `sockaddr_in`/`sockaddr_in6` bytes, which both hand to
//! the kernel as they are.

use crate::errno::{self, Errno};
use crate::memory::GuestMemory;

/// The import module name.
pub const MODULE: &str = "kwasm_net";

/// Every function of the module.
pub const FUNCTIONS: &[&str] = &[
    "socket",
    "bind",
    "listen",
    "connect",
    "accept",
    "recv",
    "send",
    "shutdown",
    "close",
    "set_option",
    "get_option",
    "local_addr",
    "peer_addr",
    "poller_create",
    "poller_ctl",
    "poller_wait",
    "poller_close",
];

/// `socket`'s family argument.
pub const FAMILY_IPV4: i32 = 4;
pub const FAMILY_IPV6: i32 = 6;
/// `socket`'s kind argument: the only one there is, a TCP stream.
pub const KIND_STREAM: i32 = 1;
/// `socket` and `accept` flag: the new fd is non-blocking.
pub const SOCKET_NONBLOCK: i32 = 1;

/// `recv`/`send` flags.
pub mod msg {
    pub const PEEK: i32 = 1;
    pub const DONTWAIT: i32 = 2;
    pub const WAITALL: i32 = 4;
}

/// `set_option`/`get_option` numbers.
pub mod option {
    pub const REUSEADDR: i32 = 1;
    pub const NODELAY: i32 = 2;
    pub const KEEPALIVE: i32 = 3;
    pub const RCVBUF: i32 = 4;
    pub const SNDBUF: i32 = 5;
    pub const REUSEPORT: i32 = 6;
    /// Get only: the pending socket error as a WASI errno (cleared).
    pub const ERROR: i32 = 7;
    pub const NONBLOCK: i32 = 8;
}

/// `poller_ctl` operations (not epoll's numbering: there DEL is 2).
pub mod ctl {
    pub const ADD: i32 = 1;
    pub const MOD: i32 = 2;
    pub const DEL: i32 = 3;
}

/// Readiness bits and registration flags: Linux's epoll bits, so both
/// implementations pass them on unchanged.
pub mod events {
    pub const IN: u32 = 0x1;
    pub const OUT: u32 = 0x4;
    pub const ERR: u32 = 0x8;
    pub const HUP: u32 = 0x10;
    pub const RDHUP: u32 = 0x2000;
    pub const ONESHOT: u32 = 1 << 30;
    pub const ET: u32 = 1 << 31;
    /// What a registration may ask for.
    pub const READINESS: u32 = IN | OUT | ERR | HUP | RDHUP;
    /// Reported whether asked for or not.
    pub const ALWAYS: u32 = ERR | HUP;
}

/// Bytes of an Address in guest memory.
pub const ADDRESS_SIZE: u32 = 28;
/// Bytes of an Event in guest memory.
pub const EVENT_SIZE: u32 = 16;
/// Pollers one run may have open.
pub const MAX_POLLERS: usize = 64;
/// Events one `poller_wait` returns at most (a larger `max_events` is
/// capped, so a wait's work stays bounded).
pub const MAX_EVENTS: u32 = 1024;

/// A call's result as the import returns it: the value, or `-errno`.
pub fn ret(r: Result<u32, Errno>) -> i32 {
    match r {
        Ok(v) => v.min(i32::MAX as u32) as i32,
        Err(e) => -i32::from(e),
    }
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

/// A Linux `sockaddr_in` or `sockaddr_in6`, as the kernel takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockAddr {
    bytes: [u8; 28],
    len: usize,
}

impl SockAddr {
    /// Room for any address the kernel hands back (`getsockname`, accept).
    pub fn empty() -> SockAddr {
        SockAddr { bytes: [0; 28], len: 28 }
    }

    /// The bytes to pass to the kernel.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Buffer for the kernel to fill; then [`set_len`](Self::set_len).
    pub fn buffer(&mut self) -> &mut [u8; 28] {
        &mut self.bytes
    }

    /// How many bytes the kernel filled in.
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(28);
    }

    /// The Linux address family (`AF_INET`, `AF_INET6`) of a kwasm_net
    /// socket family: what the kernel takes, and what its addresses carry.
    pub fn family_of(family: i32) -> Result<u16, Errno> {
        match family {
            FAMILY_IPV4 => Ok(AF_INET),
            FAMILY_IPV6 => Ok(AF_INET6),
            _ => Err(errno::AFNOSUPPORT),
        }
    }

    /// Decodes an Address (docs/kwasm_net.md) from guest memory.
    pub fn read(mem: &GuestMemory<'_>, ptr: u32) -> Result<SockAddr, Errno> {
        let a: [u8; 28] = mem.read_array(ptr)?;
        let family = u16::from_le_bytes([a[0], a[1]]);
        let port = u16::from_le_bytes([a[2], a[3]]).to_be_bytes();
        let mut s = SockAddr { bytes: [0; 28], len: 0 };
        match family {
            4 => {
                s.bytes[..2].copy_from_slice(&AF_INET.to_ne_bytes());
                s.bytes[2..4].copy_from_slice(&port);
                s.bytes[4..8].copy_from_slice(&a[8..12]);
                s.len = 16;
            }
            6 => {
                let flowinfo = u32::from_le_bytes([a[4], a[5], a[6], a[7]]);
                s.bytes[..2].copy_from_slice(&AF_INET6.to_ne_bytes());
                s.bytes[2..4].copy_from_slice(&port);
                s.bytes[4..8].copy_from_slice(&flowinfo.to_be_bytes());
                s.bytes[8..24].copy_from_slice(&a[8..24]);
                s.bytes[24..28].copy_from_slice(&a[24..28]);
                s.len = 28;
            }
            _ => return Err(errno::AFNOSUPPORT),
        }
        Ok(s)
    }

    /// Encodes this address as an Address into guest memory.
    pub fn write(&self, mem: &mut GuestMemory<'_>, ptr: u32) -> Result<(), Errno> {
        let b = &self.bytes;
        let mut a = [0u8; 28];
        a[2..4].copy_from_slice(&u16::from_be_bytes([b[2], b[3]]).to_le_bytes());
        match u16::from_ne_bytes([b[0], b[1]]) {
            AF_INET if self.len >= 16 => {
                a[..2].copy_from_slice(&4u16.to_le_bytes());
                a[8..12].copy_from_slice(&b[4..8]);
            }
            AF_INET6 if self.len >= 28 => {
                a[..2].copy_from_slice(&6u16.to_le_bytes());
                a[4..8].copy_from_slice(&u32::from_be_bytes([b[4], b[5], b[6], b[7]]).to_le_bytes());
                a[8..24].copy_from_slice(&b[8..24]);
                a[24..28].copy_from_slice(&b[24..28]);
            }
            _ => return Err(errno::AFNOSUPPORT),
        }
        mem.write_bytes(ptr, &a)
    }
}

/// Writes Event `index` of the array at `ptr`.
pub fn write_event(mem: &mut GuestMemory<'_>, ptr: u32, index: u32, user_data: u64, ready: u32) -> Result<(), Errno> {
    let at = index
        .checked_mul(EVENT_SIZE)
        .and_then(|o| ptr.checked_add(o))
        .ok_or(errno::FAULT)?;
    let mut e = [0u8; EVENT_SIZE as usize];
    e[..8].copy_from_slice(&user_data.to_le_bytes());
    e[8..12].copy_from_slice(&ready.to_le_bytes());
    mem.write_bytes(at, &e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(family: u16, port: u16, flow: u32, ip: &[u8], scope: u32) -> [u8; 28] {
        let mut a = [0u8; 28];
        a[..2].copy_from_slice(&family.to_le_bytes());
        a[2..4].copy_from_slice(&port.to_le_bytes());
        a[4..8].copy_from_slice(&flow.to_le_bytes());
        a[8..8 + ip.len()].copy_from_slice(ip);
        a[24..].copy_from_slice(&scope.to_le_bytes());
        a
    }

    #[test]
    fn ipv4_address_is_a_sockaddr_in() {
        let mut bytes = [0u8; 64];
        bytes[4..32].copy_from_slice(&address(4, 8080, 0, &[127, 0, 0, 1], 0));
        let mut mem = GuestMemory::new(&mut bytes);
        let s = SockAddr::read(&mem, 4).unwrap();
        assert_eq!(s.as_bytes(), &[2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        s.write(&mut mem, 32).unwrap();
        assert_eq!(mem.slice(32, 28).unwrap(), &address(4, 8080, 0, &[127, 0, 0, 1], 0));
    }

    #[test]
    fn ipv6_address_is_a_sockaddr_in6() {
        let ip: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
        let mut bytes = [0u8; 64];
        bytes[..28].copy_from_slice(&address(6, 443, 0x12345, &ip, 3));
        let mut mem = GuestMemory::new(&mut bytes);
        let s = SockAddr::read(&mem, 0).unwrap();
        let b = s.as_bytes();
        assert_eq!(b.len(), 28);
        assert_eq!(&b[..8], &[10, 0, 1, 0xbb, 0, 1, 0x23, 0x45]);
        assert_eq!(&b[8..24], &ip);
        assert_eq!(&b[24..], &3u32.to_ne_bytes());
        s.write(&mut mem, 32).unwrap();
        assert_eq!(mem.slice(32, 28).unwrap(), &address(6, 443, 0x12345, &ip, 3));
    }

    #[test]
    fn bad_addresses_are_refused() {
        let mut bytes = [0u8; 40];
        bytes[..28].copy_from_slice(&address(5, 1, 0, &[], 0));
        let mem = GuestMemory::new(&mut bytes);
        assert_eq!(SockAddr::read(&mem, 0), Err(errno::AFNOSUPPORT));
        assert_eq!(SockAddr::read(&mem, 13), Err(errno::FAULT));
        assert_eq!(SockAddr::read(&mem, u32::MAX), Err(errno::FAULT));
        assert_eq!(SockAddr::family_of(5), Err(errno::AFNOSUPPORT));
    }

    #[test]
    fn events_land_at_their_index_and_past_memory_is_a_fault() {
        let mut bytes = [0u8; 48];
        let mut mem = GuestMemory::new(&mut bytes);
        write_event(&mut mem, 0, 1, 0x0102_0304_0506_0708, events::IN | events::HUP).unwrap();
        assert_eq!(mem.slice(16, 8).unwrap(), &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(mem.slice(24, 4).unwrap(), &0x11u32.to_le_bytes());
        assert_eq!(write_event(&mut mem, 0, 2, 1, 1), Ok(()));
        assert_eq!(write_event(&mut mem, 0, 3, 1, 1), Err(errno::FAULT));
        assert_eq!(write_event(&mut mem, 40, u32::MAX, 1, 1), Err(errno::FAULT));
    }

    #[test]
    fn results_are_values_or_negative_errnos() {
        assert_eq!(ret(Ok(5)), 5);
        assert_eq!(ret(Err(errno::AGAIN)), -6);
        assert_eq!(ret(Ok(u32::MAX)), i32::MAX);
    }
}
