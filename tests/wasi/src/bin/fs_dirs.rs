//! Directories: create (also recursively), list with entry types, walk
//! recursively (sorted), rename directories (also over an empty one, over a
//! non-empty one, into themselves), remove (non-empty: an error; all:
//! recursively), and relative paths after set_current_dir (wasi-libc's
//! emulated working directory).

use kwasm_wasi_corpus::{done, print_tree, show, walk, ROOT};
use std::fs;
use std::path::Path;

fn list(label: &str, dir: &Path) {
    match fs::read_dir(dir) {
        Ok(rd) => {
            let mut names: Vec<String> = rd
                .map(|e| match e {
                    Ok(e) => {
                        let t = e.file_type().map(|t| {
                            if t.is_symlink() {
                                "symlink"
                            } else if t.is_dir() {
                                "dir"
                            } else {
                                "file"
                            }
                        });
                        format!("{}={}", e.file_name().to_string_lossy(), t.unwrap_or("?"))
                    }
                    Err(e) => format!("<{}>", kwasm_wasi_corpus::err(&e)),
                })
                .collect();
            names.sort();
            println!("{label}: ok [{}]", names.join(", "));
        }
        Err(e) => println!("{label}: {}", kwasm_wasi_corpus::err(&e)),
    }
}

fn main() {
    let root = Path::new(ROOT);
    let p = |name: &str| root.join(name);

    list("list /sandbox", root);
    list("list sub", &p("sub"));
    list("list emptydir", &p("emptydir"));
    list("list through link-dir", &p("link-dir"));
    list("list a file", &p("hello.txt"));
    list("list missing", &p("missing"));
    list("list sub/deeper/..", &p("sub/deeper/.."));

    // Creating.
    done("create_dir a", fs::create_dir(p("a")));
    show("create_dir a again", fs::create_dir(p("a")));
    show("create_dir over a file", fs::create_dir(p("hello.txt")));
    show("create_dir in a missing parent", fs::create_dir(p("nope/child")));
    done("create_dir_all a/b/c/d", fs::create_dir_all(p("a/b/c/d")));
    done("create_dir_all again", fs::create_dir_all(p("a/b/c/d")));
    show("create_dir_all through a file", fs::create_dir_all(p("hello.txt/x/y")));
    done("write a/b/c/file", fs::write(p("a/b/c/file"), b"in c\n"));
    done("write a/top", fs::write(p("a/top"), b"top\n"));
    show(
        "metadata a/b",
        fs::metadata(p("a/b")).map(|m| (m.is_dir(), m.is_file())),
    );

    // Removing.
    show("remove_dir non-empty a", fs::remove_dir(p("a")));
    show("remove_dir a file", fs::remove_dir(p("hello.txt")));
    show("remove_dir missing", fs::remove_dir(p("missing")));
    show("remove_dir a symlink to a directory", fs::remove_dir(p("link-dir")));
    show("remove_dir sub/deeper/.", fs::remove_dir(p("sub/deeper/.")));
    done("remove_dir a/b/c/d", fs::remove_dir(p("a/b/c/d")));
    show("a/b/c/d gone", fs::metadata(p("a/b/c/d")).map(|_| ()));

    // Renaming directories.
    done("rename a/b to moved", fs::rename(p("a/b"), p("moved")));
    show("a/b after rename", fs::metadata(p("a/b")).map(|_| ()));
    show("read moved/c/file", fs::read_to_string(p("moved/c/file")));
    done("create_dir empty-target", fs::create_dir(p("empty-target")));
    done(
        "rename moved over an empty directory",
        fs::rename(p("moved"), p("empty-target")),
    );
    show(
        "rename over a non-empty directory",
        fs::rename(p("emptydir"), p("empty-target")),
    );
    show(
        "rename a directory over a file",
        fs::rename(p("empty-target"), p("hello.txt")),
    );
    show(
        "rename a directory into itself",
        fs::rename(p("empty-target"), p("empty-target/c/inside")),
    );
    done(
        "rename a directory to a new name",
        fs::rename(p("empty-target"), p("renamed")),
    );
    done(
        "rename a file across directories",
        fs::rename(p("a/top"), p("renamed/c/top")),
    );

    // Relative paths after set_current_dir.
    done("set_current_dir /sandbox/sub", std::env::set_current_dir(p("sub")));
    show("current_dir", std::env::current_dir());
    show("read relative nested.txt", fs::read_to_string("nested.txt"));
    done("create_dir relative rel", fs::create_dir("rel"));
    done("write relative rel/r.txt", fs::write("rel/r.txt", b"relative\n"));
    show("read ../hello.txt relative", fs::read_to_string("../hello.txt"));
    done("set_current_dir ..", std::env::set_current_dir(".."));
    show("current_dir", std::env::current_dir());
    show("set_current_dir to a file", std::env::set_current_dir("hello.txt"));
    show("read sub/rel/r.txt relative", fs::read_to_string("sub/rel/r.txt"));

    // Walk the whole tree.
    print_tree("tree before remove_dir_all", root);
    done("remove_dir_all renamed", fs::remove_dir_all(p("renamed")));
    done("remove_dir_all a", fs::remove_dir_all(p("a")));
    show("remove_dir_all missing", fs::remove_dir_all(p("missing")));
    println!("entries left: {}", walk(root).len());
    print_tree("tree", root);
}
