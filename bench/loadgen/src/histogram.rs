//! Latency histogram: log-linear buckets over nanoseconds (each power of two
//! split into 64 equal buckets, so a reported percentile is within 1/64 of
//! the true value), fixed size whatever the number of samples.

/// Linear sub-buckets per power of two: 2^SUB_BITS.
const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Values below SUB are exact; each exponent from SUB_BITS to 63 has SUB buckets.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

/// The bucket of a value.
fn index(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let sub = (v >> (exp - SUB_BITS)) as usize & (SUB - 1);
    (exp - SUB_BITS + 1) as usize * SUB + sub
}

/// The smallest value of a bucket and its width.
fn bounds(i: usize) -> (u64, u64) {
    if i < SUB {
        return (i as u64, 1);
    }
    let exp = (i / SUB) as u32 + SUB_BITS - 1;
    let sub = (i % SUB) as u64;
    let width = 1u64 << (exp - SUB_BITS);
    ((SUB as u64 + sub) * width, width)
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    pub fn record(&mut self, ns: u64) {
        self.counts[index(ns)] += 1;
        self.count += 1;
        self.sum += u128::from(ns);
        self.min = self.min.min(ns);
        self.max = self.max.max(ns);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Mean in nanoseconds (exact), 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value at quantile `q` (0..=1) in nanoseconds: the middle of the
    /// bucket holding that rank, clamped to the observed range; 0 when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bounds(i);
                let mid = low as f64 + (width as f64 - 1.0) / 2.0;
                return mid.clamp(self.min as f64, self.max as f64);
            }
        }
        self.max as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_its_bucket() {
        let mut v = 0u64;
        while v < u64::MAX / 3 {
            let (low, width) = bounds(index(v));
            assert!(
                low <= v && v - low < width,
                "{v} -> bucket {} = [{low}, +{width})",
                index(v)
            );
            v = v * 3 / 2 + 1;
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
        let (low, width) = bounds(BUCKETS - 1);
        assert_eq!(low.checked_add(width - 1), Some(u64::MAX));
    }

    #[test]
    fn quantiles_within_bucket_precision() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5);
        let p99 = h.quantile(0.99);
        assert!((p50 / 50_000_000.0 - 1.0).abs() < 1.0 / 64.0, "{p50}");
        assert!((p99 / 99_000_000.0 - 1.0).abs() < 1.0 / 64.0, "{p99}");
        assert_eq!(h.mean(), 50_000_500.0);
        assert_eq!(h.quantile(1.0), 100_000_000.0);
    }

    #[test]
    fn merge_and_empty() {
        let mut a = Histogram::new();
        assert_eq!((a.quantile(0.5), a.mean()), (0.0, 0.0));
        let mut b = Histogram::new();
        a.record(10);
        b.record(30);
        a.merge(&b);
        assert_eq!(a.mean(), 20.0);
        assert_eq!(a.quantile(0.5), 10.0);
        assert_eq!(a.quantile(0.99), 30.0);
    }
}
