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
    "submit",
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

/// `submit`: operations that run one after another in one call, so that a
/// server's "send the replies, then wait" crosses into the host once.
pub mod batch {
    /// The operations, in an Op's first field.
    pub const SEND: u32 = 1;
    pub const RECV: u32 = 2;
    pub const POLLER_WAIT: u32 = 3;
    /// Bytes of an Op in guest memory.
    pub const OP_SIZE: u32 = 32;
    /// Ops one `submit` takes at most.
    pub const MAX_OPS: u32 = 64;
    /// Where an Op's result goes (offset in the Op).
    pub const RESULT_OFFSET: u32 = 20;
}

/// One operation of a `submit` batch, decoded (docs/kwasm_net.md, "Op").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchOp {
    Send { fd: u32, buf: u32, len: u32, flags: i32 },
    Recv { fd: u32, buf: u32, len: u32, flags: i32 },
    PollerWait { poller: u32, events: u32, max_events: u32, timeout_ns: i64 },
}

impl BatchOp {
    /// Decodes Op `index` of the array at `ops`: what to run, or the
    /// errno that is its result (an unknown operation, a reserved field
    /// that is not 0).
    fn read(mem: &GuestMemory<'_>, ops: u32, index: u32) -> Result<Result<BatchOp, Errno>, Errno> {
        let at = ops + index * batch::OP_SIZE;
        let raw: [u8; batch::OP_SIZE as usize] = mem.read_array(at)?;
        let u32_at = |o: usize| u32::from_le_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]]);
        let (op, fd, buf, len, flags) = (u32_at(0), u32_at(4), u32_at(8), u32_at(12), u32_at(16) as i32);
        let timeout_ns = (u64::from(u32_at(24)) | u64::from(u32_at(28)) << 32) as i64;
        Ok(match op {
            batch::SEND | batch::RECV if timeout_ns != 0 => Err(errno::INVAL),
            batch::SEND => Ok(BatchOp::Send { fd, buf, len, flags }),
            batch::RECV => Ok(BatchOp::Recv { fd, buf, len, flags }),
            batch::POLLER_WAIT if flags != 0 => Err(errno::INVAL),
            batch::POLLER_WAIT => Ok(BatchOp::PollerWait {
                poller: fd,
                events: buf,
                max_events: len,
                timeout_ns,
            }),
            _ => Err(errno::INVAL),
        })
    }

    /// Whether the ops after this one, which ended with `r`, still run:
    /// not after an error, nor after a send that sent less than asked
    /// (what follows usually depends on it: a wait would not know that
    /// this socket must now wait to be writable).
    fn chain_goes_on(&self, r: Result<u32, Errno>) -> bool {
        match (self, r) {
            (_, Err(_)) => false,
            (BatchOp::Send { len, .. }, Ok(sent)) => sent >= *len,
            _ => true,
        }
    }
}

