//! The wasm backend: each call is one import of the `kwasm_net` module, as
//! `docs/kwasm_net.md` defines them. A result below zero is `-errno` with a
//! WASI errno, which is what std on `wasm32-wasip1` keeps as the raw OS
//! error, so `io::Error::from_raw_os_error` gives the right `kind()`.

use crate::poll::Ctl;
use crate::socket::Opt;
use crate::Address;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::RawFd;
use std::time::Duration;

/// The imports. On wasm32 pointers and `usize` are `i32`, and `u64` is
/// `i64`, so these are the ABI's signatures.
mod import {
    use super::RawEvent;
    use crate::batch::RawOp;

    #[link(wasm_import_module = "kwasm_net")]
    extern "C" {
        pub fn socket(family: i32, kind: i32, flags: i32) -> i32;
        pub fn bind(fd: i32, addr: *const u8) -> i32;
        pub fn listen(fd: i32, backlog: i32) -> i32;
        pub fn connect(fd: i32, addr: *const u8) -> i32;
        pub fn accept(fd: i32, flags: i32, addr_out: *mut u8) -> i32;
        pub fn recv(fd: i32, buf: *mut u8, len: usize, flags: i32) -> i32;
        pub fn send(fd: i32, buf: *const u8, len: usize, flags: i32) -> i32;
        pub fn shutdown(fd: i32, how: i32) -> i32;
        pub fn close(fd: i32) -> i32;
        pub fn set_option(fd: i32, option: i32, value: i32) -> i32;
        pub fn get_option(fd: i32, option: i32) -> i32;
        pub fn local_addr(fd: i32, addr_out: *mut u8) -> i32;
        pub fn peer_addr(fd: i32, addr_out: *mut u8) -> i32;
        pub fn poller_create() -> i32;
        pub fn poller_ctl(poller: i32, op: i32, fd: i32, events: u32, user_data: u64) -> i32;
        pub fn poller_wait(poller: i32, events: *mut RawEvent, max_events: i32, timeout_ns: i64) -> i32;
        pub fn poller_close(poller: i32) -> i32;
        pub fn submit(ops: *mut RawOp, count: i32) -> i32;
    }
}

/// `socket` kind: a TCP stream.
const KIND_STREAM: i32 = 1;
/// `socket` and `accept` flag: the new fd is non-blocking.
const FLAG_NONBLOCK: i32 = 1;
/// The option that is the fd's `O_NONBLOCK`.
const OPT_NONBLOCK: i32 = 8;

/// The ABI's Event: 16 bytes, little-endian (as wasm is).
#[derive(Clone, Copy)]
#[repr(C)]
pub struct RawEvent {
    user_data: u64,
    events: u32,
    _reserved: u32,
}

pub const EMPTY_EVENT: RawEvent = RawEvent {
    user_data: 0,
    events: 0,
    _reserved: 0,
};

/// The token and the ready bits of an event.
pub fn event_parts(e: &RawEvent) -> (u64, u32) {
    (e.user_data, e.events)
}

/// An import's result: `-errno` below zero, else a value.
fn cvt(r: i32) -> io::Result<i32> {
    if r < 0 {
        Err(io::Error::from_raw_os_error(-r))
    } else {
        Ok(r)
    }
}

/// Calls an import that writes an Address at the pointer it is given, and
/// decodes it.
fn addr_out(f: impl FnOnce(*mut u8) -> i32) -> io::Result<(i32, SocketAddr)> {
    let mut bytes = [0u8; Address::LEN];
    let r = cvt(f(bytes.as_mut_ptr()))?;
    Ok((r, SocketAddr::try_from(Address::from_bytes(bytes))?))
}

pub fn socket(v6: bool, nonblocking: bool) -> io::Result<RawFd> {
    let family = if v6 { Address::FAMILY_V6 } else { Address::FAMILY_V4 };
    let flags = if nonblocking { FLAG_NONBLOCK } else { 0 };
    // SAFETY: no pointers; the host checks every argument.
    cvt(unsafe { import::socket(family.into(), KIND_STREAM, flags) })
}

pub fn bind(fd: RawFd, addr: &SocketAddr) -> io::Result<()> {
    let addr = Address::from(*addr);
    // SAFETY: the pointer is to the 28 bytes of an Address, only read.
    cvt(unsafe { import::bind(fd, addr.as_bytes().as_ptr()) }).map(drop)
}

