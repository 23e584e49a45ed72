//! [`Poller`]: epoll's readiness model, the same on both backends.

use crate::sys;
use std::fmt;
use std::io;
use std::ops::BitOr;
use std::os::fd::RawFd;
use std::time::Duration;

// Event bits and registration flags. The ABI adopts Linux's epoll values,
// so the native backend passes them to epoll unchanged.
pub(crate) const IN: u32 = 0x1;
pub(crate) const OUT: u32 = 0x4;
pub(crate) const ERR: u32 = 0x8;
pub(crate) const HUP: u32 = 0x10;
pub(crate) const RDHUP: u32 = 0x2000;
pub(crate) const ONESHOT: u32 = 1 << 30;
pub(crate) const ET: u32 = 1 << 31;

/// What a registration waits for: [`READABLE`](Self::READABLE),
/// [`WRITABLE`](Self::WRITABLE) or both (`READABLE | WRITABLE`). Errors and
/// hang-ups are reported whatever the interest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest(u32);

impl Interest {
    /// Data to read, a connection to accept, or the end of the stream.
    pub const READABLE: Interest = Interest(IN);
    /// Room to write, or a non-blocking connect completed.
    pub const WRITABLE: Interest = Interest(OUT);

    /// Whether it includes [`READABLE`](Self::READABLE).
    pub const fn is_readable(self) -> bool {
        self.0 & IN != 0
    }

    /// Whether it includes [`WRITABLE`](Self::WRITABLE).
    pub const fn is_writable(self) -> bool {
        self.0 & OUT != 0
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

/// When a ready fd is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// By every wait while it is ready.
    Level,
    /// Once per change to ready: read or write until `WouldBlock` before
    /// waiting again, or the fd may never be reported again.
    Edge,
    /// Once; then the registration is disarmed until [`Poller::modify`].
    Oneshot,
}

/// The registration ops, numbered as the `kwasm_net` ABI numbers them.
#[derive(Clone, Copy, Debug)]
#[repr(i32)]
pub(crate) enum Ctl {
    Add = 1,
    Modify = 2,
    Delete = 3,
}

/// A set of registered fds to wait on (an epoll instance). Registrations
/// follow the fd: closing an fd removes it from every poller.
pub struct Poller(i32);

impl Poller {
    /// A poller with nothing registered.
    pub fn new() -> io::Result<Poller> {
        sys::poller_create().map(Poller)
    }

    /// Registers `fd`; its events carry `token`. An fd already registered
    /// is `AlreadyExists`.
    pub fn add(&self, fd: RawFd, interest: Interest, token: u64, mode: Mode) -> io::Result<()> {
        sys::poller_ctl(self.0, Ctl::Add, fd, bits(interest, mode), token)
    }

    /// Changes what a registered fd waits for and its token, and rearms a
    /// [`Mode::Oneshot`] registration. An fd not registered is `NotFound`.
    pub fn modify(&self, fd: RawFd, interest: Interest, token: u64, mode: Mode) -> io::Result<()> {
        sys::poller_ctl(self.0, Ctl::Modify, fd, bits(interest, mode), token)
    }

    /// Unregisters `fd`. An fd not registered is `NotFound`.
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        sys::poller_ctl(self.0, Ctl::Delete, fd, 0, 0)
    }

    /// The handle (a [`Batch`](crate::Batch)'s wait names it).
    pub(crate) fn handle(&self) -> i32 {
        self.0
    }

    /// Waits until a registered fd is ready or `timeout` (`None`: no limit)
    /// passes, and puts up to `events.capacity()` events into `events`,
    /// replacing what it held. Returns how many, 0 if the time ran out.
    /// The native backend rounds the timeout up to whole milliseconds.
    ///
    /// A signal (in kwasm, also the end of `--timeout`) ends the wait early
    /// with `Interrupted`; the caller decides whether to wait again.
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<usize> {
        events.len = 0;
        events.len = sys::poller_wait(self.0, &mut events.raw, timeout)?;
        Ok(events.len)
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        // A failed close leaves nothing to do: the handle is gone either way.
        let _ = sys::poller_close(self.0);
    }
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Poller").field(&self.0).finish()
    }
}

/// A wait's timeout as the ABI carries it: nanoseconds, -1 for none.
pub(crate) fn timeout_ns(timeout: Option<Duration>) -> i64 {
    match timeout {
        None => -1,
        Some(t) => i64::try_from(t.as_nanos()).unwrap_or(i64::MAX),
    }
}

fn bits(interest: Interest, mode: Mode) -> u32 {
    interest.0
        | match mode {
            Mode::Level => 0,
            Mode::Edge => ET,
            Mode::Oneshot => ONESHOT,
        }
}

/// What a wait reported for one registered fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The token the fd was registered with.
    pub token: u64,
    /// Ready to read (or accept); the end of the stream counts as readable.
    pub readable: bool,
    /// Ready to write.
    pub writable: bool,
    /// The peer hung up (`HUP`, or `RDHUP`: it shut down its writing half).
    pub hangup: bool,
    /// The socket has a pending error (see `take_error`); the next read or
    /// write fails with it.
    pub error: bool,
}

impl Event {
    fn from_raw(raw: &sys::RawEvent) -> Event {
        let (token, bits) = sys::event_parts(raw);
        Event {
            token,
            readable: bits & IN != 0,
            writable: bits & OUT != 0,
            hangup: bits & (HUP | RDHUP) != 0,
            error: bits & ERR != 0,
        }
    }
}

/// A reusable buffer of events for [`Poller::wait`]: allocate it once, with
/// the most events one wait should return.
pub struct Events {
    raw: Vec<sys::RawEvent>,
    len: usize,
}

impl Events {
    /// Room for `capacity` events (at least one). kwasm.ko returns at most
    /// 1024 per wait, however many there is room for.
    pub fn with_capacity(capacity: usize) -> Events {
        Events {
            raw: vec![sys::EMPTY_EVENT; capacity.max(1)],
            len: 0,
        }
    }

    /// How many events one wait can return.
    pub fn capacity(&self) -> usize {
        self.raw.len()
    }

    /// How many events the last wait returned.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the last wait returned no events.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The events of the last wait.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.raw[..self.len].iter())
    }

    /// For a [`Batch`](crate::Batch)'s wait: where the host writes.
    pub(crate) fn raw_mut(&mut self) -> &mut [sys::RawEvent] {
        &mut self.raw
    }

    pub(crate) fn set_len(&mut self, len: usize) {
        self.len = len.min(self.raw.len());
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = Event;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// The iterator of [`Events::iter`].
pub struct Iter<'a>(std::slice::Iter<'a, sys::RawEvent>);

impl Iterator for Iter<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.0.next().map(Event::from_raw)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}
