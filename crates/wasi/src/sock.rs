//! The `sock_*` functions, on sockets the program was handed or accepted.
//! Any other fd is NOTSOCK (an fd that is not open: BADF).

use crate::errno::{self, Errno};
use crate::fd::{check_iovecs, iovec};
use crate::fdtable::{Entry, Kind};
use crate::{fdflags, filetype, result, rights, sockflags, GuestMemory, Host, Wasi};
use alloc::vec::Vec;

/// Most bytes one `sock_recv`/`sock_send` over several buffers moves at
/// once: such a call goes through one kernel buffer (a datagram must not
/// be split across calls), and a shorter transfer is always allowed.
const GATHER_MAX: usize = 64 * 1024;

fn socket<F>(cx: &Wasi<F>, fd: u32, needed: u64) -> Result<&Entry<F>, Errno> {
    let e = cx.fds.get(fd)?;
    if !matches!(e.kind, Kind::Socket) {
        return Err(errno::NOTSOCK);
    }
    e.require(needed)?;
    Ok(e)
}

/// `sock_accept(fd, flags, fd: *mut u32)`: only NONBLOCK may be asked for.
pub fn sock_accept<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    flags: u32,
    new_fd: u32,
) -> Errno {
    result((|| {
        if flags & !(fdflags::ALL as u32) != 0 {
            return Err(errno::INVAL);
        }
        let e = socket(cx, fd, rights::SOCK_ACCEPT)?;
        if flags & !(fdflags::NONBLOCK as u32) != 0 {
            return Err(errno::INVAL);
        }
        mem.check(new_fd, 4)?;
        let conn = host.sock_accept(&e.file, flags & fdflags::NONBLOCK as u32 != 0)?;
        let entry = Entry::new(conn, Kind::Socket, filetype::SOCKET_STREAM, rights::SOCKET, rights::SOCKET);
        let n = cx.fds.push(entry)?;
        mem.write_u32(new_fd, n)
    })())
}

/// The non-empty buffers of a checked iovec array, in order.
fn buffers<'a>(mem: &'a GuestMemory<'_>, iovs: u32, count: u32) -> impl Iterator<Item = Result<(u32, u32), Errno>> + 'a {
    (0..count).map(move |i| iovec(mem, iovs, i)).filter(|r| !matches!(r, Ok((_, 0))))
}

/// How many non-empty buffers, the first of them, and their total length.
fn survey(mem: &GuestMemory<'_>, iovs: u32, count: u32) -> Result<(usize, (u32, u32), usize), Errno> {
    check_iovecs(mem, iovs, count)?;
    let (mut n, mut first, mut total) = (0, (0, 0), 0usize);
    for b in buffers(mem, iovs, count) {
        let b = b?;
        if n == 0 {
            first = b;
        }
        n += 1;
        total = total.saturating_add(b.1 as usize);
    }
    Ok((n, first, total))
}

fn bounce(len: usize) -> Result<Vec<u8>, Errno> {
    let mut b = Vec::new();
    b.try_reserve_exact(len).map_err(|_| errno::NOMEM)?;
    b.resize(len, 0);
    Ok(b)
}

/// `sock_recv(fd, ri_data: *const iovec, ri_data_len, ri_flags,
/// ro_datalen: *mut u32, ro_flags: *mut u16)`; ri_flags: RECV_PEEK,
/// RECV_WAITALL. ro_flags is always 0 (truncation is not reported).
pub fn sock_recv<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    ri_data: u32,
    ri_data_len: u32,
    ri_flags: u32,
    ro_datalen: u32,
    ro_flags: u32,
) -> Errno {
    result((|| {
        if ri_flags & !(sockflags::RECV_PEEK | sockflags::RECV_WAITALL) != 0 {
            return Err(errno::INVAL);
        }
        let peek = ri_flags & sockflags::RECV_PEEK != 0;
        let waitall = ri_flags & sockflags::RECV_WAITALL != 0;
        let e = socket(cx, fd, rights::FD_READ)?;
        mem.check(ro_datalen, 4)?;
        mem.check(ro_flags, 2)?;
        let (count, (base, len), total) = survey(mem, ri_data, ri_data_len)?;
        let n = if count <= 1 {
            host.sock_recv(&e.file, mem.slice_mut(base, len)?, peek, waitall)?
        } else {
            let mut tmp = bounce(total.min(GATHER_MAX))?;
            let n = host.sock_recv(&e.file, &mut tmp, peek, waitall)?.min(tmp.len());
            let mut rest = tmp.get(..n).unwrap_or_default();
            for i in 0..ri_data_len {
                if rest.is_empty() {
                    break;
                }
                let (base, len) = iovec(mem, ri_data, i)?;
                let (now, later) = rest.split_at(rest.len().min(len as usize));
                mem.write_bytes(base, now)?;
                rest = later;
            }
            n
        };
        mem.write_u32(ro_datalen, u32::try_from(n).map_err(|_| errno::OVERFLOW)?)?;
        mem.write_bytes(ro_flags, &0u16.to_le_bytes())
    })())
}

/// `sock_send(fd, si_data: *const ciovec, si_data_len, si_flags,
/// so_datalen: *mut u32)`; no si_flags are defined (non-zero: INVAL).
pub fn sock_send<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    mem: &mut GuestMemory<'_>,
    fd: u32,
    si_data: u32,
    si_data_len: u32,
    si_flags: u32,
    so_datalen: u32,
) -> Errno {
    result((|| {
        if si_flags != 0 {
            return Err(errno::INVAL);
        }
        let e = socket(cx, fd, rights::FD_WRITE)?;
        mem.check(so_datalen, 4)?;
        let (count, (base, len), total) = survey(mem, si_data, si_data_len)?;
        let n = if count <= 1 {
            host.sock_send(&e.file, mem.slice(base, len)?)?
        } else {
            let mut tmp = Vec::new();
            tmp.try_reserve_exact(total.min(GATHER_MAX)).map_err(|_| errno::NOMEM)?;
            for b in buffers(mem, si_data, si_data_len) {
                let (base, len) = b?;
                let room = GATHER_MAX - tmp.len();
                if room == 0 {
                    break;
                }
                tmp.extend_from_slice(mem.slice(base, len.min(room as u32))?);
            }
            host.sock_send(&e.file, &tmp)?
        };
        mem.write_u32(so_datalen, u32::try_from(n).map_err(|_| errno::OVERFLOW)?)
    })())
}

/// `sock_shutdown(fd, how)`: SHUT_RD, SHUT_WR or both; none is INVAL.
pub fn sock_shutdown<H: Host + ?Sized>(
    host: &mut H,
    cx: &mut Wasi<H::File>,
    _mem: &mut GuestMemory<'_>,
    fd: u32,
    how: u32,
) -> Errno {
    result((|| {
        let all = sockflags::SHUT_RD | sockflags::SHUT_WR;
        if how & !all != 0 || how == 0 {
            return Err(errno::INVAL);
        }
        let e = socket(cx, fd, rights::SOCK_SHUTDOWN)?;
        host.sock_shutdown(&e.file, how & sockflags::SHUT_RD != 0, how & sockflags::SHUT_WR != 0)
    })())
}
