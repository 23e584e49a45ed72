//! Sockets and the poller on loopback, through the native backend: the
//! semantics `docs/kwasm_net.md` promises for both (kwasm.ko's are checked
//! by the guest tests against the same expectations).

use kwasm_net::{Batch, Event, Events, Interest, Mode, Poller, TcpListener, TcpStream};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::time::{Duration, Instant};

/// Long enough for anything that should happen on loopback; a test that
/// waits this long for an event has failed.
const LONG: Option<Duration> = Some(Duration::from_secs(5));
/// How long to wait to see that nothing is reported.
const SHORT: Option<Duration> = Some(Duration::from_millis(50));

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A connected pair: (client, server side).
fn pair() -> (TcpStream, TcpStream) {
    let (l, addr) = listener();
    let client = TcpStream::connect(addr).unwrap();
    let (server, _) = l.accept().unwrap();
    (client, server)
}

fn wait(poller: &Poller, events: &mut Events, timeout: Option<Duration>) -> Vec<Event> {
    let n = poller.wait(events, timeout).unwrap();
    assert_eq!(n, events.len());
    events.iter().collect()
}

fn tokens(poller: &Poller, events: &mut Events, timeout: Option<Duration>) -> Vec<u64> {
    wait(poller, events, timeout).iter().map(|e| e.token).collect()
}

#[test]
fn echo_over_loopback() {
    let (l, addr) = listener();
    assert!(addr.port() != 0);
    let mut client = TcpStream::connect(addr).unwrap();
    let (mut server, peer) = l.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(server.peer_addr().unwrap(), peer);
    assert_eq!(client.peer_addr().unwrap(), addr);
    assert_eq!(server.local_addr().unwrap(), addr);

    client.write_all(b"hello, kwasm").unwrap();
    let mut buf = [0u8; 12];
    server.read_exact(&mut buf).unwrap();
    server.write_all(&buf).unwrap();
    let mut back = [0u8; 12];
    client.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"hello, kwasm");

    // The writing half shut: the other side reads the end of the stream.
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(server.read(&mut buf).unwrap(), 0);
    // The other direction still works.
    server.write_all(b"bye").unwrap();
    drop(server);
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bye");
}

#[test]
fn ipv6_loopback() {
    let l = match TcpListener::bind("[::1]:0".parse().unwrap()) {
        Ok(l) => l,
        Err(e) if e.kind() == ErrorKind::AddrNotAvailable => return eprintln!("no IPv6 loopback here: {e}"),
        Err(e) => panic!("bind [::1]: {e}"),
    };
    let addr = l.local_addr().unwrap();
    assert!(addr.is_ipv6());
    let client = TcpStream::connect(addr).unwrap();
    let (server, peer) = l.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    (&client).write_all(b"six").unwrap();
    let mut buf = [0u8; 3];
    (&server).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"six");
}

#[test]
fn nonblocking_accept_would_block() {
    let (l, addr) = listener();
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(l.accept_nonblocking().unwrap_err().kind(), ErrorKind::WouldBlock);

    let client = TcpStream::connect(addr).unwrap();
    let poller = Poller::new().unwrap();
    poller.add(l.as_raw_fd(), Interest::READABLE, 1, Mode::Level).unwrap();
    let mut events = Events::with_capacity(4);
    assert_eq!(tokens(&poller, &mut events, LONG), [1]);
    let (server, peer) = l.accept_nonblocking().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    // The stream accept_nonblocking gives does not wait for data.
    assert_eq!(server.read(&mut [0; 8]).unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn accept_gives_a_blocking_stream() {
    let (l, addr) = listener();
    l.set_nonblocking(true).unwrap();
    let client = TcpStream::connect(addr).unwrap();
    let poller = Poller::new().unwrap();
    poller.add(l.as_raw_fd(), Interest::READABLE, 1, Mode::Level).unwrap();
    let mut events = Events::with_capacity(4);
    assert_eq!(tokens(&poller, &mut events, LONG), [1]);
    let (server, _) = l.accept().unwrap();
    // A blocking read waits for the data written after it started.
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        (&client).write_all(b"late").unwrap();
        client
    });
    let mut buf = [0u8; 4];
    (&server).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late");
    writer.join().unwrap();
}

#[test]
fn nonblocking_stream_would_block_both_ways() {
    let (client, server) = pair();
    client.set_nonblocking(true).unwrap();
    assert_eq!(client.read(&mut [0; 16]).unwrap_err().kind(), ErrorKind::WouldBlock);
    // Nobody reads the server side: the buffers fill and a write must give up.
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0usize;
    let err = loop {
        match client.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) => break e,
        }
        assert!(sent < 1 << 30, "a non-blocking write never blocked");
    };
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
    assert!(sent > 0);
    // Back to blocking: a read waits for the data.
    client.set_nonblocking(false).unwrap();
    (&server).write_all(b"x").unwrap();
    let mut one = [0u8; 1];
    assert_eq!(client.read(&mut one).unwrap(), 1);
}

