//! kwasm_net bound into Wasmtime (docs/kwasm_net.md): sockets as fds of the
//! program's WASI table, used through `platform::net`, and pollers
//! (`poller.rs`). Layouts and numbers are `kwasm_wasi::net`'s; each import
//! returns its value or `-errno`.

use super::parking::Parking;
use super::poller::{NetState, Poller};
use super::store::{host_call, RunState, Sleeps, WasiContext as Context};
use super::wasi::{close_fd, restart, with_run};
use crate::platform::file::{FileRef, O_NONBLOCK};
use crate::platform::net::{self, SockOption};
use kwasm_wasi::net::{ctl, events, msg, option, ret, write_event, SockAddr, EVENT_SIZE, MAX_EVENTS, MAX_POLLERS};
use kwasm_wasi::net::{BatchOp, KIND_STREAM, MODULE, SOCKET_NONBLOCK};
use kwasm_wasi::{errno, filetype, Errno, GuestMemory};
use wasmtime::{Caller, Linker, Result};

fn linux(e: i32) -> Errno {
    errno::from_linux(e)
}

fn file(cx: &Context, fd: u32) -> Result<&FileRef, Errno> {
    cx.file(fd).ok_or(errno::BADF)
}

fn socket(cx: &Context, fd: u32) -> Result<&FileRef, Errno> {
    let f = file(cx, fd)?;
    if net::is_socket(f) {
        Ok(f)
    } else {
        Err(errno::NOTSOCK)
    }
}

fn sock_option(o: i32) -> Result<SockOption, Errno> {
    Ok(match o {
        option::REUSEADDR => SockOption::ReuseAddr,
        option::NODELAY => SockOption::NoDelay,
        option::KEEPALIVE => SockOption::KeepAlive,
        option::RCVBUF => SockOption::RecvBuffer,
        option::SNDBUF => SockOption::SendBuffer,
        option::REUSEPORT => SockOption::ReusePort,
        _ => return Err(errno::INVAL),
    })
}

/// Adds a new socket to the fd table (closing it if the table is full).
fn install(cx: &mut Context, sock: FileRef) -> Result<u32, Errno> {
    cx.add_socket(sock, filetype::SOCKET_STREAM)
}

fn open(cx: &mut Context, family: i32, kind: i32, flags: i32) -> Result<u32, Errno> {
    // Linux's AF_INET or AF_INET6, as the kernel takes it.
    let af = i32::from(SockAddr::family_of(family)?);
    if kind != KIND_STREAM {
        return Err(errno::NOTSUP);
    }
    if flags & !SOCKET_NONBLOCK != 0 {
        return Err(errno::INVAL);
    }
    let sock = net::open_stream(af, flags & SOCKET_NONBLOCK != 0).map_err(linux)?;
    install(cx, sock)
}

fn accept(m: &mut GuestMemory<'_>, cx: &mut Context, fd: u32, flags: i32, addr_out: u32) -> Result<u32, Errno> {
    if flags & !SOCKET_NONBLOCK != 0 {
        return Err(errno::INVAL);
    }
    // A bad address pointer must not cost the program a connection.
    if addr_out != 0 {
        m.check(addr_out, kwasm_wasi::net::ADDRESS_SIZE)?;
    }
    let conn = net::accept(socket(cx, fd)?, flags & SOCKET_NONBLOCK != 0).map_err(linux)?;
    let peer = if addr_out != 0 { Some(name(&conn, true)?) } else { None };
    let new_fd = install(cx, conn)?;
    if let Some(peer) = peer {
        peer.write(m, addr_out)?;
    }
    Ok(new_fd)
}

fn name(f: &FileRef, peer: bool) -> Result<SockAddr, Errno> {
    let mut a = SockAddr::empty();
    let len = net::name(f, peer, a.buffer()).map_err(linux)?;
    a.set_len(len);
    Ok(a)
}

fn recv(m: &mut GuestMemory<'_>, cx: &Context, fd: u32, buf: u32, len: u32, flags: i32) -> Result<u32, Errno> {
    if flags & !(msg::PEEK | msg::DONTWAIT | msg::WAITALL) != 0 {
        return Err(errno::INVAL);
    }
    let mut linux_flags = 0;
    for (ours, theirs) in [
        (msg::PEEK, net::MSG_PEEK),
        (msg::DONTWAIT, net::MSG_DONTWAIT),
        (msg::WAITALL, net::MSG_WAITALL),
    ] {
        if flags & ours != 0 {
            linux_flags |= theirs;
        }
    }
    let f = file(cx, fd)?;
    let buf = m.slice_mut(buf, len)?;
    net::recv(f, buf, linux_flags).map(|n| n as u32).map_err(linux)
}

