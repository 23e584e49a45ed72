//! The bytes of echo messages: a pseudo-random stream keyed by connection id
//! and message sequence number, so that bytes delivered to the wrong
//! connection, corrupted, reordered or from another message do not match.
//! Any byte range of a message can be produced on its own, so neither the
//! sender nor the checker keeps copies of messages in flight.

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key of message `seq` on connection `conn`.
pub fn key(conn: usize, seq: u64) -> u64 {
    splitmix64(splitmix64(conn as u64) ^ seq)
}

/// Fills `out` with the message bytes `off..off + out.len()` of message `key`.
pub fn fill(key: u64, off: usize, out: &mut [u8]) {
    let mut at = off;
    let mut done = 0;
    while done < out.len() {
        let word = splitmix64(key ^ (at / 8) as u64).to_le_bytes();
        let skip = at % 8;
        let n = (8 - skip).min(out.len() - done);
        out[done..done + n].copy_from_slice(&word[skip..skip + n]);
        done += n;
        at += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_agree_with_the_whole() {
        let mut whole = [0u8; 100];
        fill(key(3, 9), 0, &mut whole);
        for off in 0..100 {
            for len in 0..=100 - off {
                let mut part = vec![0u8; len];
                fill(key(3, 9), off, &mut part);
                assert_eq!(part[..], whole[off..off + len]);
            }
        }
    }

    #[test]
    fn messages_differ() {
        let (mut a, mut b, mut c) = ([0u8; 16], [0u8; 16], [0u8; 16]);
        fill(key(1, 0), 0, &mut a);
        fill(key(1, 1), 0, &mut b);
        fill(key(2, 0), 0, &mut c);
        assert!(a != b && a != c && b != c);
    }
}
