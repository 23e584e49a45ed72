//! A TCP echo server on `kwasm_net`: one thread, one poller, as many
//! connections as memory allows, written the way a C server on epoll is.
//!
//!     kwasm run echo-server.wasm [--listen ADDR:PORT]    (default 127.0.0.1:7000)
//!     kwasm run --tcplisten 127.0.0.1:7000 echo-server.wasm --tcplisten-fd 3
//!
//! The same source builds natively (libc and epoll) as the baseline. Once
//! listening it prints `echo-server: listening on ADDR:PORT`, then echoes
//! every connection until its peer closes it, and runs until killed.
//!
//! Every socket is non-blocking and level-triggered. A connection reads at
//! most 16 KiB per wake-up, into a region of its own in one shared buffer,
//! and the echoes of a wake-up go out with the next wait in one `kwasm_net`
//! batch (`kwasm_net::Batch`): a message costs a read and one call for
//! "echo, then wait". What the peer has no room for yet is kept, and the
//! connection then waits to be writable instead of readable, so a slow
//! reader holds back only its own input. Network errors end the connection
//! they happen on, never the server.

use kwasm_net::{Batch, Event, Events, Interest, Mode, Poller, TcpListener, TcpStream};
use std::convert::Infallible;
use std::io::{self, ErrorKind, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: echo-server [--listen ADDR:PORT | --tcplisten-fd N]";
/// The listening socket's token; a connection's token is its slot.
const LISTENER: u64 = u64::MAX;
/// How much one read takes from a connection.
const BUF_SIZE: usize = 16 * 1024;
/// Connections read per wake-up, each into its own region of the shared
/// buffer: a batch's sends, one op left for its wait. The others are
/// still readable, so the next wait reports them again.
const REGIONS: usize = Batch::MAX_OPS - 1;
/// How long accepting pauses after an error such as running out of fds.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

enum Listen {
    Bind(SocketAddr),
    Fd(RawFd),
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Listen, String> {
    let mut listen = Listen::Bind(SocketAddr::from(([127, 0, 0, 1], 7000)));
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        listen = match arg.as_str() {
            "--listen" => Listen::Bind(value()?.parse().map_err(|e| format!("--listen: {e}"))?),
            "--tcplisten-fd" => Listen::Fd(value()?.parse().map_err(|e| format!("--tcplisten-fd: {e}"))?),
            _ => return Err(format!("unknown argument `{arg}`")),
        };
    }
    Ok(listen)
}

struct Conn {
    stream: TcpStream,
    /// Bytes read but not echoed yet (the peer had no room for them). While
    /// there are any the connection waits to be writable, not readable.
    unsent: Vec<u8>,
}

struct Server {
    listener: TcpListener,
    poller: Poller,
    /// Connections by slot; `free` lists the empty slots.
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// While accepting is paused: when it resumes.
    resume_accepting: Option<Instant>,
    /// [`REGIONS`] regions of [`BUF_SIZE`]: what this wake-up read, the
    /// `echoes`' bytes.
    buf: Vec<u8>,
    /// What this wake-up read, the `i`th in region `i` of `buf`: the next
    /// batch's sends.
    echoes: Vec<Echo>,
}

/// Bytes read from a connection, to echo.
struct Echo {
    slot: usize,
    len: usize,
    /// Its op in the batch, and the op's result.
    op: Option<usize>,
    result: Option<io::Result<usize>>,
}

impl Server {
    fn new(listener: TcpListener) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        let poller = Poller::new()?;
        poller.add(listener.as_raw_fd(), Interest::READABLE, LISTENER, Mode::Level)?;
        Ok(Server {
            listener,
            poller,
            conns: Vec::new(),
            free: Vec::new(),
            resume_accepting: None,
            buf: vec![0; REGIONS * BUF_SIZE],
            echoes: Vec::with_capacity(REGIONS),
        })
    }

    fn run(&mut self) -> io::Result<Infallible> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self
                .resume_accepting
                .map(|t| t.saturating_duration_since(Instant::now()));
            match self.echo_and_wait(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if self.resume_accepting.is_some_and(|t| Instant::now() >= t) {
                self.poller
                    .add(self.listener.as_raw_fd(), Interest::READABLE, LISTENER, Mode::Level)?;
                self.resume_accepting = None;
            }
            for event in &events {
                if event.token == LISTENER {
                    self.accept()?;
                } else {
                    self.serve(event.token as usize, event);
                }
            }
        }
    }

    /// Echoes what the last wake-up read, then waits for events into
    /// `events`, all in one batch. The wait runs only if every echo went
    /// out whole; `events` is empty if it did not.
    fn echo_and_wait(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        let mut batch = Batch::new();
        for (i, echo) in self.echoes.iter_mut().enumerate() {
            if let Some(Some(conn)) = self.conns.get(echo.slot) {
                echo.op = Some(batch.send(&conn.stream, &self.buf[i * BUF_SIZE..][..echo.len]));
            }
        }
        let wait = batch.wait(&self.poller, events, timeout);
        let submitted = batch.submit();
        for echo in &mut self.echoes {
            echo.result = echo.op.and_then(|op| batch.result(op));
        }
        let waited = batch.result(wait);
        // The batch's borrows of the connections and the buffer end here.
        for (i, echo) in self.echoes.drain(..).enumerate() {
            let (slot, n) = (echo.slot, echo.len);
            let data = &self.buf[i * BUF_SIZE..][..n];
            let Some(Some(conn)) = self.conns.get_mut(slot) else { continue };
            let sent = match echo.result {
                Some(Ok(sent)) => Ok(sent),
                Some(Err(e)) if e.kind() == ErrorKind::WouldBlock => Ok(0),
                Some(Err(e)) => Err(e),
                // Not run (the batch stopped before it): the region is
                // reused next time, so this one is written now.
                None => write_some(&conn.stream, data),
            };
            let open = sent.and_then(|sent| {
                if sent < n {
                    conn.unsent.extend_from_slice(&data[sent..]);
                    self.poller
                        .modify(conn.stream.as_raw_fd(), Interest::WRITABLE, slot as u64, Mode::Level)?;
                }
                Ok(true)
            });
            settle(&mut self.conns, &mut self.free, slot, open);
        }
        submitted?;
        match waited {
            Some(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// Accepts every waiting connection.
    fn accept(&mut self) -> io::Result<()> {
        loop {
            let stream = match self.listener.accept_nonblocking() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::ConnectionAborted) => continue,
                Err(e) => {
                    // Out of fds or memory: the listener would be reported
                    // again at once, so stop listening to it for a while.
                    eprintln!("echo-server: accept: {e}");
                    self.poller.delete(self.listener.as_raw_fd())?;
                    self.resume_accepting = Some(Instant::now() + ACCEPT_BACKOFF);
                    return Ok(());
                }
            };
            // Echoed bytes go out at once, not after the previous ones are acknowledged.
            let _ = stream.set_nodelay(true);
            let slot = self.free.pop().unwrap_or_else(|| {
                self.conns.push(None);
                self.conns.len() - 1
            });
            match self
                .poller
                .add(stream.as_raw_fd(), Interest::READABLE, slot as u64, Mode::Level)
            {
                Ok(()) => {
                    self.conns[slot] = Some(Conn {
                        stream,
                        unsent: Vec::new(),
                    })
                }
                Err(e) => {
                    eprintln!("echo-server: registering a connection: {e}");
                    self.free.push(slot);
                }
            }
        }
    }

    fn serve(&mut self, slot: usize, event: Event) {
        // A connection closed earlier in this batch has no slot any more.
        // (If a new one took the slot, the event is spurious for it: its
        // read just finds nothing.)
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return;
        };
        let open = if !conn.unsent.is_empty() {
            flush(conn).and_then(|()| {
                if conn.unsent.is_empty() {
                    self.poller
                        .modify(conn.stream.as_raw_fd(), Interest::READABLE, slot as u64, Mode::Level)?;
                }
                Ok(true)
            })
        } else if (event.readable || event.hangup || event.error) && self.echoes.len() < REGIONS {
            let region = &mut self.buf[self.echoes.len() * BUF_SIZE..][..BUF_SIZE];
            match conn.stream.read(region) {
                Ok(0) => Ok(false),
                Ok(len) => {
                    self.echoes.push(Echo {
                        slot,
                        len,
                        op: None,
                        result: None,
                    });
                    Ok(true)
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => Ok(true),
                Err(e) => Err(e),
            }
        } else {
            Ok(true)
        };
        settle(&mut self.conns, &mut self.free, slot, open);
    }
}