/// `submit(ops, count)`: runs the `count` Ops at `ops` in order with `run`
/// and writes each one's result (value or `-errno`) into it, stopping
/// after an op that ends the chain ([`BatchOp::chain_goes_on`]). Returns
/// how many ran; `Err` without running any if the array is not in memory
/// or `count` is 0 or above [`batch::MAX_OPS`]. `run` may also end the
/// whole call (`E`: a trap), after the ops before it have run.
pub fn submit<E>(
    mem: &mut GuestMemory<'_>,
    ops: u32,
    count: u32,
    mut run: impl FnMut(&mut GuestMemory<'_>, BatchOp) -> Result<Result<u32, Errno>, E>,
) -> Result<Result<u32, Errno>, E> {
    if count == 0 || count > batch::MAX_OPS {
        return Ok(Err(errno::INVAL));
    }
    if let Err(e) = mem.check(ops, count * batch::OP_SIZE) {
        return Ok(Err(e));
    }
    for i in 0..count {
        // Reading and writing the Op cannot fail: the array was checked
        // above, and the program's memory does not change size while the
        // call runs.
        let (r, goes_on) = match BatchOp::read(mem, ops, i) {
            Ok(Ok(op)) => {
                let r = run(mem, op)?;
                (r, op.chain_goes_on(r))
            }
            Ok(Err(e)) => (Err(e), false),
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = mem.write_u32(ops + i * batch::OP_SIZE + batch::RESULT_OFFSET, ret(r) as u32) {
            return Ok(Err(e));
        }
        if !goes_on {
            return Ok(Ok(i + 1));
        }
    }
    Ok(Ok(count))
}

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

    fn op(code: u32, fd: u32, buf: u32, len: u32, flags: i32, timeout: i64) -> [u8; 32] {
        let mut o = [0u8; 32];
        for (at, v) in [(0, code), (4, fd), (8, buf), (12, len), (16, flags as u32), (20, 0xdead)] {
            o[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        o[24..].copy_from_slice(&timeout.to_le_bytes());
        o
    }

    fn result(mem: &GuestMemory<'_>, i: u32) -> i32 {
        mem.read_u32(i * 32 + batch::RESULT_OFFSET).unwrap() as i32
    }

    #[test]
    fn a_batch_runs_in_order_and_stops_after_a_short_send() {
        let mut bytes = [0u8; 256];
        bytes[..32].copy_from_slice(&op(batch::RECV, 5, 200, 10, 0, 0));
        bytes[32..64].copy_from_slice(&op(batch::SEND, 6, 200, 10, 0, 0));
        bytes[64..96].copy_from_slice(&op(batch::SEND, 7, 200, 10, 0, 0));
        bytes[96..128].copy_from_slice(&op(batch::POLLER_WAIT, 0, 200, 4, 0, -1));
        let mut mem = GuestMemory::new(&mut bytes);
        let mut seen = alloc::vec::Vec::new();
        let r = submit::<()>(&mut mem, 0, 4, |_, op| {
            seen.push(op);
            Ok(match op {
                BatchOp::Recv { .. } => Ok(3),
                BatchOp::Send { fd: 6, len, .. } => Ok(len),
                BatchOp::Send { .. } => Ok(4),
                BatchOp::PollerWait { .. } => Ok(1),
            })
        });
        assert_eq!(r, Ok(Ok(3)));
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], BatchOp::Recv { fd: 5, buf: 200, len: 10, flags: 0 });
        assert_eq!([result(&mem, 0), result(&mem, 1), result(&mem, 2)], [3, 10, 4]);
        // The wait did not run: its result field is as the program left it.
        assert_eq!(result(&mem, 3), 0xdead);
    }

    #[test]
    fn a_batch_stops_after_an_error_and_checks_its_ops() {
        let mut bytes = [0u8; 128];
        bytes[..32].copy_from_slice(&op(batch::SEND, 6, 0, 10, 0, 0));
        bytes[32..64].copy_from_slice(&op(batch::POLLER_WAIT, 0, 0, 4, 0, 5));
        let mut mem = GuestMemory::new(&mut bytes);
        let r = submit::<()>(&mut mem, 0, 2, |_, _| Ok(Err(errno::PIPE)));
        assert_eq!(r, Ok(Ok(1)));
        assert_eq!(result(&mem, 0), -i32::from(errno::PIPE));
        // A wait with flags, a send with a timeout, an unknown op: INVAL, and the chain ends.
        for bad in [op(batch::POLLER_WAIT, 0, 0, 4, 1, 0), op(batch::SEND, 6, 0, 1, 0, 7), op(9, 0, 0, 0, 0, 0)] {
            let mut bytes = [0u8; 64];
            bytes[..32].copy_from_slice(&bad);
            let mut mem = GuestMemory::new(&mut bytes);
            let r = submit::<()>(&mut mem, 0, 2, |_, _| panic!("must not run"));
            assert_eq!(r, Ok(Ok(1)));
            assert_eq!(result(&mem, 0), -i32::from(errno::INVAL));
        }
        // The whole array must be in memory, and hold 1 to MAX_OPS ops.
        let mut bytes = [0u8; 64];
        let mut mem = GuestMemory::new(&mut bytes);
        let never = |_: &mut GuestMemory<'_>, _| -> Result<Result<u32, Errno>, ()> { panic!("must not run") };
        assert_eq!(submit(&mut mem, 0, 3, never), Ok(Err(errno::FAULT)));
        assert_eq!(submit(&mut mem, 0, 0, never), Ok(Err(errno::INVAL)));
        assert_eq!(submit(&mut mem, 0, batch::MAX_OPS + 1, never), Ok(Err(errno::INVAL)));
        // A trap from `run` ends the call.
        bytes[..32].copy_from_slice(&op(batch::RECV, 5, 0, 1, 0, 0));
        let mut mem = GuestMemory::new(&mut bytes);
        assert_eq!(submit(&mut mem, 0, 1, |_, _| Err("trap")), Err("trap"));
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
