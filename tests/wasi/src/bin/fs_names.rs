//! File names: spaces, punctuation, Unicode, a leading dot, case, the
//! longest name a component may have and one byte more, `.` and `..` as
//! names, and non-UTF-8 bytes (std refuses those before any WASI call;
//! wasi-libc's open() passes them on: the C programs go further). The
//! directory listing is printed sorted, with each entry's file type.

use kwasm_wasi_corpus::{done, err, print_tree, show, ROOT};
use std::ffi::OsStr;
use std::fs;
use std::os::wasi::ffi::OsStrExt;
use std::path::Path;

extern "C" {
    // wasi-libc's open(2), which takes the name's bytes as they are.
    #[link_name = "open"]
    fn libc_open(path: *const std::ffi::c_char, flags: std::ffi::c_int, ...) -> std::ffi::c_int;
    #[link_name = "close"]
    fn libc_close(fd: std::ffi::c_int) -> std::ffi::c_int;
}

/// wasi-libc's O_CREAT | O_WRONLY.
const O_CREAT_WRONLY: std::ffi::c_int = (1 << 12) | 0x1000_0000;

fn main() {
    let root = Path::new(ROOT);
    let names = [
        "with space.txt",
        "semi;colon,comma=equals",
        "quote'\"double",
        "back\\slash",
        "star*question?",
        "colon:pipe|lt<gt>",
        "tab\there",
        "new\nline",
        ".hidden",
        "trailing.dot.",
        "-leading-dash",
        "ünïcödé-名前-🦀.txt",
        "Case",
        "case",
        "CASE",
    ];
    for name in names {
        done(&format!("create {name:?}"), fs::write(root.join(name), name.as_bytes()));
    }
    for name in names {
        show(
            &format!("read {name:?}"),
            fs::read(root.join(name)).map(|b| b == name.as_bytes()),
        );
    }

    // Component length: 255 bytes is the limit of Linux file systems.
    let long = "L".repeat(255);
    done("create a 255-byte name", fs::write(root.join(&long), b"long"));
    show("read it", fs::read_to_string(root.join(&long)));
    show("create a 256-byte name", fs::write(root.join("M".repeat(256)), b"x"));
    let multibyte = "é".repeat(128); // 256 bytes in 128 characters
    show("create 128 x é (256 bytes)", fs::write(root.join(&multibyte), b"x"));
    show("create_dir a 256-byte name", fs::create_dir(root.join("D".repeat(256))));
    let deep: String = (0..30).map(|i| format!("d{i:02}/")).collect();
    done("create_dir_all 30 levels", fs::create_dir_all(root.join(&deep)));
    done(
        "write at the bottom",
        fs::write(root.join(&deep).join("bottom"), b"bottom"),
    );
    show("read it", fs::read_to_string(root.join(&deep).join("bottom")));

    // `.` and `..` are not names.
    show("create_dir .", fs::create_dir(root.join(".")));
    show("create_dir sub/..", fs::create_dir(root.join("sub/..")));
    show("write to .", fs::write(root.join("."), b"x"));
    show("remove_file .", fs::remove_file(root.join(".")));
    show("rename . -> dot", fs::rename(root.join("."), root.join("dot")));
    show("rename sub/. -> dot", fs::rename(root.join("sub/."), root.join("dot")));

    // Non-UTF-8: std refuses, wasi-libc passes the bytes to path_open.
    let raw = OsStr::from_bytes(b"bad-\xff\xfe-utf8");
    show("std: create a non-UTF-8 name", fs::write(root.join(raw), b"x"));
    let path = std::ffi::CString::new([b"/sandbox/".as_slice(), raw.as_bytes()].concat()).unwrap();
    // SAFETY: a NUL-terminated path; the mode argument is variadic.
    let fd = unsafe { libc_open(path.as_ptr(), O_CREAT_WRONLY, 0o644) };
    if fd < 0 {
        println!(
            "libc: create a non-UTF-8 name: {}",
            err(&std::io::Error::last_os_error())
        );
    } else {
        println!("libc: create a non-UTF-8 name: ok");
        // SAFETY: the fd open() just returned.
        unsafe { libc_close(fd) };
    }

    // The listing, sorted by bytes, with entry types.
    match fs::read_dir(root) {
        Ok(rd) => {
            let mut entries: Vec<(Vec<u8>, String)> = rd
                .map(|e| match e {
                    Ok(e) => (
                        e.file_name().as_bytes().to_vec(),
                        match e.file_type() {
                            Ok(t) if t.is_symlink() => "symlink".to_string(),
                            Ok(t) if t.is_dir() => "dir".to_string(),
                            Ok(t) if t.is_file() => "file".to_string(),
                            Ok(_) => "other".to_string(),
                            Err(e) => err(&e),
                        },
                    ),
                    Err(e) => (vec![], err(&e)),
                })
                .collect();
            entries.sort();
            println!("listing: {} entries", entries.len());
            for (name, t) in entries {
                println!("  {:?} {t}", String::from_utf8_lossy(&name));
            }
        }
        Err(e) => println!("listing: {}", err(&e)),
    }

    print_tree("tree", root);
}