pub fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: no pointers.
    cvt(unsafe { import::listen(fd, backlog) }).map(drop)
}

pub fn connect(fd: RawFd, addr: &SocketAddr) -> io::Result<()> {
    let addr = Address::from(*addr);
    // SAFETY: the pointer is to the 28 bytes of an Address, only read.
    cvt(unsafe { import::connect(fd, addr.as_bytes().as_ptr()) }).map(drop)
}

pub fn accept(fd: RawFd, nonblocking: bool) -> io::Result<(RawFd, SocketAddr)> {
    let flags = if nonblocking { FLAG_NONBLOCK } else { 0 };
    // SAFETY: `out` points to the 28 writable bytes of an Address.
    addr_out(|out| unsafe { import::accept(fd, flags, out) })
}

pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length.
    cvt(unsafe { import::recv(fd, buf.as_mut_ptr(), buf.len(), 0) }).map(|n| n as usize)
}

pub fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of its length.
    cvt(unsafe { import::send(fd, buf.as_ptr(), buf.len(), 0) }).map(|n| n as usize)
}

pub fn shutdown(fd: RawFd, how: Shutdown) -> io::Result<()> {
    let how = match how {
        Shutdown::Read => 0,
        Shutdown::Write => 1,
        Shutdown::Both => 2,
    };
    // SAFETY: no pointers.
    cvt(unsafe { import::shutdown(fd, how) }).map(drop)
}

pub fn close(fd: RawFd) -> io::Result<()> {
    // SAFETY: no pointers; the caller owns `fd` and never uses it again.
    cvt(unsafe { import::close(fd) }).map(drop)
}

pub fn set_option(fd: RawFd, opt: Opt, value: i32) -> io::Result<()> {
    // SAFETY: no pointers.
    cvt(unsafe { import::set_option(fd, opt as i32, value) }).map(drop)
}

pub fn get_option(fd: RawFd, opt: Opt) -> io::Result<i32> {
    // SAFETY: no pointers.
    cvt(unsafe { import::get_option(fd, opt as i32) })
}

pub fn set_nonblocking(fd: RawFd, nonblocking: bool) -> io::Result<()> {
    // SAFETY: no pointers.
    cvt(unsafe { import::set_option(fd, OPT_NONBLOCK, nonblocking as i32) }).map(drop)
}

pub fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    // SAFETY: `out` points to the 28 writable bytes of an Address.
    addr_out(|out| unsafe { import::local_addr(fd, out) }).map(|(_, addr)| addr)
}

pub fn peer_addr(fd: RawFd) -> io::Result<SocketAddr> {
    // SAFETY: `out` points to the 28 writable bytes of an Address.
    addr_out(|out| unsafe { import::peer_addr(fd, out) }).map(|(_, addr)| addr)
}

pub fn poller_create() -> io::Result<i32> {
    // SAFETY: no pointers.
    cvt(unsafe { import::poller_create() })
}

pub fn poller_ctl(poller: i32, ctl: Ctl, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    // SAFETY: no pointers.
    cvt(unsafe { import::poller_ctl(poller, ctl as i32, fd, events, token) }).map(drop)
}

pub fn poller_wait(poller: i32, events: &mut [RawEvent], timeout: Option<Duration>) -> io::Result<usize> {
    let ns = crate::poll::timeout_ns(timeout);
    let max = events.len().min(i32::MAX as usize) as i32;
    // SAFETY: `events` has room for `max` 16-byte Event records.
    let n = cvt(unsafe { import::poller_wait(poller, events.as_mut_ptr(), max, ns) })?;
    // The host writes at most `max`; never trust a count beyond the buffer.
    Ok((n as usize).min(events.len()))
}

pub fn poller_close(poller: i32) -> io::Result<()> {
    // SAFETY: no pointers; the caller never uses the handle again.
    cvt(unsafe { import::poller_close(poller) }).map(drop)
}

pub fn submit(ops: &mut [crate::batch::RawOp]) -> io::Result<usize> {
    let count = ops.len().min(i32::MAX as usize) as i32;
    // SAFETY: `ops` holds `count` 32-byte Op records; their buffers are
    // borrowed by the `Batch` for as long as it lives, so valid for the
    // reads and writes each op makes.
    cvt(unsafe { import::submit(ops.as_mut_ptr(), count) }).map(|n| n as usize)
}
