//! [`Batch`]: sends, receives and a wait that run one after another in
//! one call (`kwasm_net.submit`), so that a server's "send the replies,
//! then wait for more" crosses into kwasm.ko once instead of once per
//! call. Natively the same calls are made one by one, with the same
//! rules.

use crate::poll::{Events, Poller};
use crate::socket::TcpStream;
use crate::sys;
use std::io;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// The ABI's operation numbers.
pub(crate) const OP_SEND: u32 = 1;
pub(crate) const OP_RECV: u32 = 2;
pub(crate) const OP_POLLER_WAIT: u32 = 3;

/// One operation as the ABI lays it out on wasm32 (32 bytes, docs/kwasm_net.md
/// "Op"); natively only the backend reads it.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct RawOp {
    pub op: u32,
    /// The socket, or the poller's handle for a wait.
    pub fd: i32,
    /// The data, or the wait's Event array.
    pub buf: *mut u8,
    /// Its length in bytes, or the wait's `max_events`.
    pub len: u32,
    pub flags: i32,
    /// Written by the call: the op's value or `-errno`.
    pub result: i32,
    /// A wait's timeout (-1: none); 0 for the others.
    pub timeout_ns: i64,
}

#[cfg(target_family = "wasm")]
const _: () = assert!(std::mem::size_of::<RawOp>() == 32);

const EMPTY: RawOp = RawOp {
    op: 0,
    fd: -1,
    buf: std::ptr::null_mut(),
    len: 0,
    flags: 0,
    result: 0,
    timeout_ns: 0,
};

/// Operations for one [`submit`](Batch::submit): add them, submit, then
/// read each one's [`result`](Batch::result). They run in the order added
/// and stop after the first that fails or a send that sent less than all
/// of its data; the ones after it do not run. At most [`Batch::MAX_OPS`],
/// at most one wait; the batch lives on the stack (no allocation, only
/// the ops added are written, and nothing is moved: a server makes one per
/// loop, and a copy of its 2 KiB would cost more than the calls it saves).
///
/// ```no_run
/// # use kwasm_net::{Batch, Events, Poller, TcpStream};
/// # fn f(poller: &Poller, stream: &TcpStream, reply: &[u8]) -> std::io::Result<()> {
/// let mut events = Events::with_capacity(64);
/// let mut batch = Batch::new();
/// let send = batch.send(stream, reply);
/// batch.wait(poller, &mut events, None);
/// batch.submit()?;
/// match batch.result(send) {
///     Some(Ok(n)) if n == reply.len() => {} // all sent; the wait ran too
///     Some(Ok(_short)) => {}                // keep the rest; the wait did not run
///     Some(Err(_e)) => {}                   // the connection failed
///     None => unreachable!("the first op always runs"),
/// }
/// // The batch's borrows end with its last use: `events` is free again.
/// for _event in &events {}
/// # Ok(()) }
/// ```
pub struct Batch<'a> {
    /// The first `len` are written.
    ops: [MaybeUninit<RawOp>; Batch::MAX_OPS],
    len: usize,
    /// How many ran, once submitted.
    ran: Option<usize>,
    /// The wait's Events and its index, to set how many it returned.
    wait: Option<(usize, &'a mut Events)>,
    /// The buffers and sockets the ops point at are borrowed for `'a`.
    _borrows: PhantomData<&'a mut [u8]>,
}

impl<'a> Batch<'a> {
    /// Operations one batch holds (the ABI's limit).
    pub const MAX_OPS: usize = 64;

