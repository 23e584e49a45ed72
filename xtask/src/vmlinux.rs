//! Extract the uncompressed kernel ELF (`vmlinux`) from a bzImage (`vmlinuz`).
//!
//! QEMU boots an uncompressed ELF with a PVH note directly (`-kernel vmlinux`),
//! skipping the in-guest decompressor, which is slow under TCG. The bzImage
//! setup header says exactly where the compressed payload is, so no magic-byte
//! scanning (as in the kernel's scripts/extract-vmlinux) is needed.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};

#[derive(Debug, PartialEq, Eq)]
pub enum Compression {
    Xz,
    Zstd,
    Gzip,
}

impl Compression {
    fn detect(data: &[u8]) -> Option<Compression> {
        if data.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Compression::Xz)
        } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if data.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else {
            None
        }
    }

    fn tool(&self) -> &'static str {
        match self {
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
        }
    }
}

/// The compressed payload inside a bzImage, and the size it unpacks to.
#[derive(Debug)]
pub struct Payload<'a> {
    pub compression: Compression,
    pub data: &'a [u8],
    pub uncompressed_size: u32,
}

fn u32_at(image: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(image.get(off..off + 4)?.try_into().ok()?))
}

/// Finds the payload via the x86 boot protocol (>= 2.08) setup header:
/// `setup_sects` at 0x1f1, `payload_offset`/`payload_length` at 0x248/0x24c,
/// relative to the protected-mode code that follows the setup sectors. The
/// kernel's build appends the uncompressed size (le32) to the payload.
pub fn payload(image: &[u8]) -> Result<Payload<'_>> {
    ensure!(
        image.get(0x202..0x206) == Some(b"HdrS"),
        "not a bzImage (no HdrS boot header)"
    );
    let version = u16::from_le_bytes([image[0x206], image[0x207]]);
    ensure!(
        version >= 0x208,
        "boot protocol {version:#x} predates payload_offset (needs 2.08)"
    );
    let setup_sects = match image[0x1f1] {
        0 => 4,
        n => n as usize,
    };
    let pm_start = (setup_sects + 1) * 512;
    let offset = u32_at(image, 0x248).context("truncated header")? as usize;
    let length = u32_at(image, 0x24c).context("truncated header")? as usize;
    let start = pm_start + offset;
    let whole = image
        .get(start..start + length)
        .context("payload_offset/payload_length point outside the file")?;
    ensure!(length > 4, "empty payload");
    let (data, size) = whole.split_at(length - 4);
    let compression = Compression::detect(data).with_context(|| {
        format!(
            "unknown payload compression (magic {:02x?})",
            &data[..6.min(data.len())]
        )
    })?;
    Ok(Payload {
        compression,
        data,
        uncompressed_size: u32::from_le_bytes(size.try_into().unwrap()),
    })
}

/// Writes the ELF inside `vmlinuz` to `out` (via a temporary file, so an
/// interrupted run leaves nothing that looks finished).
pub fn extract(vmlinuz: &Path, out: &Path) -> Result<()> {
    let image = std::fs::read(vmlinuz).with_context(|| format!("reading {}", vmlinuz.display()))?;
    let payload = payload(&image).with_context(|| format!("reading {}", vmlinuz.display()))?;
    let tmp = out.with_extension("partial");
    let file = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let tool = payload.compression.tool();
    let mut child = Command::new(tool)
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(file)
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not run `{tool}` (install it: `cargo xtask setup`)"))?;
    let mut stdin = child.stdin.take().unwrap();
    let data = payload.data;
    let written = std::thread::scope(|s| {
        let writer = s.spawn(move || stdin.write_all(data));
        let out = child.wait_with_output();
        (writer.join(), out)
    });
    let result = written.1?;
    if !result.status.success() {
        bail!(
            "`{tool} -dc` failed on {}: {}",
            vmlinuz.display(),
            String::from_utf8_lossy(&result.stderr).trim()
        );
    }
    let meta = std::fs::metadata(&tmp)?;
    ensure!(
        meta.len() == payload.uncompressed_size as u64,
        "{} unpacked to {} bytes, the header says {}",
        vmlinuz.display(),
        meta.len(),
        payload.uncompressed_size
    );
    let mut magic = [0u8; 4];
    std::io::Read::read_exact(&mut std::fs::File::open(&tmp)?, &mut magic)?;
    ensure!(
        &magic == b"\x7fELF",
        "payload of {} is not an ELF file",
        vmlinuz.display()
    );
    std::fs::rename(&tmp, out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_bzimage(payload: &[u8], size: u32) -> Vec<u8> {
        let setup_sects = 2u8;
        let mut img = vec![0u8; (setup_sects as usize + 1) * 512 + 0x40];
        img[0x1f1] = setup_sects;
        img[0x202..0x206].copy_from_slice(b"HdrS");
        img[0x206..0x208].copy_from_slice(&0x20fu16.to_le_bytes());
        img[0x248..0x24c].copy_from_slice(&0x40u32.to_le_bytes());
        img[0x24c..0x250].copy_from_slice(&(payload.len() as u32 + 4).to_le_bytes());
        img.extend_from_slice(payload);
        img.extend_from_slice(&size.to_le_bytes());
        img.extend_from_slice(b"trailing junk");
        img
    }

    #[test]
    fn finds_payload_and_size_from_header() {
        let img = fake_bzimage(b"\x28\xb5\x2f\xfdzstd-frame", 1234);
        let p = payload(&img).unwrap();
        assert_eq!(p.compression, Compression::Zstd);
        assert_eq!(p.data, b"\x28\xb5\x2f\xfdzstd-frame");
        assert_eq!(p.uncompressed_size, 1234);
    }

    #[test]
    fn rejects_non_bzimage_and_unknown_compression() {
        assert!(payload(&[0u8; 4096]).is_err());
        assert!(payload(&fake_bzimage(b"????????", 1)).is_err());
    }
}
