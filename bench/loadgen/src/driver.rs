//! The event loop: each thread drives its share of the connections from one
//! level-triggered epoll set (reads always wanted, writes only while output
//! is pending), counts the operations that complete inside the measured
//! window and records their latencies. A connection that fails (connect
//! error, mismatch, unexpected close) is reported on stderr, counted as an
//! error and dropped; the others go on. One still waiting at the end for
//! something it asked for before the window began (a server that stopped
//! answering) is an error too.
//!
//! Connections are opened a few at a time: at most [`RAMP`] may be waiting
//! for their first response, so that a server whose listen backlog is the
//! common 128 (std's, and so `--tcplisten`'s) does not drop the SYNs of a
//! burst of thousands (a dropped SYN is retried only after a second).

use crate::echo::Echo;
use crate::histogram::Histogram;
use crate::http::Http;
use crate::sys::{self, Epoll};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Messages in flight per connection in echo stream mode.
pub const STREAM_DEPTH: usize = 4;
/// Most connections (over all threads) opened and not yet answered.
const RAMP: usize = 64;
/// Events taken per `epoll_wait`.
const EVENTS: usize = 1024;
/// Bytes read per `recv`, and the most produced per echo write.
const SCRATCH: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Workload {
    EchoPingpong,
    EchoStream,
    HttpKeepalive,
    HttpClose,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::EchoPingpong => "echo-pingpong",
            Workload::EchoStream => "echo-stream",
            Workload::HttpKeepalive => "http-keepalive",
            Workload::HttpClose => "http-close",
        }
    }
}

pub struct Config {
    pub workload: Workload,
    pub addr: SocketAddr,
    pub conns: usize,
    /// Echo message size (unused by HTTP).
    pub size: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub threads: usize,
}

/// Operations counted in the measured window.
pub struct Stats {
    window_start: Instant,
    deadline: Instant,
    pub ops: u64,
    pub bytes: u64,
    pub latency: Histogram,
}

impl Stats {
    pub fn new(window_start: Instant, deadline: Instant) -> Stats {
        Stats {
            window_start,
            deadline,
            ops: 0,
            bytes: 0,
            latency: Histogram::new(),
        }
    }

    /// An operation started at `start` completed at `now`, moving `bytes`:
    /// counted if it completed inside the window (warmup ones are not).
    pub fn complete(&mut self, start: Instant, now: Instant, bytes: u64) {
        if now >= self.window_start && now <= self.deadline {
            self.ops += 1;
            self.bytes += bytes;
            self.latency
                .record(now.saturating_duration_since(start).as_nanos() as u64);
        }
    }
}

/// What a run measured.
pub struct Totals {
    pub stats: Stats,
    pub errors: u64,
    /// How long the measured window really lasted (shorter than asked if
    /// every connection failed before its end).
    pub window: Duration,
}

enum Proto {
    Echo(Echo),
    Http(Http),
}

impl Proto {
    fn has_output(&self) -> bool {
        match self {
            Proto::Echo(e) => e.has_output(),
            Proto::Http(h) => h.has_output(),
        }
    }
}

struct Conn {
    /// The connection's number across all threads, for messages and content.
    id: usize,
    stream: Option<TcpStream>,
    /// It failed: closed and left alone.
    dead: bool,
    /// Opened, no response byte yet (counted in `Driver::unanswered`).
    ramping: bool,
    connecting: bool,
    /// When the current connect began.
    connect_at: Instant,
    /// The epoll interest currently registered.
    interest: u32,
    proto: Proto,
}

impl Conn {
    fn new(id: usize, cfg: &Config, now: Instant) -> Conn {
        let proto = match cfg.workload {
            Workload::EchoPingpong => Proto::Echo(Echo::new(id, cfg.size, 1)),
            Workload::EchoStream => Proto::Echo(Echo::new(id, cfg.size, STREAM_DEPTH)),
            Workload::HttpKeepalive => Proto::Http(Http::new(false)),
            Workload::HttpClose => Proto::Http(Http::new(true)),
        };
        Conn {
            id,
            stream: None,
            dead: false,
            ramping: false,
            connecting: false,
            connect_at: now,
            interest: 0,
            proto,
        }
    }

    /// When the operation (or connect) this connection waits on began.
    fn waiting_since(&self) -> Option<Instant> {
        if self.connecting {
            return Some(self.connect_at);
        }
        match &self.proto {
            Proto::Echo(e) => e.oldest(),
            Proto::Http(h) => h.oldest(),
        }
    }
}

