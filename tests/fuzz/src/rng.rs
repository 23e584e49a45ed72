//! A small deterministic generator and the mutations every fuzzer here
//! shares. Deterministic on purpose: a seed names a whole run, so any
//! failure is replayed by running again with the seed it printed.

/// SplitMix64: tiny, fast, and good enough to drive mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The generator for iteration `i` of a run seeded with `seed`: each
    /// iteration replays on its own.
    pub fn for_iteration(seed: u64, i: u64) -> Rng {
        let mut r = Rng(seed ^ i.wrapping_mul(0xa076_1d64_78bd_642f));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// An index into a slice of `len` elements (`len > 0`).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// A 64-bit value biased towards the ones that break checks: limits and
    /// their neighbours, powers of two, sign bits, all ones, zero.
    pub fn interesting_u64(&mut self, limits: &[u64]) -> u64 {
        match self.below(6) {
            0 => 0,
            1 => {
                let l = if limits.is_empty() { 0 } else { *self.pick(limits) };
                l.wrapping_add(self.below(3)).wrapping_sub(1)
            }
            2 => 1u64 << self.below(64),
            3 => (1u64 << self.below(64)).wrapping_sub(1),
            4 => *self.pick(&[u64::MAX, u64::MAX - 7, i64::MAX as u64, 1 << 63, u32::MAX as u64, 4096]),
            _ => self.next_u64() >> self.below(64),
        }
    }

    pub fn interesting_u32(&mut self, limits: &[u64]) -> u32 {
        let v = self.interesting_u64(limits);
        if v > u32::MAX as u64 && !self.one_in(4) {
            self.next_u32() >> self.below(32)
        } else {
            v as u32
        }
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// What [`mutate`] did, for messages that let a failure be understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    FlipBit,
    SetByte,
    SetWord,
    Truncate,
    Extend,
    CopyRange,
}

/// Applies one random mutation to `bytes`: a flipped bit, a byte or
/// 64-bit word overwritten with an interesting value, truncation, random
/// bytes appended, or a range copied over another. `focus`, when given,
/// biases in-place mutations to the first `focus` bytes (a header).
pub fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, focus: Option<usize>) -> Mutation {
    let len = bytes.len();
    let at = |rng: &mut Rng| match focus {
        Some(f) if f > 0 && rng.one_in(2) => rng.index(f.min(len)),
        _ => rng.index(len),
    };
    let kind = if len == 0 { 4 } else { rng.below(6) };
    match kind {
        0 => {
            let i = at(rng);
            bytes[i] ^= 1 << rng.below(8);
            Mutation::FlipBit
        }
        1 => {
            let i = at(rng);
            let random = rng.next_u32() as u8;
            bytes[i] = *rng.pick(&[0, 1, 0x7f, 0x80, 0xff, random]);
            Mutation::SetByte
        }
        2 => {
            let i = at(rng);
            let v = rng.interesting_u64(&[len as u64]).to_le_bytes();
            let n = (len - i).min(8);
            bytes[i..i + n].copy_from_slice(&v[..n]);
            Mutation::SetWord
        }
        3 => {
            let keep = rng.index(len);
            bytes.truncate(keep);
            Mutation::Truncate
        }
        4 => {
            let most = if rng.one_in(8) { 4096 } else { 64 };
            let n = 1 + rng.index(most);
            let mut tail = vec![0u8; n];
            if !rng.one_in(3) {
                rng.fill(&mut tail);
            }
            bytes.extend_from_slice(&tail);
            Mutation::Extend
        }
        _ => {
            let from = rng.index(len);
            let to = rng.index(len);
            let n = rng.index(len - from.max(to)) + 1;
            bytes.copy_within(from..from + n, to);
            Mutation::CopyRange
        }
    }
}