#[test]
fn level_triggered_reports_while_ready() {
    let (l, addr) = listener();
    l.set_nonblocking(true).unwrap();
    let poller = Poller::new().unwrap();
    poller.add(l.as_raw_fd(), Interest::READABLE, 7, Mode::Level).unwrap();
    let mut events = Events::with_capacity(4);
    assert!(tokens(&poller, &mut events, SHORT).is_empty());

    let _client = TcpStream::connect(addr).unwrap();
    for _ in 0..3 {
        let got = wait(&poller, &mut events, LONG);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].token, 7);
        assert!(got[0].readable && !got[0].writable && !got[0].error);
    }
    // Once accepted, the listener is no longer ready.
    l.accept().unwrap();
    assert!(tokens(&poller, &mut events, SHORT).is_empty());
}

#[test]
fn edge_triggered_reports_once_per_change() {
    let (client, server) = pair();
    server.set_nonblocking(true).unwrap();
    let poller = Poller::new().unwrap();
    poller
        .add(server.as_raw_fd(), Interest::READABLE, 9, Mode::Edge)
        .unwrap();
    let mut events = Events::with_capacity(4);

    (&client).write_all(b"one").unwrap();
    assert_eq!(tokens(&poller, &mut events, LONG), [9]);
    // Still readable (nothing was read), but there was no new edge.
    assert!(tokens(&poller, &mut events, SHORT).is_empty());
    // New data is a new edge.
    (&client).write_all(b"two").unwrap();
    assert_eq!(tokens(&poller, &mut events, LONG), [9]);
    assert!(tokens(&poller, &mut events, SHORT).is_empty());
    let mut buf = [0u8; 16];
    assert_eq!(server.read(&mut buf).unwrap(), 6);
    assert_eq!(server.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
}

#[test]
fn oneshot_disarms_until_modify() {
    let (client, server) = pair();
    let poller = Poller::new().unwrap();
    poller
        .add(server.as_raw_fd(), Interest::READABLE, 3, Mode::Oneshot)
        .unwrap();
    let mut events = Events::with_capacity(4);
    (&client).write_all(b"data").unwrap();
    assert_eq!(tokens(&poller, &mut events, LONG), [3]);
    // Disarmed, though the data is still unread.
    assert!(tokens(&poller, &mut events, SHORT).is_empty());
    assert!(tokens(&poller, &mut events, SHORT).is_empty());
    // Rearmed, with a new token; reported once more.
    poller
        .modify(server.as_raw_fd(), Interest::READABLE, 4, Mode::Oneshot)
        .unwrap();
    assert_eq!(tokens(&poller, &mut events, LONG), [4]);
    assert!(tokens(&poller, &mut events, SHORT).is_empty());
    // Modified to level triggered: reported by every wait.
    poller
        .modify(server.as_raw_fd(), Interest::READABLE, 5, Mode::Level)
        .unwrap();
    assert_eq!(tokens(&poller, &mut events, LONG), [5]);
    assert_eq!(tokens(&poller, &mut events, LONG), [5]);
}

#[test]
fn delete_stops_reports() {
    let (client, server) = pair();
    let poller = Poller::new().unwrap();
    poller
        .add(server.as_raw_fd(), Interest::READABLE, 1, Mode::Level)
        .unwrap();
    let mut events = Events::with_capacity(4);
    (&client).write_all(b"data").unwrap();
    assert_eq!(tokens(&poller, &mut events, LONG), [1]);
    poller.delete(server.as_raw_fd()).unwrap();
    assert!(tokens(&poller, &mut events, SHORT).is_empty());
    assert_eq!(
        poller.delete(server.as_raw_fd()).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // It can be added again.
    poller
        .add(server.as_raw_fd(), Interest::READABLE, 2, Mode::Level)
        .unwrap();
    assert_eq!(tokens(&poller, &mut events, LONG), [2]);
}

#[test]
fn registration_errors() {
    let (_client, server) = pair();
    let poller = Poller::new().unwrap();
    let fd = server.as_raw_fd();
    assert_eq!(
        poller
            .modify(fd, Interest::READABLE, 0, Mode::Level)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    poller.add(fd, Interest::READABLE, 0, Mode::Level).unwrap();
    assert_eq!(
        poller.add(fd, Interest::READABLE, 0, Mode::Level).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
}

#[test]
fn closing_an_fd_unregisters_it() {
    let (client, server) = pair();
    let poller = Poller::new().unwrap();
    poller
        .add(client.as_raw_fd(), Interest::WRITABLE, 1, Mode::Level)
        .unwrap();
    let mut events = Events::with_capacity(4);
    assert_eq!(tokens(&poller, &mut events, LONG), [1]);
    drop(client);
    assert!(tokens(&poller, &mut events, SHORT).is_empty());
    drop(server);
}

#[test]
fn wait_timeout_returns_zero_after_the_timeout() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(4);
    for ms in [0u64, 1, 30, 100] {
        let timeout = Duration::from_millis(ms);
        let start = Instant::now();
        assert_eq!(poller.wait(&mut events, Some(timeout)).unwrap(), 0);
        assert!(events.is_empty());
        assert!(start.elapsed() >= timeout, "{ms} ms: woke after {:?}", start.elapsed());
    }
    // Not whole milliseconds: rounded up, never down.
    let timeout = Duration::from_micros(2500);
    let start = Instant::now();
    assert_eq!(poller.wait(&mut events, Some(timeout)).unwrap(), 0);
    assert!(start.elapsed() >= timeout, "woke after {:?}", start.elapsed());

    // A registered fd that is not ready does not end the wait either.
    let (_client, server) = pair();
    poller
        .add(server.as_raw_fd(), Interest::READABLE, 1, Mode::Level)
        .unwrap();
    let timeout = Duration::from_millis(60);
    let start = Instant::now();
    assert_eq!(poller.wait(&mut events, Some(timeout)).unwrap(), 0);
    assert!(start.elapsed() >= timeout, "woke after {:?}", start.elapsed());
}

#[test]
fn event_bits_and_tokens() {
    let (client, server) = pair();
    let poller = Poller::new().unwrap();
    // The whole u64 comes back (the native record is packed: no truncation, no misreading).
    poller
        .add(
            client.as_raw_fd(),
            Interest::READABLE | Interest::WRITABLE,
            u64::MAX,
            Mode::Level,
        )
        .unwrap();
    let mut events = Events::with_capacity(4);
    let got = wait(&poller, &mut events, LONG);
    assert_eq!(
        got,
        [Event {
            token: u64::MAX,
            readable: false,
            writable: true,
            hangup: false,
            error: false
        }]
    );

    (&server).write_all(b"x").unwrap();
    poller
        .add(
            server.as_raw_fd(),
            Interest::READABLE | Interest::WRITABLE,
            0x8000_0000_0000_0001,
            Mode::Level,
        )
        .unwrap();
    // Wait until the byte has arrived, then both are reported.
    let mut got = Vec::new();
    for _ in 0..100 {
        got = wait(&poller, &mut events, LONG);
        if got.iter().any(|e| e.token == u64::MAX && e.readable) {
            break;
        }
    }
    got.sort_by_key(|e| e.token);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0].token, got[0].readable, got[0].writable),
        (0x8000_0000_0000_0001, false, true)
    );
    assert_eq!((got[1].token, got[1].readable, got[1].writable), (u64::MAX, true, true));
}