/// Ends connection `slot` unless `open` says it stays open.
fn settle(conns: &mut [Option<Conn>], free: &mut Vec<usize>, slot: usize, open: io::Result<bool>) {
    match open {
        Ok(true) => return,
        Ok(false) => {}
        // Resets are the peer's business, not news.
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {}
        Err(e) => eprintln!("echo-server: connection ended: {e}"),
    }
    // Closing the fd also removes it from the poller.
    conns[slot] = None;
    free.push(slot);
}

/// Writes what was kept back, as much as the peer takes now.
fn flush(conn: &mut Conn) -> io::Result<()> {
    let sent = write_some(&conn.stream, &conn.unsent)?;
    conn.unsent.drain(..sent);
    Ok(())
}

/// Writes as much of `data` as the socket takes without blocking.
fn write_some(stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    let mut sent = 0;
    while sent < data.len() {
        match stream.write(&data[sent..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

fn main() -> ExitCode {
    let listen = match parse_args(std::env::args().skip(1)) {
        Ok(listen) => listen,
        Err(e) => {
            eprintln!("echo-server: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match listen {
        Listen::Bind(addr) => match TcpListener::bind(addr) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("echo-server: listening on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        },
        // SAFETY: the caller says `fd` is a listening socket this program
        // was handed (`--tcplisten` puts it at 3); nothing else uses it.
        Listen::Fd(fd) => unsafe { TcpListener::from_raw_fd(fd) },
    };
    let result = listener.local_addr().and_then(|addr| {
        let mut server = Server::new(listener)?;
        let mut stdout = io::stdout();
        writeln!(stdout, "echo-server: listening on {addr}")?;
        stdout.flush()?;
        server.run()
    });
    match result {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("echo-server: {e}");
            ExitCode::FAILURE
        }
    }
}
