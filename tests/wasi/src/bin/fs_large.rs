//! Large files: a few MiB written in odd-sized chunks and read back in
//! others (checksums), reads at scattered positions, vectored writes and
//! reads, a sparse file with a gap far past the end, and set_len shrinking
//! and growing a large file.
//!
//! `fs_large [MIB]`: the size of the big file (default 3).

use kwasm_wasi_corpus::{done, hash, opened, print_tree, show, Bytes, Fnv, ROOT};
use std::fs::{File, OpenOptions};
use std::io::{IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::path::Path;

const SEED: u64 = 0x6b77_6173_6d21;

fn main() {
    let root = Path::new(ROOT);
    let mib: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let size = mib << 20;
    let mut expected = vec![0u8; size];
    Bytes::new(SEED).fill(&mut expected);
    println!("big: {size} bytes, hash {:016x}", hash(&expected));

    // Write in 65521-byte chunks (a prime: chunks straddle every page).
    let big = root.join("big.bin");
    if let Some(mut f) = opened("create big.bin", File::create(&big)) {
        let mut written = 0;
        for chunk in expected.chunks(65_521) {
            match f.write_all(chunk) {
                Ok(()) => written += chunk.len(),
                Err(e) => {
                    show::<()>("write chunk", Err(e));
                    break;
                }
            }
        }
        println!("written: {written}");
        show("len", f.metadata().map(|m| m.len()));
    }

    // Read back in 10007-byte reads, hashing as it goes.
    if let Some(mut f) = opened("open big.bin", File::open(&big)) {
        let mut h = Fnv::default();
        let mut buf = vec![0u8; 10_007];
        let mut total = 0usize;
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    h.update(&buf[..n]);
                    total += n;
                }
                Err(e) => {
                    show::<()>("read", Err(e));
                    break;
                }
            }
        }
        println!(
            "read back: {total} bytes, hash {:016x}, same: {}",
            h.0,
            h.0 == hash(&expected)
        );

        // Scattered reads.
        let mut bad = 0;
        let mut pos = 12_345u64;
        for _ in 0..200 {
            pos = (pos * 1_103_515_245 + 12_345) % (size as u64 - 64);
            let mut b = [0u8; 64];
            match f.seek(SeekFrom::Start(pos)).and_then(|_| f.read_exact(&mut b)) {
                Ok(()) if b[..] == expected[pos as usize..pos as usize + 64] => {}
                Ok(()) => bad += 1,
                Err(e) => {
                    show::<()>(&format!("scattered read at {pos}"), Err(e));
                    bad += 1;
                }
            }
        }
        println!("scattered reads wrong: {bad}");
    }

    // Vectored write and read. A call may move fewer bytes than all the
    // buffers hold (the reference writes one buffer per call): loop until
    // all are through, print only the result.
    let vec_path = root.join("vectored.bin");
    if let Some(mut f) = opened(
        "create vectored.bin",
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&vec_path),
    ) {
        let parts: [&[u8]; 3] = [b"alpha-", &expected[..1000], b"-omega"];
        let mut slices = parts.map(IoSlice::new);
        let mut rest = &mut slices[..];
        let mut result = Ok(());
        while !rest.is_empty() {
            match f.write_vectored(rest) {
                Ok(0) => result = Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut rest, n),
                Err(e) => result = Err(e),
            }
            if result.is_err() {
                break;
            }
        }
        done("write_vectored all", result);
        show("rewind", f.seek(SeekFrom::Start(0)));
        let (mut a, mut b, mut c) = ([0u8; 6], vec![0u8; 1000], [0u8; 6]);
        let mut bufs = [
            IoSliceMut::new(&mut a),
            IoSliceMut::new(&mut b),
            IoSliceMut::new(&mut c),
        ];
        let mut rest = &mut bufs[..];
        let mut result = Ok(());
        while !rest.is_empty() {
            match f.read_vectored(rest) {
                Ok(0) => result = Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => IoSliceMut::advance_slices(&mut rest, n),
                Err(e) => result = Err(e),
            }
            if result.is_err() {
                break;
            }
        }
        done("read_vectored all", result);
        println!(
            "vectored parts: {:?} {} {:?}",
            String::from_utf8_lossy(&a),
            b == expected[..1000],
            String::from_utf8_lossy(&c)
        );
    }

    // Sparse: a byte far past the end.
    let sparse = root.join("sparse.bin");
    if let Some(mut f) = opened(
        "create sparse.bin",
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&sparse),
    ) {
        done("write head", f.write_all(b"head"));
        show("seek 64 MiB", f.seek(SeekFrom::Start(64 << 20)));
        done("write end", f.write_all(b"end"));
        show("len", f.metadata().map(|m| m.len()));
        show("seek 32 MiB", f.seek(SeekFrom::Start(32 << 20)));
        let mut gap = vec![0xffu8; 65_536];
        done("read in the gap", f.read_exact(&mut gap));
        println!("gap is zeros: {}", gap.iter().all(|&b| b == 0));
        show("seek end -3", f.seek(SeekFrom::End(-3)));
        let mut tail = String::new();
        show("read tail", f.read_to_string(&mut tail).map(|_| tail));
        // Shrink it back: the tree then holds a small file.
        done("set_len 4", f.set_len(4));
    }

    // set_len on the big file: shrink to 1 MiB, grow to 1 MiB + 4 KiB.
    if let Some(mut f) = opened("open big.bin rw", OpenOptions::new().read(true).write(true).open(&big)) {
        done("set_len 1 MiB", f.set_len(1 << 20));
        done("set_len 1 MiB + 4 KiB", f.set_len((1 << 20) + 4096));
        let mut all = Vec::new();
        show("read all", f.read_to_end(&mut all));
        println!(
            "head kept: {}, tail zeros: {}",
            all[..1 << 20] == expected[..1 << 20],
            all[1 << 20..].iter().all(|&b| b == 0)
        );
    }

    print_tree("tree", root);
}
