//! One echo connection: messages of a fixed size written in order, up to
//! `depth` of them in flight (1 for ping-pong, more for streaming), and the
//! echoed byte stream checked against what was sent, byte for byte.

use crate::driver::Stats;
use crate::pattern;
use std::collections::VecDeque;
use std::time::Instant;

pub struct Echo {
    conn: usize,
    size: usize,
    depth: usize,
    /// Start times of the messages in flight, oldest (`recv_seq`) first.
    starts: VecDeque<Instant>,
    /// Messages started so far; message `queued - 1` is the newest.
    queued: u64,
    /// Next byte to write: message `write_seq`, offset `write_off`.
    write_seq: u64,
    write_off: usize,
    /// Next byte expected back.
    recv_seq: u64,
    recv_off: usize,
}

impl Echo {
    pub fn new(conn: usize, size: usize, depth: usize) -> Echo {
        Echo {
            conn,
            size,
            depth,
            starts: VecDeque::with_capacity(depth),
            queued: 0,
            write_seq: 0,
            write_off: 0,
            recv_seq: 0,
            recv_off: 0,
        }
    }

    /// Starts messages until `depth` are in flight.
    pub fn fill_window(&mut self, now: Instant) {
        while self.starts.len() < self.depth {
            self.starts.push_back(now);
            self.queued += 1;
        }
    }

    pub fn has_output(&self) -> bool {
        self.write_seq < self.queued
    }

    /// The next bytes to write, produced into `scratch`.
    pub fn output<'a>(&self, scratch: &'a mut [u8]) -> &'a [u8] {
        let n = (self.size - self.write_off).min(scratch.len());
        pattern::fill(
            pattern::key(self.conn, self.write_seq),
            self.write_off,
            &mut scratch[..n],
        );
        &scratch[..n]
    }

    pub fn wrote(&mut self, n: usize) {
        self.write_off += n;
        if self.write_off == self.size {
            self.write_seq += 1;
            self.write_off = 0;
        }
    }

    /// Checks echoed bytes; completes (and replaces) each message whose
    /// last byte arrived.
    pub fn input(
        &mut self,
        mut data: &[u8],
        now: Instant,
        stats: &mut Stats,
        scratch: &mut [u8],
    ) -> Result<(), String> {
        let pos = |seq: u64, off: usize| u128::from(seq) * self.size as u128 + off as u128;
        let written = pos(self.write_seq, self.write_off);
        let received = pos(self.recv_seq, self.recv_off);
        if received + data.len() as u128 > written {
            return Err(format!(
                "echo: received {} bytes, {} more than were sent (message {}, byte {})",
                data.len(),
                received + data.len() as u128 - written,
                self.recv_seq,
                self.recv_off
            ));
        }
        while !data.is_empty() {
            let n = (self.size - self.recv_off).min(data.len()).min(scratch.len());
            let want = &mut scratch[..n];
            pattern::fill(pattern::key(self.conn, self.recv_seq), self.recv_off, want);
            if let Some(i) = want.iter().zip(&data[..n]).position(|(a, b)| a != b) {
                return Err(format!(
                    "echo mismatch: message {} byte {} of {}: expected 0x{:02x}, got 0x{:02x}",
                    self.recv_seq,
                    self.recv_off + i,
                    self.size,
                    want[i],
                    data[i]
                ));
            }
            data = &data[n..];
            self.recv_off += n;
            if self.recv_off == self.size {
                let start = self
                    .starts
                    .pop_front()
                    .expect("a message is in flight while bytes are expected");
                stats.complete(start, now, self.size as u64);
                self.recv_seq += 1;
                self.recv_off = 0;
                self.fill_window(now);
            }
        }
        Ok(())
    }

    /// What the end of the stream interrupted (always an error for echo).
    pub fn eof(&self) -> String {
        format!(
            "closed by the server with {} message(s) in flight (message {}, {} of {} bytes echoed)",
            self.starts.len(),
            self.recv_seq,
            self.recv_off,
            self.size
        )
    }

    /// When the oldest operation in flight started.
    pub fn oldest(&self) -> Option<Instant> {
        self.starts.front().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn stats() -> Stats {
        let now = Instant::now() - Duration::from_secs(1);
        Stats::new(now, now + Duration::from_secs(100))
    }

    /// Writes everything pending, returning the bytes.
    fn drain(e: &mut Echo) -> Vec<u8> {
        let mut out = Vec::new();
        let mut scratch = [0u8; 7];
        while e.has_output() {
            let b = e.output(&mut scratch).to_vec();
            e.wrote(b.len());
            out.extend(b);
        }
        out
    }

    #[test]
    fn stream_of_four_echoed_in_odd_pieces() {
        let (mut e, mut s) = (Echo::new(5, 10, 4), stats());
        e.fill_window(Instant::now());
        let sent = drain(&mut e);
        assert_eq!(sent.len(), 40);
        let mut scratch = [0u8; 3];
        for piece in sent.chunks(9) {
            e.input(piece, Instant::now(), &mut s, &mut scratch).unwrap();
        }
        assert_eq!((s.ops, s.bytes), (4, 40));
        // Four more were started as the first four completed.
        assert_eq!(drain(&mut e).len(), 40);
    }

    #[test]
    fn corruption_extra_bytes_and_other_connections_are_caught() {
        let mut scratch = [0u8; 64];
        let mut e = Echo::new(1, 8, 1);
        e.fill_window(Instant::now());
        let mut sent = drain(&mut e);
        sent[3] ^= 1;
        let err = e.input(&sent, Instant::now(), &mut stats(), &mut scratch).unwrap_err();
        assert!(err.contains("message 0 byte 3"), "{err}");

        let mut e = Echo::new(1, 8, 1);
        e.fill_window(Instant::now());
        let mut sent = drain(&mut e);
        sent.push(0);
        assert!(e
            .input(&sent, Instant::now(), &mut stats(), &mut scratch)
            .unwrap_err()
            .contains("1 more"));

        let (mut a, mut b) = (Echo::new(1, 8, 1), Echo::new(2, 8, 1));
        a.fill_window(Instant::now());
        b.fill_window(Instant::now());
        let from_b = drain(&mut b);
        drain(&mut a);
        assert!(a.input(&from_b, Instant::now(), &mut stats(), &mut scratch).is_err());
    }
}
