//! A hello-world HTTP/1.1 server on `kwasm_net`: one thread, one poller,
//! as many keep-alive connections as memory allows.
//!
//!     kwasm run http-server.wasm [--listen ADDR:PORT]    (default 127.0.0.1:8080)
//!     kwasm run --tcplisten 127.0.0.1:8080 http-server.wasm --tcplisten-fd 3
//!
//! The same source builds natively (libc and epoll) as the baseline. Once
//! listening it prints `http-server: listening on ADDR:PORT` and runs until
//! killed. Every request gets `200 OK` and `Hello, world!`; what is parsed
//! and how each connection ends is `http-proto`'s (shared with `http-std`).
//!
//! The event loop is echo-server's: non-blocking sockets, level-triggered,
//! one read of at most 16 KiB per wake-up. The requests in it (pipelined
//! ones too) are answered in order with one write; a response the peer has
//! no room for yet is kept, and the connection then waits to be writable,
//! reading nothing more until it is sent. After a response that closes the
//! connection the server shuts down its writing half and reads until the
//! client closes, so that unread bytes never turn the close into a reset
//! that could destroy the response before the client has read it.

use http_proto::Parser;
use kwasm_net::{Event, Events, Interest, Mode, Poller, TcpListener, TcpStream};
use std::convert::Infallible;
use std::io::{self, ErrorKind, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: http-server [--listen ADDR:PORT | --tcplisten-fd N]";
/// The listening socket's token; a connection's token is its slot.
const LISTENER: u64 = u64::MAX;
/// How much one read takes from a connection.
const BUF_SIZE: usize = 16 * 1024;
/// How long accepting pauses after an error such as running out of fds.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

enum Listen {
    Bind(SocketAddr),
    Fd(RawFd),
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Listen, String> {
    let mut listen = Listen::Bind(SocketAddr::from(([127, 0, 0, 1], 8080)));
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading and answering requests.
    Open,
    /// The last response is queued; then the writing half is shut down.
    Closing,
    /// Shut down for writing: reading (and dropping) until the client closes.
    Draining,
}

struct Conn {
    stream: TcpStream,
    parser: Parser,
    /// Responses not sent yet. While there are any the connection waits to
    /// be writable, not readable.
    out: Vec<u8>,
    state: State,
}

impl Conn {
    /// Reads once and answers what it completes. `Ok(false)`: the client
    /// closed the connection (a request it left unfinished is dropped).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let n = match self.stream.read(buf) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => return Ok(true),
            Err(e) => return Err(e),
        };
        if self.state == State::Draining {
            return Ok(true);
        }
        self.parser.push(&buf[..n]);
        loop {
            match self.parser.next_request() {
                Ok(Some(request)) => {
                    request.write_response(&mut self.out);
                    if !request.keep_alive {
                        self.state = State::Closing;
                        break;
                    }
                }
                Ok(None) => {
                    if self.parser.take_continue() {
                        self.out.extend_from_slice(http_proto::CONTINUE);
                    }
                    break;
                }
                Err(e) => {
                    e.write_response(&mut self.out);
                    self.state = State::Closing;
                    break;
                }
            }
        }
        self.flush()?;
        Ok(true)
    }

    /// Writes as much of the pending responses as the peer takes now; once
    /// the last one is out, shuts down the writing half.
    fn flush(&mut self) -> io::Result<()> {
        let mut sent = 0;
        while sent < self.out.len() {
            match self.stream.write(&self.out[sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.drain(..sent);
        if self.out.is_empty() && self.state == State::Closing {
            self.stream.shutdown(Shutdown::Write)?;
            self.state = State::Draining;
        }
        Ok(())
    }
}

struct Server {
    listener: TcpListener,
    poller: Poller,
    /// Connections by slot; `free` lists the empty slots.
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// While accepting is paused: when it resumes.
    resume_accepting: Option<Instant>,
    buf: Vec<u8>,
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
            buf: vec![0; BUF_SIZE],
        })
    }

    fn run(&mut self) -> io::Result<Infallible> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self
                .resume_accepting
                .map(|t| t.saturating_duration_since(Instant::now()));
            match self.poller.wait(&mut events, timeout) {
                Ok(_) => {}
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
                    eprintln!("http-server: accept: {e}");
                    self.poller.delete(self.listener.as_raw_fd())?;
                    self.resume_accepting = Some(Instant::now() + ACCEPT_BACKOFF);
                    return Ok(());
                }
            };
            // A response goes out at once, not after the previous one is acknowledged.
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
                        parser: Parser::new(),
                        out: Vec::new(),
                        state: State::Open,
                    })
                }
                Err(e) => {
                    eprintln!("http-server: registering a connection: {e}");
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
        let was_blocked = !conn.out.is_empty();
        let open = if was_blocked {
            conn.flush().map(|()| true)
        } else if event.readable || event.hangup || event.error {
            conn.read(&mut self.buf)
        } else {
            Ok(true)
        };
        let open = open.and_then(|open| {
            let blocked = !conn.out.is_empty();
            if open && blocked != was_blocked {
                let interest = if blocked {
                    Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                self.poller
                    .modify(conn.stream.as_raw_fd(), interest, slot as u64, Mode::Level)?;
            }
            Ok(open)
        });
        match open {
            Ok(true) => return,
            Ok(false) => {}
            // Resets are the client's business, not news.
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {}
            Err(e) => eprintln!("http-server: connection ended: {e}"),
        }
        // Closing the fd also removes it from the poller.
        self.conns[slot] = None;
        self.free.push(slot);
    }
}

fn main() -> ExitCode {
    let listen = match parse_args(std::env::args().skip(1)) {
        Ok(listen) => listen,
        Err(e) => {
            eprintln!("http-server: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match listen {
        Listen::Bind(addr) => match TcpListener::bind(addr) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("http-server: listening on {addr}: {e}");
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
        writeln!(stdout, "http-server: listening on {addr}")?;
        stdout.flush()?;
        server.run()
    });
    match result {
        Ok(never) => match never {},
        Err(e) => {
            eprintln!("http-server: {e}");
            ExitCode::FAILURE
        }
    }
}
