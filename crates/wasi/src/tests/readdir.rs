//! `fd_readdir`: entries, cookies, truncation and resumption.

use super::*;

/// One parsed `dirent`: (d_next, d_ino, d_type, name).
type Dirent = (u64, u64, u8, Vec<u8>);

/// Parses whole entries of a readdir buffer; a cut-off last entry is left
/// out, as a program does.
fn parse(b: &[u8]) -> Vec<Dirent> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 24 <= b.len() {
        let next = u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        let ino = u64::from_le_bytes(b[at + 8..at + 16].try_into().unwrap());
        let len = u32::from_le_bytes(b[at + 16..at + 20].try_into().unwrap()) as usize;
        if at + 24 + len > b.len() {
            break;
        }
        out.push((next, ino, b[at + 20], b[at + 24..at + 24 + len].to_vec()));
        at += 24 + len;
    }
    out
}

fn readdir(t: &mut T, fd: u32, len: u32, cookie: u64) -> Result<Vec<u8>, Errno> {
    let buf = t.alloc(len);
    t.put(buf, &vec![0xee; len as usize]);
    let used = t.alloc(4);
    match t.call(|h, cx, m| fd_readdir(h, cx, m, fd, buf, len, cookie, used)) {
        errno::SUCCESS => Ok(t.bytes(buf, t.u32(used)).to_vec()),
        e => Err(e),
    }
}

fn setup() -> T {
    let t = T::new();
    t.dir.write("a", b"");
    t.dir.mkdir("bb");
    t.dir.write("ccc", b"");
    t
}

#[test]
fn entries_start_with_dot_and_dotdot_and_carry_their_cookies() {
    let mut t = setup();
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata(&t.dir.0).unwrap().ino();
    let a = std::fs::metadata(t.dir.path("a")).unwrap().ino();
    let got = parse(&readdir(&mut t, 3, 1024, 0).unwrap());
    let names: Vec<&[u8]> = got.iter().map(|e| &e.3[..]).collect();
    assert_eq!(names, [&b"."[..], b"..", b"a", b"bb", b"ccc"]);
    assert_eq!(got.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5], "d_next");
    assert_eq!((got[0].1, got[1].1), (root, root), "`.` and `..` both carry the directory's inode");
    assert_eq!((got[0].2, got[2].2, got[3].2), (filetype::DIRECTORY, filetype::REGULAR_FILE, filetype::DIRECTORY));
    assert_eq!(got[2].1, a);
    assert_eq!(readdir(&mut t, 3, 1024, 0).unwrap().len(), 5 * 24 + 1 + 2 + 1 + 2 + 3, "bufused");

    for (cookie, first) in [(1, &b".."[..]), (2, b"a"), (4, b"ccc")] {
        let got = parse(&readdir(&mut t, 3, 1024, cookie).unwrap());
        assert_eq!(got[0].3, first, "cookie {cookie}");
        assert_eq!(got[0].0, cookie + 1);
    }
    assert_eq!(readdir(&mut t, 3, 1024, 5).unwrap(), b"", "at the end");
    assert_eq!(readdir(&mut t, 3, 1024, u64::MAX).unwrap(), b"", "past it");
}

#[test]
fn a_full_buffer_is_filled_to_the_last_byte_like_wasmtime_wasi() {
    let mut t = setup();
    let whole = readdir(&mut t, 3, 1024, 0).unwrap();
    for len in [0u32, 1, 23, 24, 25, 26, 50, 51, 75, 76, 100] {
        let got = readdir(&mut t, 3, len, 0).unwrap();
        assert_eq!(got.len(), len as usize, "len {len}: bufused is the whole buffer");
        assert_eq!(got, whole[..len as usize], "len {len}: the same bytes, cut");
    }
    // A buffer that ends exactly after an entry.
    assert_eq!(readdir(&mut t, 3, 25, 0).unwrap(), whole[..25]);
}

#[test]
fn reading_on_from_d_next_sees_every_entry_once_and_resumes_cheaply() {
    let mut t = T::new();
    for i in 0..50 {
        t.dir.write(&std::format!("file{i:02}"), b"");
    }
    let mut cookie = 0;
    let mut names = Vec::new();
    let mut calls = 0;
    loop {
        let buf = readdir(&mut t, 3, 100, cookie).unwrap();
        calls += 1;
        let got = parse(&buf);
        if got.is_empty() {
            assert!(buf.len() < 100, "no progress only at the end");
            break;
        }
        cookie = got.last().unwrap().0;
        names.extend(got.into_iter().map(|e| e.3));
    }
    assert_eq!(names.len(), 52);
    assert_eq!(names[2], b"file00");
    assert_eq!(names[51], b"file49");
    assert!(calls > 15, "{calls} calls");
    // Without resumption each call would walk from the start: ~50*26.
    assert!(t.host.readdir_visited < 52 + 3 * calls, "visited {} in {calls} calls", t.host.readdir_visited);
}

#[test]
fn readdir_applies_to_directories_only() {
    let mut t = setup();
    let f = t.open(b"a", 0, rights::FD_READ, 0).unwrap();
    assert_eq!(readdir(&mut t, f, 100, 0), Err(errno::BADF));
    assert_eq!(readdir(&mut t, 1, 100, 0), Err(errno::BADF));
    assert_eq!(readdir(&mut t, 77, 100, 0), Err(errno::BADF));
    let used = t.alloc(4);
    assert_eq!(t.call(|h, cx, m| fd_readdir(h, cx, m, 3, MEM as u32 - 10, 100, 0, used)), errno::FAULT);
    assert_eq!(t.call(|h, cx, m| fd_readdir(h, cx, m, 3, 0, 100, 0, MEM as u32)), errno::FAULT);
    assert_eq!(t.host.readdir_calls, 0);
    let d = t.open(b"bb", oflags::DIRECTORY, rights::FD_READ, 0).unwrap();
    let names: Vec<Vec<u8>> = parse(&readdir(&mut t, d, 200, 0).unwrap()).into_iter().map(|e| e.3).collect();
    assert_eq!(names, [b".".to_vec(), b"..".to_vec()], "an empty opened directory");
}
