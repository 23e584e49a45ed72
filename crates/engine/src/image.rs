//! The seal on every image kwasm hands the module: Wasmtime's serialized
//! module, then an 8-byte digest of it, then the magic `KWASMIMG`.
//!
//! `Module::deserialize` checks an image's header, version and
//! configuration, but trusts the rest: a corrupted image can pass those
//! checks and still make Wasmtime run code from the wrong place (the host
//! fuzzer found one bit flip that gave a module a start function pointing
//! into garbage; in the kernel that is an oops). So the compiling side seals
//! the image, and the module refuses any image whose seal is missing or
//! does not match — truncated, extended, bit-flipped — before Wasmtime sees
//! a byte of it. The digest guards against damage, not malice: whoever may
//! open /dev/kwasm (CAP_SYS_ADMIN) is trusted with native code anyway.

use alloc::vec::Vec;
use core::fmt;

/// The last 8 bytes of a sealed image.
pub const MAGIC: [u8; 8] = *b"KWASMIMG";

/// Bytes the seal adds: the digest, then [`MAGIC`].
pub const SEAL_LEN: usize = 16;

/// Why an image was refused before loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageError {
    /// The image does not end with kwasm's seal.
    Unsealed,
    /// The seal is there but the digest does not match the bytes.
    Corrupt,
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageError::Unsealed => {
                "not an image made by kwasm: it does not end with kwasm's seal (truncated, extended, or from another tool)"
            }
            ImageError::Corrupt => {
                "the image is corrupt: its digest does not match its bytes (damaged in transit or on disk; compile it again)"
            }
        })
    }
}

/// A 64-bit digest, 8 bytes at a time. Each step is a bijection of the
/// state for a given word, so any change confined to one word (every
/// single-bit flip) always changes the digest; others do with probability
/// 1 - 2^-64. Not cryptographic, and not meant to be.
pub fn digest(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = 0x6b77_6173_6d2d_696d ^ (bytes.len() as u64).wrapping_mul(K);
    let (words, rest) = bytes.as_chunks::<8>();
    for w in words {
        h = (h ^ u64::from_le_bytes(*w)).wrapping_mul(K).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K).rotate_left(29);
    // SplitMix64's finalizer: every input bit reaches every output bit.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Seals a serialized module (what `Engine::precompile_module` returned).
pub fn seal(mut image: Vec<u8>) -> Vec<u8> {
    let d = digest(&image);
    image.extend_from_slice(&d.to_le_bytes());
    image.extend_from_slice(&MAGIC);
    image
}

/// The serialized module inside a sealed image, if the seal holds.
pub fn unseal(sealed: &[u8]) -> Result<&[u8], ImageError> {
    let Some(body_len) = sealed.len().checked_sub(SEAL_LEN) else {
        return Err(ImageError::Unsealed);
    };
    let (body, seal) = sealed.split_at(body_len);
    if seal[8..] != MAGIC {
        return Err(ImageError::Unsealed);
    }
    let want = u64::from_le_bytes([seal[0], seal[1], seal[2], seal[3], seal[4], seal[5], seal[6], seal[7]]);
    if digest(body) == want {
        Ok(body)
    } else {
        Err(ImageError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_images_round_trip() {
        for len in [0, 1, 7, 8, 9, 100] {
            let body: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let sealed = seal(body.clone());
            assert_eq!(sealed.len(), len + SEAL_LEN);
            assert_eq!(unseal(&sealed), Ok(&body[..]));
        }
    }

    #[test]
    fn every_bit_flip_truncation_and_extension_is_refused() {
        let sealed = seal((0..77u8).collect());
        for i in 0..sealed.len() * 8 {
            let mut s = sealed.clone();
            s[i / 8] ^= 1 << (i % 8);
            assert!(unseal(&s).is_err(), "flip of bit {i} passed");
        }
        for keep in 0..sealed.len() {
            assert_eq!(unseal(&sealed[..keep]), Err(ImageError::Unsealed), "{keep} bytes");
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(unseal(&longer), Err(ImageError::Unsealed));
        assert_eq!(unseal(&[0; 64]), Err(ImageError::Unsealed));
    }

    #[test]
    fn digest_is_pinned() {
        // The compiling side and the module must agree across releases
        // that share a fingerprint.
        assert_eq!(digest(b""), 0xacb5_b9e9_a579_4700);
        assert_eq!(digest(b"kwasm image"), 0x0f2f_9345_3607_0418);
        assert_ne!(digest(b""), digest(&[0]));
        assert_ne!(digest(&[0; 8]), digest(&[0; 9]));
    }
}
