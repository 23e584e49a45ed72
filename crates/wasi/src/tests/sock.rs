//! `sock_*`: on sockets only, flags checked, buffers scattered and gathered.

use super::*;
use fake::SockState;

fn with_socket(t: &mut T) -> (u32, Shared<SockState>) {
    let state: Shared<SockState> = Rc::default();
    let fd = t.cx.add_socket(FakeFile::Sock { state: state.clone(), listener: false, nonblock: false }, filetype::SOCKET_STREAM).unwrap();
    (fd, state)
}

#[test]
fn non_sockets_are_notsock_and_unknown_fds_badf() {
    let mut t = T::new();
    t.dir.write("f", b"");
    let f = t.open(b"f", 0, RW, 0).unwrap();
    let out = t.alloc(8);
    for fd in [0, 1, 3, f] {
        assert_eq!(t.call(|h, cx, m| sock_accept(h, cx, m, fd, 0, out)), errno::NOTSOCK);
        assert_eq!(t.call(|h, cx, m| sock_recv(h, cx, m, fd, 0, 0, 0, out, out + 4)), errno::NOTSOCK);
        assert_eq!(t.call(|h, cx, m| sock_send(h, cx, m, fd, 0, 0, 0, out)), errno::NOTSOCK);
        assert_eq!(t.call(|h, cx, m| sock_shutdown(h, cx, m, fd, sockflags::SHUT_WR)), errno::NOTSOCK);
    }
    assert_eq!(t.call(|h, cx, m| sock_accept(h, cx, m, 50, 0, out)), errno::BADF);
    assert_eq!(t.call(|h, cx, m| sock_shutdown(h, cx, m, 50, 1)), errno::BADF);
}

#[test]
fn accept_hands_out_a_new_socket_fd() {
    let mut t = T::new();
    let state: Shared<SockState> = Rc::default();
    state.borrow_mut().pending = 1;
    let l = t.cx.add_socket(FakeFile::Sock { state: state.clone(), listener: true, nonblock: false }, filetype::SOCKET_STREAM).unwrap();
    assert_eq!(l, 4);
    let out = t.alloc(4);
    assert_eq!(t.call(|h, cx, m| sock_accept(h, cx, m, l, fdflags::APPEND as u32, out)), errno::INVAL);
    assert_eq!(t.call(|h, cx, m| sock_accept(h, cx, m, l, 0, MEM as u32)), errno::FAULT);
    assert_eq!(state.borrow().pending, 1, "nothing accepted on a bad call");
    assert_eq!(t.call(|h, cx, m| sock_accept(h, cx, m, l, fdflags::NONBLOCK as u32, out)), errno::SUCCESS);
    let c = t.u32(out);
    assert_eq!(c, 5);
    assert_eq!(t.fdstat(c), Ok((filetype::SOCKET_STREAM, fdflags::NONBLOCK, rights::SOCKET, rights::SOCKET)));
    assert_eq!(t.call(|h, cx, m| sock_accept(h, cx, m, l, 0, out)), errno::AGAIN);
}

#[test]
fn recv_scatters_and_peeks() {
    let mut t = T::new();
    let (s, state) = with_socket(&mut t);
    state.borrow_mut().rx.extend(b"hello world");
    let a = t.alloc(4);
    let b = t.alloc(16);
    let (iovs, n) = t.iovs(&[(a, 4), (0, 0), (b, 16)]);
    let out = t.alloc(8);
    t.put(out + 4, &[0xff, 0xff]);
    let peek = sockflags::RECV_PEEK;
    assert_eq!(t.call(|h, cx, m| sock_recv(h, cx, m, s, iovs, n, peek, out, out + 4)), errno::SUCCESS);
    assert_eq!((t.u32(out), t.u16(out + 4)), (11, 0));
    assert_eq!((t.bytes(a, 4), t.bytes(b, 7)), (&b"hell"[..], &b"o world"[..]));
    assert_eq!(state.borrow().rx.len(), 11, "peeked, not consumed");
    let (iovs, n) = t.iovs(&[(b, 5)]);
    assert_eq!(t.call(|h, cx, m| sock_recv(h, cx, m, s, iovs, n, 0, out, out + 4)), errno::SUCCESS);
    assert_eq!((t.u32(out), t.bytes(b, 5)), (5, &b"hello"[..]));
    assert_eq!(state.borrow().rx.len(), 6);
    assert_eq!(t.call(|h, cx, m| sock_recv(h, cx, m, s, iovs, n, 4, out, out + 4)), errno::INVAL);
    assert_eq!(t.call(|h, cx, m| sock_recv(h, cx, m, s, iovs, n, 0, out, MEM as u32 - 1)), errno::FAULT);
    // fd_read works on a socket too.
    assert_eq!(t.read(s, 100).unwrap(), b" world");
}

#[test]
fn send_gathers_and_shutdown_checks_how() {
    let mut t = T::new();
    let (s, state) = with_socket(&mut t);
    let a = t.data(b"ab");
    let b = t.data(b"cde");
    let (iovs, n) = t.iovs(&[a, b]);
    let out = t.alloc(4);
    assert_eq!(t.call(|h, cx, m| sock_send(h, cx, m, s, iovs, n, 0, out)), errno::SUCCESS);
    assert_eq!(t.u32(out), 5);
    assert_eq!(state.borrow().tx, b"abcde");
    assert_eq!(t.call(|h, cx, m| sock_send(h, cx, m, s, iovs, n, 1, out)), errno::INVAL, "no si_flags exist");
    assert_eq!(t.write(s, b"!"), Ok(1));
    assert_eq!(state.borrow().tx, b"abcde!");
    for bad in [0, 4] {
        assert_eq!(t.call(|h, cx, m| sock_shutdown(h, cx, m, s, bad)), errno::INVAL);
    }
    assert_eq!(t.call(|h, cx, m| sock_shutdown(h, cx, m, s, sockflags::SHUT_WR)), errno::SUCCESS);
    assert_eq!(state.borrow().shut, Some((false, true)));
    assert_eq!(t.call(|h, cx, m| sock_shutdown(h, cx, m, s, 3)), errno::SUCCESS);
    assert_eq!(state.borrow().shut, Some((true, true)));
}

#[test]
fn sockets_poll_with_the_queued_byte_count() {
    let mut t = T::new();
    let (s, state) = with_socket(&mut t);
    state.borrow_mut().rx.extend(b"12345");
    let at = t.alloc(48);
    t.put(at + 8, &[event::FD_READ]);
    t.put(at + 16, &s.to_le_bytes());
    let ev = t.alloc(32);
    let nev = t.alloc(4);
    assert_eq!(t.call(|h, cx, m| poll_oneoff(h, cx, m, at, ev, 1, nev)), errno::SUCCESS);
    assert_eq!((t.u32(nev), t.u8(ev + 10), t.u64(ev + 16)), (1, event::FD_READ, 5));
}