#[test]
fn interest_flags() {
    assert!(Interest::READABLE.is_readable() && !Interest::READABLE.is_writable());
    assert!(Interest::WRITABLE.is_writable() && !Interest::WRITABLE.is_readable());
    let both = Interest::READABLE | Interest::WRITABLE;
    assert!(both.is_readable() && both.is_writable());
}

#[test]
fn events_capacity_bounds_a_wait() {
    let poller = Poller::new().unwrap();
    let pairs: Vec<_> = (0..5).map(|_| pair()).collect();
    for (i, (client, _)) in pairs.iter().enumerate() {
        poller
            .add(client.as_raw_fd(), Interest::WRITABLE, i as u64, Mode::Level)
            .unwrap();
    }
    let mut events = Events::with_capacity(2);
    assert_eq!(events.capacity(), 2);
    assert_eq!(poller.wait(&mut events, LONG).unwrap(), 2);
    assert_eq!(events.iter().len(), 2);
    let mut big = Events::with_capacity(64);
    let mut all = tokens(&poller, &mut big, LONG);
    all.sort();
    assert_eq!(all, [0, 1, 2, 3, 4]);
    // Capacity 0 means room for one.
    assert_eq!(Events::with_capacity(0).capacity(), 1);
}

#[test]
fn peer_close_reads_end_of_stream() {
    let (client, server) = pair();
    server.set_nonblocking(true).unwrap();
    let poller = Poller::new().unwrap();
    poller
        .add(server.as_raw_fd(), Interest::READABLE, 1, Mode::Level)
        .unwrap();
    let mut events = Events::with_capacity(4);
    drop(client);
    let got = wait(&poller, &mut events, LONG);
    assert_eq!(got.len(), 1);
    assert!(got[0].readable, "{got:?}");
    assert_eq!(server.read(&mut [0; 8]).unwrap(), 0);
}