    pub fn new() -> Batch<'a> {
        Batch {
            ops: [const { MaybeUninit::uninit() }; Batch::MAX_OPS],
            len: 0,
            ran: None,
            wait: None,
            _borrows: PhantomData,
        }
    }

    /// How many operations were added.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether no more operations fit.
    pub fn is_full(&self) -> bool {
        self.len == Batch::MAX_OPS
    }

    /// Adds a send of `data` on `stream` (`TcpStream::write`); returns its
    /// index. Panics if the batch is full.
    pub fn send(&mut self, stream: &'a TcpStream, data: &'a [u8]) -> usize {
        self.push(RawOp {
            op: OP_SEND,
            fd: stream.as_raw_fd(),
            // Only read: the pointer is mutable because the record is shared.
            buf: data.as_ptr().cast_mut(),
            len: len32(data.len()),
            ..EMPTY
        })
    }

    /// Adds a receive into `buf` from `stream` (`TcpStream::read`);
    /// returns its index. Panics if the batch is full.
    pub fn recv(&mut self, stream: &'a TcpStream, buf: &'a mut [u8]) -> usize {
        self.push(RawOp {
            op: OP_RECV,
            fd: stream.as_raw_fd(),
            buf: buf.as_mut_ptr(),
            len: len32(buf.len()),
            ..EMPTY
        })
    }

    /// Adds a [`Poller::wait`] into `events`; returns its index. After
    /// [`submit`](Batch::submit) `events` holds what it returned (none if it
    /// did not run). Panics if the batch is full or has a wait already.
    pub fn wait(&mut self, poller: &'a Poller, events: &'a mut Events, timeout: Option<Duration>) -> usize {
        assert!(self.wait.is_none(), "a batch has at most one wait");
        let raw = events.raw_mut();
        let op = RawOp {
            op: OP_POLLER_WAIT,
            fd: poller.handle(),
            buf: raw.as_mut_ptr().cast(),
            len: len32(raw.len()),
            timeout_ns: crate::poll::timeout_ns(timeout),
            ..EMPTY
        };
        events.set_len(0);
        let i = self.push(op);
        self.wait = Some((i, events));
        i
    }

    fn push(&mut self, op: RawOp) -> usize {
        assert!(self.ran.is_none(), "a batch is submitted once");
        assert!(!self.is_full(), "a batch holds at most {} operations", Batch::MAX_OPS);
        self.ops[self.len].write(op);
        self.len += 1;
        self.len - 1
    }

    /// Runs the operations; returns how many ran (at least the first, if
    /// any were added). An error here means none ran (kwasm.ko refused the
    /// batch); each op's own error is its [`result`](Batch::result). A
    /// batch is submitted once.
    pub fn submit(&mut self) -> io::Result<usize> {
        assert!(self.ran.is_none(), "a batch is submitted once");
        self.ran = Some(0);
        if self.len == 0 {
            return Ok(0);
        }
        let ran = sys::submit(self.written_mut())?.min(self.len);
        self.ran = Some(ran);
        if let Some((i, events)) = self.wait.take() {
            // Not run: `events` stays empty (`wait` emptied it).
            if let Some(Ok(n)) = self.result(i) {
                events.set_len(n);
            }
        }
        Ok(ran)
    }

    /// Op `i`'s result once submitted: bytes sent or received, or events
    /// returned; `None` if it did not run.
    pub fn result(&self, i: usize) -> Option<io::Result<usize>> {
        if i >= self.ran? {
            return None;
        }
        // SAFETY: `i < ran <= len`: op `i` was written by `push`.
        let r = unsafe { self.ops[i].assume_init_ref() }.result;
        Some(if r < 0 {
            Err(io::Error::from_raw_os_error(-r))
        } else {
            Ok(r as usize)
        })
    }

    /// The ops added, as the ABI's array.
    fn written_mut(&mut self) -> &mut [RawOp] {
        // SAFETY: the first `len` ops were written by `push`, and
        // `MaybeUninit<RawOp>` has `RawOp`'s layout.
        unsafe { std::slice::from_raw_parts_mut(self.ops.as_mut_ptr().cast::<RawOp>(), self.len) }
    }
}

impl Default for Batch<'_> {
    fn default() -> Self {
        Batch::new()
    }
}

/// A length as the ABI carries it; a larger buffer is used up to 2 GiB - 1,
/// what a result can say (a send or receive may always do less than asked).
fn len32(len: usize) -> u32 {
    len.min(i32::MAX as usize) as u32
}
