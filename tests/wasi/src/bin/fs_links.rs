//! Links: read_link of the fixture's symlinks (relative, to a directory,
//! dangling, absolute, escaping, a loop), metadata (follows) against
//! symlink_metadata (does not), opening and listing through symlinks,
//! creating symlinks (chains, over an existing name, through a dangling
//! one), removing and renaming a symlink, hard links (shared content, to a
//! directory, over an existing name, of a symlink).

use kwasm_wasi_corpus::{done, print_tree, show, symlink, ROOT};
use std::fs;
use std::path::Path;

fn kind(m: std::io::Result<fs::Metadata>) -> std::io::Result<&'static str> {
    m.map(|m| {
        if m.is_symlink() {
            "symlink"
        } else if m.is_dir() {
            "dir"
        } else {
            "file"
        }
    })
}

fn main() {
    let root = Path::new(ROOT);
    let p = |name: &str| root.join(name);

    for name in [
        "link-file",
        "link-dir",
        "link-dangling",
        "link-abs",
        "link-up",
        "link-loop",
        "hello.txt",
        "missing",
    ] {
        show(&format!("read_link {name}"), fs::read_link(p(name)));
        show(&format!("metadata {name}"), kind(fs::metadata(p(name))));
        show(&format!("symlink_metadata {name}"), kind(fs::symlink_metadata(p(name))));
    }
    show("read through link-file", fs::read_to_string(p("link-file")));
    show("read through link-dir", fs::read_to_string(p("link-dir/nested.txt")));
    show("metadata link-dir/", kind(fs::metadata(p("link-dir/"))));
    show("read link-dangling", fs::read_to_string(p("link-dangling")));
    show("read link-loop", fs::read_to_string(p("link-loop")));
    show("read link-loop/x", fs::read_to_string(p("link-loop/x")));

    // Creating symlinks.
    done("symlink new-link -> hello.txt", symlink("hello.txt", p("new-link")));
    done("symlink chain -> new-link", symlink("new-link", p("chain")));
    show("read through the chain", fs::read_to_string(p("chain")));
    done("symlink dir-link -> sub/deeper", symlink("sub/deeper", p("dir-link")));
    show("read through dir-link", fs::read_to_string(p("dir-link/leaf.txt")));
    show("symlink over an existing name", symlink("hello.txt", p("empty")));
    show("symlink in a missing directory", symlink("hello.txt", p("nodir/l")));
    done("symlink to a name that does not exist", symlink("not-yet", p("later")));
    show("metadata later (dangling)", kind(fs::metadata(p("later"))));
    done("create not-yet", fs::write(p("not-yet"), b"now\n"));
    show("read later (no longer dangling)", fs::read_to_string(p("later")));
    done(
        "symlink with an absolute target",
        symlink("/sandbox/hello.txt", p("abs-new")),
    );
    show("read_link abs-new", fs::read_link(p("abs-new")));
    show("read abs-new", fs::read_to_string(p("abs-new")));

    // Writing through a dangling symlink creates its target (or not).
    show(
        "write through link-dangling",
        fs::write(p("link-dangling"), b"created?\n"),
    );
    show("missing.txt after", fs::read_to_string(p("missing.txt")));

    // Removing and renaming symlinks touches the link, not its target.
    done("remove_file new-link", fs::remove_file(p("new-link")));
    show("hello.txt still there", fs::read_to_string(p("hello.txt")));
    show("chain now dangles", fs::read_to_string(p("chain")));
    done("rename chain to chain2", fs::rename(p("chain"), p("chain2")));
    show("read_link chain2", fs::read_link(p("chain2")));
    done("remove_file dir-link", fs::remove_file(p("dir-link")));
    show("sub/deeper still there", kind(fs::metadata(p("sub/deeper"))));

    // Hard links.
    done(
        "hard_link hello.txt -> hard.txt",
        fs::hard_link(p("hello.txt"), p("hard.txt")),
    );
    done("append via hard.txt", {
        use std::io::Write;
        fs::OpenOptions::new()
            .append(true)
            .open(p("hard.txt"))
            .and_then(|mut f| f.write_all(b"appended via the hard link\n"))
    });
    show("read hello.txt", fs::read_to_string(p("hello.txt")));
    done("remove_file hello.txt", fs::remove_file(p("hello.txt")));
    show("hard.txt keeps the content", fs::read_to_string(p("hard.txt")));
    show("hard_link a directory", fs::hard_link(p("sub"), p("sub-hard")));
    show(
        "hard_link over an existing name",
        fs::hard_link(p("hard.txt"), p("empty")),
    );
    show("hard_link a missing file", fs::hard_link(p("missing"), p("x")));
    show(
        "hard_link a symlink",
        fs::hard_link(p("link-file"), p("link-file-hard")),
    );
    show(
        "symlink_metadata link-file-hard",
        kind(fs::symlink_metadata(p("link-file-hard"))),
    );
    show(
        "hard_link into a missing directory",
        fs::hard_link(p("hard.txt"), p("nodir/h")),
    );

    print_tree("tree", root);
}
