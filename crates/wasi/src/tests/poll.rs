//! `poll_oneoff`: parsing, clocks, fd readiness, event layout.

use super::*;

enum S {
    Clock { id: u32, timeout: u64, abs: bool },
    Read(u32),
    Write(u32),
}

/// An event: (userdata, error, type, nbytes, flags).
type Event = (u64, u16, u8, u64, u16);

/// Writes the subscriptions (userdata = 100 + index) and polls.
fn poll(t: &mut T, subs: &[S]) -> Result<Vec<Event>, Errno> {
    let n = subs.len() as u32;
    let at = t.alloc(48 * n.max(1));
    for (i, s) in subs.iter().enumerate() {
        let p = at + 48 * i as u32;
        t.put(p, &(100 + i as u64).to_le_bytes());
        match *s {
            S::Clock { id, timeout, abs } => {
                t.put(p + 8, &[event::CLOCK]);
                t.put(p + 16, &id.to_le_bytes());
                t.put(p + 24, &timeout.to_le_bytes());
                t.put(p + 40, &(abs as u16).to_le_bytes());
            }
            S::Read(fd) => {
                t.put(p + 8, &[event::FD_READ]);
                t.put(p + 16, &fd.to_le_bytes());
            }
            S::Write(fd) => {
                t.put(p + 8, &[event::FD_WRITE]);
                t.put(p + 16, &fd.to_le_bytes());
            }
        }
    }
    let ev = t.alloc(32 * n.max(1));
    t.put(ev, &vec![0xee; 32 * n.max(1) as usize]);
    let nev = t.alloc(4);
    match t.call(|h, cx, m| poll_oneoff(h, cx, m, at, ev, n, nev)) {
        errno::SUCCESS => Ok((0..t.u32(nev))
            .map(|i| {
                let e = ev + 32 * i;
                assert_eq!(t.bytes(e + 11, 5), [0; 5], "padding zeroed");
                (t.u64(e), t.u16(e + 8), t.u8(e + 10), t.u64(e + 16), t.u16(e + 24))
            })
            .collect()),
        e => Err(e),
    }
}

fn rel(timeout: u64) -> S {
    S::Clock { id: clock::MONOTONIC, timeout, abs: false }
}

#[test]
fn no_subscriptions_is_inval() {
    let mut t = T::new();
    assert_eq!(poll(&mut t, &[]), Err(errno::INVAL));
}

#[test]
fn a_relative_clock_sleeps_until_it_fires() {
    let mut t = T::new();
    t.host.mono = 1_000;
    assert_eq!(poll(&mut t, &[rel(500)]), Ok(vec![(100, 0, event::CLOCK, 0, 0)]));
    assert_eq!(t.host.mono, 1_500);
    let rt = S::Clock { id: clock::REALTIME, timeout: 10, abs: false };
    assert_eq!(poll(&mut t, &[rt]).unwrap().len(), 1);
    assert_eq!(t.host.mono, 1_510);
}

#[test]
fn absolute_clocks_count_from_their_own_epoch() {
    let mut t = T::new();
    t.host.mono = 1_000;
    let abs = S::Clock { id: clock::MONOTONIC, timeout: 4_000, abs: true };
    assert_eq!(poll(&mut t, &[abs]).unwrap()[0].0, 100);
    assert_eq!(t.host.mono, 4_000);
    let wall = S::Clock { id: clock::REALTIME, timeout: fake::REALTIME_BASE + 5_000, abs: true };
    assert_eq!(poll(&mut t, &[wall]).unwrap().len(), 1);
    assert_eq!(t.host.mono, 5_000, "realtime deadline converted to monotonic");
    let past = S::Clock { id: clock::MONOTONIC, timeout: 10, abs: true };
    assert_eq!(poll(&mut t, &[past]).unwrap().len(), 1);
    assert_eq!(t.host.mono, 5_000, "a past deadline fires at once");
}

#[test]
fn the_earliest_clock_fires_and_later_ones_do_not() {
    let mut t = T::new();
    t.host.mono = 0;
    let got = poll(&mut t, &[rel(300), rel(100), rel(100)]).unwrap();
    assert_eq!(got.iter().map(|e| e.0).collect::<Vec<_>>(), [101, 102]);
    assert_eq!(t.host.mono, 100);
}

#[test]
fn early_wakeups_are_waited_out() {
    let mut t = T::new();
    t.host.mono = 0;
    t.host.early_wakeups = 2;
    assert_eq!(poll(&mut t, &[rel(1_000)]).unwrap().len(), 1);
    assert_eq!(t.host.polls, 3);
    assert_eq!(t.host.mono, 1_000);
}

