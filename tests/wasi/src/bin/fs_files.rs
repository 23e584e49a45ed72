//! Files: read the fixture, create, write, append, truncate, set_len, seek
//! (also past the end: a sparse gap reads as zeros), copy, rename over an
//! existing file, remove; the errors of the wrong handle, a missing file, a
//! directory opened as a file and a trailing slash.

use kwasm_wasi_corpus::{done, hash, opened, print_tree, show, ROOT};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

fn read_all(label: &str, path: &Path) {
    show(label, fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()));
}

fn main() {
    let root = Path::new(ROOT);
    let p = |name: &str| root.join(name);

    // The fixture.
    read_all("read hello.txt", &p("hello.txt"));
    show("read data.bin", fs::read(p("data.bin")).map(|b| (b.len(), hash(&b))));
    show("read empty", fs::read(p("empty")).map(|b| b.len()));
    show("read missing", fs::read(p("missing")));
    show("read a directory", fs::read(p("sub")));
    opened("open a directory", File::open(p("sub")));
    show("read hello.txt/", fs::read(p("hello.txt/")));
    for name in ["hello.txt", "empty", "sub", "emptydir", "missing"] {
        show(
            &format!("metadata {name}"),
            fs::metadata(p(name)).map(|m| (m.is_file(), m.is_dir(), m.is_symlink(), m.len_if_file())),
        );
    }

    // Create, write, append.
    let new = p("new.txt");
    done("write new.txt", fs::write(&new, b"first line\n"));
    show("len after write", fs::metadata(&new).map(|m| m.len()));
    if let Some(mut f) = opened("open append", OpenOptions::new().append(true).open(&new)) {
        done("append second", f.write_all(b"second line\n"));
        // Appends go to the end whatever the position.
        show("seek to 0 in append mode", f.seek(SeekFrom::Start(0)));
        done("append third", f.write_all(b"third\n"));
        show("position after append", f.stream_position());
        show("read from append-only handle", f.read(&mut [0u8; 4]));
    }
    read_all("after appends", &new);

    // Truncating open, create_new.
    if let Some(mut f) = opened(
        "open truncate",
        OpenOptions::new().write(true).truncate(true).open(&new),
    ) {
        done("write short", f.write_all(b"short"));
    }
    read_all("after truncate", &new);
    show("create_new existing", File::create_new(&new).map(|_| ()));
    show("create_new fresh", File::create_new(p("fresh.txt")).map(|_| ()));
    show(
        "create in a missing directory",
        File::create(p("nodir/x.txt")).map(|_| ()),
    );
    show("create over a directory", File::create(p("emptydir")).map(|_| ()));

    // Handles used the wrong way.
    if let Some(mut f) = opened("open read-only", File::open(p("hello.txt"))) {
        show("write to read-only handle", f.write(b"x"));
        show("set_len on read-only handle", f.set_len(0));
    }
    if let Some(mut f) = opened("open write-only", OpenOptions::new().write(true).open(&new)) {
        show("read from write-only handle", f.read(&mut [0u8; 4]));
    }

    // set_len: grow (zeros), shrink.
    if let Some(f) = opened("open rw", OpenOptions::new().read(true).write(true).open(&new)) {
        done("set_len 12", f.set_len(12));
        done("set_len 3", f.set_len(3));
        done("set_len 8", f.set_len(8));
        show("len", f.metadata().map(|m| m.len()));
    }
    show("content after set_len", fs::read(&new));

    // Seeking.
    if let Some(mut f) = opened(
        "open rw for seeks",
        OpenOptions::new().read(true).write(true).open(p("data.bin")),
    ) {
        show("seek end -3", f.seek(SeekFrom::End(-3)));
        let mut b = [0u8; 8];
        show("read at end -3", f.read(&mut b).map(|n| b[..n].to_vec()));
        show("read at eof", f.read(&mut b));
        show("seek start 10", f.seek(SeekFrom::Start(10)));
        show("seek current +5", f.seek(SeekFrom::Current(5)));
        show("read 4", f.read(&mut b[..4]).map(|n| b[..n].to_vec()));
        show("seek before start", f.seek(SeekFrom::Current(-1000)));
        show("position after failed seek", f.stream_position());
        // Past the end: writing there leaves a gap that reads as zeros.
        show("seek 100000", f.seek(SeekFrom::Start(100_000)));
        done("write past end", f.write_all(b"tail"));
        show("len after sparse write", f.metadata().map(|m| m.len()));
        show("seek into the gap", f.seek(SeekFrom::Start(50_000)));
        let mut gap = vec![1u8; 4096];
        done("read the gap", f.read_exact(&mut gap));
        println!("gap is zeros: {}", gap.iter().all(|&x| x == 0));
        done("sync_all", f.sync_all());
        done("sync_data", f.sync_data());
    }

    // Copy, rename over an existing file, remove.
    show("copy hello.txt", fs::copy(p("hello.txt"), p("copy.txt")));
    read_all("read the copy", &p("copy.txt"));
    done("write victim", fs::write(p("victim.txt"), b"victim\n"));
    done("rename copy over victim", fs::rename(p("copy.txt"), p("victim.txt")));
    read_all("victim now", &p("victim.txt"));
    show("copy.txt after rename", fs::metadata(p("copy.txt")).map(|m| m.len()));
    show("rename missing", fs::rename(p("missing"), p("other")));
    show(
        "rename file over a directory",
        fs::rename(p("victim.txt"), p("emptydir")),
    );
    done("remove fresh.txt", fs::remove_file(p("fresh.txt")));
    show("remove it again", fs::remove_file(p("fresh.txt")));
    show("remove_file on a directory", fs::remove_file(p("emptydir")));

    print_tree("tree", root);
}

trait LenIfFile {
    fn len_if_file(&self) -> Option<u64>;
}

impl LenIfFile for fs::Metadata {
    fn len_if_file(&self) -> Option<u64> {
        self.is_file().then_some(self.len())
    }
}