/// One thread's loop state (everything but its connections).
struct Driver<'a> {
    cfg: &'a Config,
    epoll: Epoll,
    stats: Stats,
    errors: u64,
    /// Connections not failed (opened or still to open).
    live: usize,
    /// Connections `0..opened` have been opened.
    opened: usize,
    /// Opened connections without a response byte yet.
    unanswered: usize,
    /// This thread's share of [`RAMP`].
    ramp: usize,
    recv_buf: Vec<u8>,
    scratch: Vec<u8>,
}

impl Driver<'_> {
    /// Opens (or, with `Connection: close`, reopens) connection `slot`.
    fn open(&mut self, c: &mut Conn, slot: usize, now: Instant) -> Result<(), String> {
        c.stream = None;
        let stream =
            sys::connect_nonblocking(&self.cfg.addr).map_err(|e| format!("connect to {}: {e}", self.cfg.addr))?;
        let interest = sys::IN | sys::OUT;
        self.epoll
            .ctl(true, &stream, interest, slot as u64)
            .map_err(|e| format!("epoll_ctl: {e}"))?;
        c.stream = Some(stream);
        c.connecting = true;
        c.connect_at = now;
        c.interest = interest;
        if let Proto::Http(h) = &mut c.proto {
            if self.cfg.workload == Workload::HttpClose {
                h.begin(now);
            }
        }
        Ok(())
    }

    /// Opens further connections while fewer than `ramp` await an answer.
    fn ramp_up(&mut self, conns: &mut [Conn]) {
        while self.opened < conns.len() && self.unanswered < self.ramp {
            let (slot, c) = (self.opened, &mut conns[self.opened]);
            self.opened += 1;
            c.ramping = true;
            self.unanswered += 1;
            if let Err(what) = self.open(c, slot, Instant::now()) {
                self.fail(c, &what);
            }
        }
    }

    /// The connection got its first response byte, or failed.
    fn answered(&mut self, c: &mut Conn) {
        if c.ramping {
            c.ramping = false;
            self.unanswered -= 1;
        }
    }

    fn fail(&mut self, c: &mut Conn, what: &str) {
        eprintln!("kwasm-loadgen: connection {}: {what}", c.id);
        self.errors += 1;
        self.live -= 1;
        self.answered(c);
        c.dead = true;
        c.stream = None;
        c.connecting = false;
    }

    fn event(&mut self, c: &mut Conn, slot: usize, events: u32) {
        if c.dead {
            return;
        }
        if let Err(what) = self.step(c, slot, events) {
            self.fail(c, &what);
        }
    }

    fn step(&mut self, c: &mut Conn, slot: usize, events: u32) -> Result<(), String> {
        let now = Instant::now();
        let stream = c.stream.as_mut().expect("events come for open connections");
        if c.connecting {
            if events & (sys::OUT | sys::ERR | sys::HUP) == 0 {
                return Ok(());
            }
            if let Some(e) = stream.take_error().map_err(|e| format!("SO_ERROR: {e}"))? {
                return Err(format!("connect to {}: {e}", self.cfg.addr));
            }
            c.connecting = false;
            match &mut c.proto {
                Proto::Echo(e) => e.fill_window(now),
                // With `close` the request began at connect.
                Proto::Http(h) if self.cfg.workload == Workload::HttpKeepalive => h.begin(now),
                Proto::Http(_) => {}
            }
        } else if events & (sys::IN | sys::ERR | sys::HUP) != 0 {
            match stream.read(&mut self.recv_buf) {
                Ok(0) => {
                    match &mut c.proto {
                        Proto::Echo(e) => return Err(e.eof()),
                        Proto::Http(h) => h.eof(now, &mut self.stats)?,
                    }
                    // A `Connection: close` response is complete: next request.
                    return self.open(c, slot, now);
                }
                Ok(n) => {
                    self.answered(c);
                    match &mut c.proto {
                        Proto::Echo(e) => e.input(&self.recv_buf[..n], now, &mut self.stats, &mut self.scratch)?,
                        Proto::Http(h) => h.input(&self.recv_buf[..n], now, &mut self.stats)?,
                    }
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(e) => return Err(format!("recv: {e}")),
            }
        }
        self.flush(c)?;
        let want = if c.proto.has_output() {
            sys::IN | sys::OUT
        } else {
            sys::IN
        };
        if want != c.interest {
            let stream = c.stream.as_ref().expect("still open");
            self.epoll
                .ctl(false, stream, want, slot as u64)
                .map_err(|e| format!("epoll_ctl: {e}"))?;
            c.interest = want;
        }
        Ok(())
    }

    /// Writes pending output until done or the socket is full.
    fn flush(&mut self, c: &mut Conn) -> Result<(), String> {
        let stream = c.stream.as_mut().expect("flushing an open connection");
        loop {
            // Produced once, written until taken whole (echo bytes are
            // generated, so a short write must not cost a second pass).
            let chunk = match &c.proto {
                Proto::Echo(e) if e.has_output() => e.output(&mut self.scratch),
                Proto::Http(h) if h.has_output() => h.output(),
                _ => return Ok(()),
            };
            let mut done = 0;
            while done < chunk.len() {
                match stream.write(&chunk[done..]) {
                    Ok(0) => return Err("send wrote nothing".into()),
                    Ok(n) => {
                        done += n;
                        match &mut c.proto {
                            Proto::Echo(e) => e.wrote(n),
                            Proto::Http(h) => h.wrote(n),
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(format!("send: {e}")),
                }
            }
        }
    }
}

/// Runs one thread's connections (`ids`, at most `ramp` of them unanswered
/// at a time) until the end of the window.
fn run_thread(cfg: &Config, ids: &[usize], ramp: usize, start: Instant) -> Totals {
    let window_start = start + cfg.warmup;
    let deadline = window_start + cfg.duration;
    let stats = Stats::new(window_start, deadline);
    let epoll = match Epoll::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("kwasm-loadgen: epoll_create1: {e}");
            return Totals {
                stats,
                errors: 1,
                window: Duration::ZERO,
            };
        }
    };
    let mut d = Driver {
        cfg,
        epoll,
        stats,
        errors: 0,
        live: ids.len(),
        opened: 0,
        unanswered: 0,
        ramp,
        recv_buf: vec![0; SCRATCH],
        scratch: vec![0; SCRATCH],
    };
    let mut conns: Vec<Conn> = ids.iter().map(|&id| Conn::new(id, cfg, start)).collect();
    d.ramp_up(&mut conns);
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
    let mut now = Instant::now();
    while now < deadline && d.live > 0 {
        // Round up: waking before the deadline would only spin.
        let left = deadline - now;
        let timeout = left.as_nanos().div_ceil(1_000_000);
        match d.epoll.wait(&mut events, timeout.min(i32::MAX as u128) as i32) {
            Ok(n) => {
                for ev in &events[..n] {
                    let (slot, bits) = (ev.u64 as usize, ev.events);
                    d.event(&mut conns[slot], slot, bits);
                }
                d.ramp_up(&mut conns);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("kwasm-loadgen: epoll_wait: {e}");
                d.errors += 1;
                break;
            }
        }
        now = Instant::now();
    }
    // A server that stopped answering leaves an operation (or connect)
    // begun before the measured window still outstanding after it.
    for c in conns.iter_mut().filter(|c| !c.dead) {
        if let Some(since) = c.waiting_since().filter(|&t| t <= window_start && now >= deadline) {
            let what = if c.connecting { "connect" } else { "response" };
            let ms = now.saturating_duration_since(since).as_millis();
            d.fail(
                c,
                &format!("no {what} for {ms} ms, the whole measured window (the server stopped answering)"),
            );
        }
    }
    let window = now.min(deadline).saturating_duration_since(window_start);
    Totals {
        stats: d.stats,
        errors: d.errors,
        window,
    }
}

/// Runs the workload on `cfg.threads` threads, connection `i` on thread
/// `i % threads`, and sums what they measured.
pub fn run(cfg: &Config) -> Totals {
    let threads = cfg.threads.clamp(1, cfg.conns.max(1));
    let start = Instant::now();
    let shares: Vec<Vec<usize>> = (0..threads)
        .map(|t| (t..cfg.conns).step_by(threads).collect())
        .collect();
    let ramp = RAMP.div_ceil(threads);
    let results: Vec<Totals> = if threads == 1 {
        vec![run_thread(cfg, &shares[0], ramp, start)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = shares
                .iter()
                .map(|ids| s.spawn(move || run_thread(cfg, ids, ramp, start)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a load thread panicked"))
                .collect()
        })
    };
    let mut results = results.into_iter();
    let mut total = results.next().expect("at least one thread");
    for r in results {
        total.stats.ops += r.stats.ops;
        total.stats.bytes += r.stats.bytes;
        total.stats.latency.merge(&r.stats.latency);
        total.errors += r.errors;
        total.window = total.window.max(r.window);
    }
    total
}
