//! `poll_oneoff`: clocks and fd readiness, one wait on the platform.

use crate::errno::{self, Errno};
use crate::fdtable::Kind;
use crate::{clock, event, filetype, result, rights, GuestMemory, Host, Readiness, Wasi};
use alloc::vec::Vec;

const SUBSCRIPTION_SIZE: u32 = 48;
const EVENT_SIZE: u32 = 32;
/// Most subscriptions one call takes (NOMEM beyond, as wasmtime-wasi
/// answers a call over its per-call copy budget): bounds what the call
/// allocates, about 40 bytes per subscription.
pub const POLL_MAX: u32 = 1 << 16;

enum What {
    /// Fires at this monotonic time (ns).
    Clock { deadline: u64 },
    /// Index into the files handed to [`Host::poll`].
    Fd { file: usize, write: bool, socket: bool, regular: bool },
}

struct Sub {
    userdata: u64,
    what: What,
}

/// `poll_oneoff(in: *const subscription, out: *mut event, nsubscriptions,
/// nevents: *mut u32)`.
///
/// A subscription is 48 bytes: userdata u64 @0, tag u8 @8 (0 clock,
/// 1 fd_read, 2 fd_write), then for a clock id u32 @16, timeout u64 @24,
/// precision u64 @32, flags u16 @40, for an fd the fd u32 @16. An event is
/// 32 bytes: userdata u64 @0, error u16 @8, type u8 @10, nbytes u64 @16,
/// flags u16 @24.
///
/// Waits until a clock fires or an fd is ready, then reports everything
/// that is, in subscription order. As in wasmtime-wasi: no subscriptions
/// is INVAL; clocks are MONOTONIC or REALTIME (relative or ABSTIME; a
/// CPU-time clock is INVAL); fd_read applies to stdin, files and sockets,
/// fd_write to stdout/stderr, files and sockets (else the whole call is
/// BADF); an fd event of a stream or file reports nbytes 1, and a regular
/// file at its end reports HANGUP.
pub fn poll_oneoff<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    subs_ptr: u32,
    events_ptr: u32,
    nsubscriptions: u32,
    nevents: u32,
) -> Errno {
    result((|| {
        if nsubscriptions == 0 {
            return Err(errno::INVAL);
        }
        let n = nsubscriptions;
        if n > POLL_MAX {
            return Err(errno::NOMEM);
        }
        mem.check(subs_ptr, n.checked_mul(SUBSCRIPTION_SIZE).ok_or(errno::FAULT)?)?;
        mem.check(events_ptr, n.checked_mul(EVENT_SIZE).ok_or(errno::FAULT)?)?;
        mem.check(nevents, 4)?;

        let mut subs: Vec<Sub> = Vec::new();
        subs.try_reserve_exact(n as usize).map_err(|_| errno::NOMEM)?;
        let mut files = Vec::new();
        let mut want: Vec<Readiness> = Vec::new();
        let mut now_mono = None;
        let mut deadline: Option<u64> = None;
        for i in 0..n {
            let at = subs_ptr + i * SUBSCRIPTION_SIZE;
            let userdata = mem.read_u64(at)?;
            let what = match mem.read_u8(at + 8)? {
                event::CLOCK => {
                    let id = mem.read_u32(at + 16)?;
                    let timeout = mem.read_u64(at + 24)?;
                    let flags = mem.read_u16(at + 40)?;
                    if flags & !event::SUBSCRIPTION_CLOCK_ABSTIME != 0 {
                        return Err(errno::INVAL);
                    }
                    let absolute = flags & event::SUBSCRIPTION_CLOCK_ABSTIME != 0;
                    let now = match now_mono {
                        Some(t) => t,
                        None => *now_mono.insert(host.clock_time(clock::MONOTONIC)?),
                    };
                    let at = match (id, absolute) {
                        (clock::MONOTONIC, true) => timeout,
                        (clock::MONOTONIC | clock::REALTIME, false) => now.saturating_add(timeout),
                        (clock::REALTIME, true) => {
                            let wall = host.clock_time(clock::REALTIME)?;
                            now.saturating_add(timeout.saturating_sub(wall))
                        }
                        _ => return Err(errno::INVAL),
                    };
                    deadline = Some(deadline.map_or(at, |d: u64| d.min(at)));
                    What::Clock { deadline: at }
                }
                tag @ (event::FD_READ | event::FD_WRITE) => {
                    let fd = mem.read_u32(at + 16)?;
                    let write = tag == event::FD_WRITE;
                    let e = cx.fds.get(fd)?;
                    match e.kind {
                        Kind::Stdio { input } if input != write => {}
                        Kind::File | Kind::Socket => {}
                        _ => return Err(errno::BADF),
                    }
                    e.require(rights::POLL_FD_READWRITE)?;
                    files.try_reserve(1).map_err(|_| errno::NOMEM)?;
                    want.try_reserve(1).map_err(|_| errno::NOMEM)?;
                    files.push(&e.file);
                    want.push(Readiness { read: !write, write, hangup: false });
                    What::Fd {
                        file: files.len() - 1,
                        write,
                        socket: matches!(e.kind, Kind::Socket),
                        regular: matches!(e.kind, Kind::File) && e.filetype == filetype::REGULAR_FILE,
                    }
                }
                _ => return Err(errno::INVAL),
            };
            subs.push(Sub { userdata, what });
        }

        let mut ready = Vec::new();
        ready.try_reserve_exact(files.len()).map_err(|_| errno::NOMEM)?;
        ready.resize(files.len(), Readiness::default());
        loop {
            ready.fill(Readiness::default());
            host.poll(&files, &want, deadline, &mut ready)?;
            let now = match deadline {
                Some(_) => host.clock_time(clock::MONOTONIC)?,
                None => 0,
            };
            let fired = |s: &Sub| match s.what {
                What::Clock { deadline } => now >= deadline,
                What::Fd { file, write, .. } => ready.get(file).is_some_and(|r| r.hangup || if write { r.write } else { r.read }),
            };
            let count = subs.iter().filter(|s| fired(s)).count();
            // A platform may wake early (a clock's rounding, a spurious
            // wakeup): wait again rather than report nothing.
            if count == 0 {
                continue;
            }
            let mut out = events_ptr;
            for s in subs.iter().filter(|s| fired(s)) {
                let mut raw = [0u8; EVENT_SIZE as usize];
                raw[0..8].copy_from_slice(&s.userdata.to_le_bytes());
                match s.what {
                    What::Clock { .. } => raw[10] = event::CLOCK,
                    What::Fd { file, write, socket, regular } => {
                        let r = ready.get(file).copied().unwrap_or_default();
                        let f = files.get(file).ok_or(errno::INVAL)?;
                        let (nbytes, hangup) = fd_event(host, f, write, socket, regular, r);
                        raw[10] = if write { event::FD_WRITE } else { event::FD_READ };
                        raw[16..24].copy_from_slice(&nbytes.to_le_bytes());
                        if hangup {
                            raw[24..26].copy_from_slice(&event::FD_READWRITE_HANGUP.to_le_bytes());
                        }
                    }
                }
                mem.write_bytes(out, &raw)?;
                // The last event may end exactly at 4 GiB.
                out = out.wrapping_add(EVENT_SIZE);
            }
            return mem.write_u32(nevents, count as u32);
        }
    })())
}

/// nbytes and HANGUP of a ready fd. Standard streams and files report
/// nbytes 1 as wasmtime-wasi does (a program only learns "ready"), and a
/// regular file read at its end is HANGUP there too. A socket (which
/// wasmtime-wasi's preview1 lacks) reports what is queued for reading.
fn fd_event<H: Host + ?Sized>(
    host: &mut H,
    file: &H::File,
    write: bool,
    socket: bool,
    regular: bool,
    r: Readiness,
) -> (u64, bool) {
    if !write && socket {
        (host.readable_bytes(file), r.hangup)
    } else if !write && regular {
        (1, r.hangup || host.readable_bytes(file) == 0)
    } else {
        (1, r.hangup)
    }
}