fn send(m: &GuestMemory<'_>, cx: &Context, fd: u32, buf: u32, len: u32, flags: i32) -> Result<u32, Errno> {
    if flags & !msg::DONTWAIT != 0 {
        return Err(errno::INVAL);
    }
    let f = file(cx, fd)?;
    let data = m.slice(buf, len)?;
    let flags = if flags & msg::DONTWAIT != 0 { net::MSG_DONTWAIT } else { 0 };
    net::send(f, data, flags).map(|n| n as u32).map_err(linux)
}

fn set_option(cx: &Context, fd: u32, opt: i32, value: i32) -> Result<u32, Errno> {
    let f = socket(cx, fd)?;
    if opt == option::NONBLOCK {
        f.set_flags(O_NONBLOCK, if value != 0 { O_NONBLOCK } else { 0 });
        return Ok(0);
    }
    net::set_option(f, sock_option(opt)?, value).map(|_| 0).map_err(linux)
}

fn get_option(cx: &Context, fd: u32, opt: i32) -> Result<u32, Errno> {
    let f = socket(cx, fd)?;
    match opt {
        option::NONBLOCK => Ok(u32::from(f.flags() & O_NONBLOCK != 0)),
        option::ERROR => match net::take_error(f).map_err(linux)? {
            0 => Ok(0),
            e => Ok(u32::from(linux(e))),
        },
        o => net::get_option(f, sock_option(o)?).map(|v| v.max(0) as u32).map_err(linux),
    }
}

fn poller_ctl(cx: &Context, st: &mut NetState, handle: u32, op: i32, fd: u32, ev: u32, data: u64) -> Result<u32, Errno> {
    let p = st.poller(handle)?;
    if op == ctl::DEL {
        return p.remove(fd).map(|_| 0);
    }
    if ev & !(events::READINESS | events::ONESHOT | events::ET) != 0 {
        return Err(errno::INVAL);
    }
    match op {
        // Only sockets: their wait queues live as long as they do (some
        // other files' do not, which epoll handles with POLLFREE).
        ctl::ADD => p.add(fd, socket(cx, fd)?, ev, data),
        ctl::MOD => p.modify(fd, ev, data),
        _ => Err(errno::INVAL),
    }
    .map(|_| 0)
}

fn poller_wait(
    m: &mut GuestMemory<'_>,
    st: &mut NetState,
    parking: &Parking,
    handle: u32,
    out: u32,
    max: u32,
    timeout_ns: i64,
    run_deadline_ns: Option<u64>,
) -> Result<u32, Errno> {
    if max == 0 {
        return Err(errno::INVAL);
    }
    let max = max.min(MAX_EVENTS);
    m.check(out, max * EVENT_SIZE)?;
    let timeout = match timeout_ns {
        t if t < 0 => None,
        t => Some(t as u64),
    };
    let mut ready = core::mem::take(&mut st.ready);
    ready.clear();
    let r = st.poller(handle).and_then(|p| p.wait(&mut ready, max as usize, timeout, run_deadline_ns, parking));
    for (i, e) in ready.iter().enumerate() {
        // Cannot fail: the whole array was checked above.
        write_event(m, out, i as u32, e.user_data, e.events)?;
    }
    let n = ready.len() as u32;
    st.ready = ready;
    r.map(|_| n)
}

/// Makes `call` again while a signal the process survives interrupts it
/// (see [`restart`]); a trap if the signal ends the process.
fn restarting(s: &mut RunState, mut call: impl FnMut(&mut RunState) -> Result<u32, Errno>) -> Result<Result<u32, Errno>> {
    loop {
        let r = call(s);
        if r != Err(errno::INTR) || !restart(&s.parking)? {
            return Ok(r);
        }
    }
}

/// One op of a `submit` batch, restarted as a call of its own would be
/// (never the ops before it: their sends must not go out twice).
fn batch_op(m: &mut GuestMemory<'_>, s: &mut RunState, op: BatchOp) -> Result<Result<u32, Errno>> {
    restarting(s, |s| match op {
        BatchOp::Send { fd, buf, len, flags } => send(m, &s.wasi, fd, buf, len, flags),
        BatchOp::Recv { fd, buf, len, flags } => recv(m, &s.wasi, fd, buf, len, flags),
        BatchOp::PollerWait { poller, events, max_events, timeout_ns } => {
            let deadline = s.deadline_ns();
            poller_wait(m, &mut s.net, &s.parking, poller, events, max_events, timeout_ns, deadline)
        }
    })
}

type C<'a> = Caller<'a, RunState>;