#[test]
fn writing_to_a_closed_connection_is_an_error_not_a_signal() {
    let (client, server) = pair();
    drop(server);
    // The first write may still be accepted; the peer's reset then fails
    // the next ones. A SIGPIPE would kill the test binary instead.
    let err = (0..100)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(5));
            client.write(b"anyone there?").err()
        })
        .expect("writes to a closed connection kept succeeding");
    assert!(
        matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
        "{err:?}"
    );
}

#[test]
fn connect_refused() {
    let (l, addr) = listener();
    drop(l);
    let err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn options() {
    let (client, server) = pair();
    assert!(!client.nodelay().unwrap());
    client.set_nodelay(true).unwrap();
    assert!(client.nodelay().unwrap());
    client.set_nodelay(false).unwrap();
    assert!(!client.nodelay().unwrap());
    assert!(client.take_error().unwrap().is_none());
    assert!(server.take_error().unwrap().is_none());
    let (l, _) = listener();
    assert!(l.take_error().unwrap().is_none());
}

#[test]
fn bind_reuses_the_address_of_a_closed_connection() {
    // A server that closes a connection first leaves it in TIME_WAIT;
    // SO_REUSEADDR lets a new listener bind the same port at once.
    let (l, addr) = listener();
    let client = TcpStream::connect(addr).unwrap();
    let (server, _) = l.accept().unwrap();
    drop(server);
    drop(l);
    drop(client);
    let again = TcpListener::bind(addr).unwrap();
    assert_eq!(again.local_addr().unwrap(), addr);
}

#[test]
fn raw_fd_round_trip() {
    let (l, addr) = listener();
    let fd = l.into_raw_fd();
    // SAFETY: `fd` came from into_raw_fd just now; nothing else owns it.
    let l = unsafe { TcpListener::from_raw_fd(fd) };
    assert_eq!(l.as_raw_fd(), fd);
    assert_eq!(l.local_addr().unwrap(), addr);
    let _client = TcpStream::connect(addr).unwrap();
    let (server, _) = l.accept().unwrap();
    let fd = server.into_raw_fd();
    // SAFETY: as above.
    let server = unsafe { TcpStream::from_raw_fd(fd) };
    assert_eq!(server.local_addr().unwrap(), addr);
}

#[test]
fn a_batch_sends_then_waits_in_one_call() {
    let (client, server) = pair();
    let poller = Poller::new().unwrap();
    poller.add(client.as_raw_fd(), Interest::READABLE, 7, Mode::Level).unwrap();
    let mut events = Events::with_capacity(8);
    let mut batch = Batch::new();
    let send = batch.send(&server, b"hello");
    let wait = batch.wait(&poller, &mut events, LONG);
    assert_eq!(batch.submit().unwrap(), 2);
    assert_eq!(batch.result(send).unwrap().unwrap(), 5);
    // The wait saw the reply it came after.
    assert_eq!(batch.result(wait).unwrap().unwrap(), 1);
    assert_eq!(events.iter().map(|e| (e.token, e.readable)).collect::<Vec<_>>(), [(7, true)]);
    let mut buf = [0u8; 16];
    let mut batch = Batch::new();
    let recv = batch.recv(&client, &mut buf);
    assert_eq!(batch.submit().unwrap(), 1);
    assert_eq!(batch.result(recv).unwrap().unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
}

#[test]
fn a_batch_stops_after_a_failed_op() {
    let (client, _server) = pair();
    client.set_nonblocking(true).unwrap();
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(8);
    let mut buf = [0u8; 16];
    let mut batch = Batch::new();
    let recv = batch.recv(&client, &mut buf);
    let wait = batch.wait(&poller, &mut events, LONG);
    let started = Instant::now();
    // Nothing to read: the receive fails and the wait never runs (so it
    // did not sit out its timeout).
    assert_eq!(batch.submit().unwrap(), 1);
    assert_eq!(batch.result(recv).unwrap().unwrap_err().kind(), ErrorKind::WouldBlock);
    assert!(batch.result(wait).is_none());
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(events.is_empty());
    // An empty batch runs nothing.
    assert_eq!(Batch::new().submit().unwrap(), 0);
}

#[test]
fn a_batch_stops_after_a_short_send() {
    let (client, server) = pair();
    server.set_nonblocking(true).unwrap();
    // More than the socket buffers hold while the client reads nothing.
    let big = vec![7u8; 64 << 20];
    let mut batch = Batch::new();
    let first = batch.send(&server, &big);
    let second = batch.send(&server, b"never");
    assert_eq!(batch.submit().unwrap(), 1);
    let sent = batch.result(first).unwrap().unwrap();
    assert!(sent > 0 && sent < big.len(), "sent {sent}");
    assert!(batch.result(second).is_none());
    drop(client);
}
