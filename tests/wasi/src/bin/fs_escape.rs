//! Escape attempts: every way out of the preopened /sandbox the program can
//! spell, each printing the error it gets. `../` chains, absolute paths
//! outside any preopen, the fixture's absolute and escaping symlinks,
//! symlinks to `..` and `../..` made by the program and then opened
//! through, symlink loops, rename and hard link to or from outside, create,
//! write, remove outside. Whatever one of them reads is printed as
//! `ESCAPED`; the exit status is the number of attempts that got out.
//! The runner also checks that the file next to the sandbox is untouched.

use kwasm_wasi_corpus::{done, err, print_tree, show, symlink, ROOT};
use std::fs;
use std::io;
use std::path::Path;

struct Attempts {
    escaped: i32,
}

impl Attempts {
    /// An attempt that must fail: prints its error, or ESCAPED.
    fn must_fail<T: std::fmt::Debug>(&mut self, label: &str, r: io::Result<T>) {
        match r {
            Ok(v) => {
                self.escaped += 1;
                println!("{label}: ESCAPED {v:?}");
            }
            Err(e) => println!("{label}: {}", err(&e)),
        }
    }
}

fn main() {
    let root = Path::new(ROOT);
    let p = |name: &str| root.join(name);
    let mut a = Attempts { escaped: 0 };

    // Allowed: `..` that stays inside, `.` and doubled slashes.
    show("read sub/../hello.txt", fs::read_to_string(p("sub/../hello.txt")));
    show("read ./sub/./nested.txt", fs::read_to_string(p("./sub/./nested.txt")));
    show("read //hello.txt", fs::read_to_string("/sandbox//hello.txt"));
    let inside = "sub/../".repeat(40) + "hello.txt";
    show("read (sub/../)x40 hello.txt", fs::read_to_string(p(&inside)));

    // `..` chains.
    a.must_fail("read ../outside.txt", fs::read_to_string(p("../outside.txt")));
    a.must_fail(
        "read sub/../../outside.txt",
        fs::read_to_string(p("sub/../../outside.txt")),
    );
    a.must_fail(
        "read sub/deeper/../../../outside.txt",
        fs::read(p("sub/deeper/../../../outside.txt")),
    );
    let deep = "../".repeat(40) + "etc/passwd";
    a.must_fail("read (../)x40 etc/passwd", fs::read(p(&deep)));
    a.must_fail("metadata ..", fs::metadata(p("..")).map(|m| m.is_dir()));
    a.must_fail("read_dir ..", fs::read_dir(p("..")).map(|_| "listed"));
    a.must_fail("read_dir sub/../..", fs::read_dir(p("sub/../..")).map(|_| "listed"));
    a.must_fail(
        "read link-dir/../../outside.txt",
        fs::read(p("link-dir/../../outside.txt")),
    );

    // Absolute paths outside every preopen.
    a.must_fail("read /etc/passwd", fs::read("/etc/passwd"));
    a.must_fail("read /outside.txt", fs::read("/outside.txt"));
    a.must_fail("read_dir /", fs::read_dir("/").map(|_| "listed"));
    a.must_fail("create /new.txt", fs::write("/new.txt", b"x"));

    // The fixture's symlinks that lead out.
    a.must_fail("read link-abs (-> /etc/passwd)", fs::read(p("link-abs")));
    a.must_fail("metadata link-abs", fs::metadata(p("link-abs")).map(|m| m.len()));
    a.must_fail("read link-up (-> ../outside.txt)", fs::read(p("link-up")));
    a.must_fail("metadata link-up", fs::metadata(p("link-up")).map(|m| m.len()));
    a.must_fail("write through link-up", fs::write(p("link-up"), b"overwritten\n"));
    a.must_fail(
        "append through link-up",
        fs::OpenOptions::new().append(true).open(p("link-up")).map(|_| "opened"),
    );

    // Symlinks the program makes: creating them may work, using them must not.
    show("symlink up1 -> ..", symlink("..", p("up1")));
    a.must_fail("read up1/outside.txt", fs::read(p("up1/outside.txt")));
    a.must_fail("read_dir up1", fs::read_dir(p("up1")).map(|_| "listed"));
    show("symlink up2 -> ../..", symlink("../..", p("up2")));
    a.must_fail("read_dir up2", fs::read_dir(p("up2")).map(|_| "listed"));
    a.must_fail("read up2/etc/passwd", fs::read(p("up2/etc/passwd")));
    show("symlink sub/up -> ../..", symlink("../..", p("sub/up")));
    a.must_fail("read sub/up/outside.txt", fs::read(p("sub/up/outside.txt")));
    show("symlink etc -> /etc", symlink("/etc", p("etc")));
    a.must_fail("read etc/passwd", fs::read(p("etc/passwd")));
    show("symlink root -> /", symlink("/", p("root")));
    a.must_fail("read_dir root", fs::read_dir(p("root")).map(|_| "listed"));
    a.must_fail("create through up1", fs::write(p("up1/planted.txt"), b"planted\n"));
    a.must_fail("create_dir through up1", fs::create_dir(p("up1/planted-dir")));

    // Loops.
    show("symlink loop-a -> loop-b", symlink("loop-b", p("loop-a")));
    show("symlink loop-b -> loop-a", symlink("loop-a", p("loop-b")));
    a.must_fail("read loop-a", fs::read(p("loop-a")));
    a.must_fail("metadata loop-b", fs::metadata(p("loop-b")).map(|m| m.len()));
    a.must_fail("read link-loop", fs::read(p("link-loop")));
    a.must_fail("create through loop-a", fs::write(p("loop-a"), b"x"));
    a.must_fail("create_dir loop-a/x", fs::create_dir(p("loop-a/x")));

    // Moving things out, or in.
    a.must_fail("rename hello.txt -> ../x", fs::rename(p("hello.txt"), p("../x")));
    show("hello.txt still there", fs::read_to_string(p("hello.txt")));
    a.must_fail(
        "rename ../outside.txt -> stolen",
        fs::rename(p("../outside.txt"), p("stolen")),
    );
    a.must_fail("rename sub -> ../sub", fs::rename(p("sub"), p("../sub")));
    a.must_fail("rename into /x", fs::rename(p("empty"), "/x"));
    a.must_fail(
        "hard_link ../outside.txt -> stolen",
        fs::hard_link(p("../outside.txt"), p("stolen")),
    );
    a.must_fail(
        "hard_link hello.txt -> ../planted",
        fs::hard_link(p("hello.txt"), p("../planted")),
    );
    a.must_fail(
        "hard_link /etc/passwd -> passwd",
        fs::hard_link("/etc/passwd", p("passwd")),
    );
    // A hard link of an escaping symlink is a symlink that escapes as much.
    show(
        "hard_link link-up -> up-copy",
        fs::hard_link(p("link-up"), p("up-copy")),
    );
    a.must_fail("read up-copy", fs::read(p("up-copy")));

    // Creating, removing outside.
    a.must_fail("create ../evil.txt", fs::write(p("../evil.txt"), b"evil\n"));
    a.must_fail("create_dir ../evil", fs::create_dir(p("../evil")));
    a.must_fail(
        "create_dir_all sub/../../evil2",
        fs::create_dir_all(p("sub/../../evil2")),
    );
    a.must_fail("remove_file ../outside.txt", fs::remove_file(p("../outside.txt")));
    a.must_fail("remove_dir ..", fs::remove_dir(p("..")));
    a.must_fail("symlink ../evil-link", symlink("hello.txt", p("../evil-link")));
    a.must_fail("set_len through link-up", {
        fs::OpenOptions::new()
            .write(true)
            .open(p("link-up"))
            .and_then(|f| f.set_len(0))
    });

    // The working directory cannot leave either.
    done("set_current_dir /sandbox", std::env::set_current_dir(root));
    a.must_fail("read ../outside.txt from cwd", fs::read("../outside.txt"));
    show("set_current_dir ..", std::env::set_current_dir(".."));
    a.must_fail("read outside.txt from cwd", fs::read("outside.txt"));

    print_tree("tree", root);
    println!("escaped: {}", a.escaped);
    std::process::exit(a.escaped);
}