/// Binds each kwasm_net import: `$name(args) => |memory, state| body`
/// returning `Result<u32, Errno>`, handed to wasm as value or `-errno`;
/// a call interrupted by a signal is restarted as WASI's are. Every one
/// runs outside the wasm section: the network stack may sleep anywhere.
macro_rules! bind {
    ($linker:ident, $( $name:ident ( $( $arg:ident : $ty:ty ),* ) => |$m:ident, $s:ident| $body:expr ),* $(,)?) => {
        $(
            $linker.func_wrap(MODULE, stringify!($name), |mut c: C<'_>, $( $arg: $ty ),*| -> Result<i32> {
                host_call(&mut c, Sleeps::Maybe, |c| {
                    #[allow(unused_variables)]
                    with_run(c, |$m, $s| restarting($s, |$s| -> Result<u32, Errno> { $body }).map(ret))
                        .and_then(|r| r)
                })
            })?;
        )*
    };
}

/// Adds every kwasm_net function to `l`.
pub(super) fn add_to_linker(l: &mut Linker<RunState>) -> Result<()> {
    bind!(l,
        socket(family: i32, kind: i32, flags: i32) => |m, s| open(&mut s.wasi, family, kind, flags),
        bind(fd: u32, addr: u32) => |m, s| {
            SockAddr::read(m, addr).and_then(|a| net::bind(socket(&s.wasi, fd)?, a.as_bytes()).map_err(linux)).map(|_| 0)
        },
        listen(fd: u32, backlog: i32) => |m, s| net::listen(socket(&s.wasi, fd)?, backlog).map(|_| 0).map_err(linux),
        connect(fd: u32, addr: u32) => |m, s| {
            SockAddr::read(m, addr).and_then(|a| net::connect(socket(&s.wasi, fd)?, a.as_bytes()).map_err(linux)).map(|_| 0)
        },
        accept(fd: u32, flags: i32, addr: u32) => |m, s| accept(m, &mut s.wasi, fd, flags, addr),
        recv(fd: u32, buf: u32, len: u32, flags: i32) => |m, s| recv(m, &s.wasi, fd, buf, len, flags),
        send(fd: u32, buf: u32, len: u32, flags: i32) => |m, s| send(m, &s.wasi, fd, buf, len, flags),
        shutdown(fd: u32, how: i32) => |m, s| {
            if !(0..=2).contains(&how) {
                return Err(errno::INVAL);
            }
            net::shutdown(socket(&s.wasi, fd)?, how).map(|_| 0).map_err(linux)
        },
        close(fd: u32) => |m, s| close_fd(s, m, fd),
        set_option(fd: u32, opt: i32, value: i32) => |m, s| set_option(&s.wasi, fd, opt, value),
        get_option(fd: u32, opt: i32) => |m, s| get_option(&s.wasi, fd, opt),
        local_addr(fd: u32, out: u32) => |m, s| name(socket(&s.wasi, fd)?, false).and_then(|a| a.write(m, out)).map(|_| 0),
        peer_addr(fd: u32, out: u32) => |m, s| name(socket(&s.wasi, fd)?, true).and_then(|a| a.write(m, out)).map(|_| 0),
        poller_create() => |m, s| {
            let pollers = &mut s.net.pollers;
            let slot = match pollers.iter().position(Option::is_none) {
                Some(i) => i,
                None if pollers.len() < MAX_POLLERS => {
                    pollers.push(None);
                    pollers.len() - 1
                }
                None => return Err(errno::MFILE),
            };
            pollers[slot] = Some(Poller::new().ok_or(errno::NOMEM)?);
            Ok(slot as u32)
        },
        poller_ctl(p: u32, op: i32, fd: u32, ev: u32, data: u64) => |m, s| poller_ctl(&s.wasi, &mut s.net, p, op, fd, ev, data),
        poller_wait(p: u32, out: u32, max: u32, timeout: i64) => |m, s| {
            let deadline = s.deadline_ns();
            poller_wait(m, &mut s.net, &s.parking, p, out, max, timeout, deadline)
        },
        poller_close(p: u32) => |m, s| {
            s.net.poller(p)?;
            s.net.pollers[p as usize] = None;
            Ok(0)
        },
    );
    // Not through `bind!`: a signal restarts the op it interrupted, not
    // the batch.
    l.func_wrap(MODULE, "submit", |mut c: C<'_>, ops: u32, count: u32| -> Result<i32> {
        host_call(&mut c, Sleeps::Maybe, |c| {
            with_run(c, |m, s| kwasm_wasi::net::submit(m, ops, count, |m, op| batch_op(m, s, op)).map(ret))
                .and_then(|r| r)
        })
    })?;
    Ok(())
}