#[test]
fn bad_subscriptions_are_refused_whole() {
    let mut t = T::new();
    for id in [clock::PROCESS_CPUTIME, clock::THREAD_CPUTIME, 4] {
        assert_eq!(poll(&mut t, &[S::Clock { id, timeout: 1, abs: false }]), Err(errno::INVAL), "clock {id}");
    }
    assert_eq!(poll(&mut t, &[rel(1), S::Read(3)]), Err(errno::BADF), "a directory");
    assert_eq!(poll(&mut t, &[S::Read(1)]), Err(errno::BADF), "reading stdout");
    assert_eq!(poll(&mut t, &[S::Write(0)]), Err(errno::BADF), "writing stdin");
    assert_eq!(poll(&mut t, &[S::Read(99)]), Err(errno::BADF));
    assert_eq!(t.host.polls, 0);
    // Unknown tag and clock flags.
    let at = t.alloc(48);
    t.put(at + 8, &[3]);
    let ev = t.alloc(32);
    assert_eq!(t.call(|h, cx, m| poll_oneoff(h, cx, m, at, ev, 1, 0)), errno::INVAL);
    t.put(at + 8, &[event::CLOCK]);
    t.put(at + 16, &clock::MONOTONIC.to_le_bytes());
    t.put(at + 40, &2u16.to_le_bytes());
    assert_eq!(t.call(|h, cx, m| poll_oneoff(h, cx, m, at, ev, 1, 0)), errno::INVAL);
    // Memory.
    let end = MEM as u32;
    assert_eq!(t.call(|h, cx, m| poll_oneoff(h, cx, m, end - 47, ev, 1, 0)), errno::FAULT);
    assert_eq!(t.call(|h, cx, m| poll_oneoff(h, cx, m, at, end - 31, 1, 0)), errno::FAULT);
    assert_eq!(t.call(|h, cx, m| poll_oneoff(h, cx, m, at, ev, 1, end)), errno::FAULT);
    assert_eq!(t.call(|h, cx, m| poll_oneoff(h, cx, m, 0, 0, 2_000, 0)), errno::FAULT, "past the end");
    assert_eq!(t.call(|h, cx, m| poll_oneoff(h, cx, m, 0, 0, u32::MAX, 0)), errno::NOMEM, "over POLL_MAX");
    assert_eq!(t.host.polls, 0);
}

#[test]
fn streams_report_readiness_with_wasmtime_wasi_nbytes() {
    let mut t = T::new();
    t.host.mono = 0;
    // Nothing on stdin: the timeout fires; stdout is writable at once.
    assert_eq!(poll(&mut t, &[S::Read(0), rel(50)]).unwrap(), [(101, 0, event::CLOCK, 0, 0)]);
    assert_eq!(poll(&mut t, &[S::Read(0), S::Write(1)]).unwrap(), [(101, 0, event::FD_WRITE, 1, 0)]);
    t.stdin.borrow_mut().extend(b"abc");
    assert_eq!(
        poll(&mut t, &[S::Write(2), rel(50), S::Read(0)]).unwrap(),
        [(100, 0, event::FD_WRITE, 1, 0), (102, 0, event::FD_READ, 1, 0)],
        "in subscription order; the clock has not fired"
    );
    // A closed pipe is readable, with HANGUP.
    t.cx.set_stdio(0, FakeFile::Pipe { data: Rc::default(), closed: true }, 0).unwrap();
    assert_eq!(poll(&mut t, &[S::Read(0)]).unwrap(), [(100, 0, event::FD_READ, 1, event::FD_READWRITE_HANGUP)]);
}

#[test]
fn regular_files_are_always_ready_and_hang_up_at_their_end() {
    let mut t = T::new();
    t.dir.write("f", b"abc");
    let f = t.open(b"f", 0, RW, 0).unwrap();
    assert_eq!(
        poll(&mut t, &[S::Read(f), S::Write(f), rel(10)]).unwrap(),
        [(100, 0, event::FD_READ, 1, 0), (101, 0, event::FD_WRITE, 1, 0)]
    );
    t.read(f, 3).unwrap();
    assert_eq!(poll(&mut t, &[S::Read(f)]).unwrap(), [(100, 0, event::FD_READ, 1, event::FD_READWRITE_HANGUP)]);
}

#[test]
fn waiting_forever_on_nothing_reports_the_platforms_interruption() {
    let mut t = T::new();
    assert_eq!(poll(&mut t, &[S::Read(0)]), Err(errno::INTR));
}
