//! The differential WASI conformance corpus (`tests/wasi`, installed under
//! /share/kwasm/wasi): each program runs in the kernel (`kwasm run --dir
//! TREE::/sandbox`, on both engines) and under Wasmtime in user space
//! (`kwasm-reference --dir TREE::/sandbox`, the reference), each on its own
//! fresh copy of the same fixture tree. Their stdout, stderr, exit status
//! and the tree each leaves behind (paths, types, permissions, sizes,
//! contents, symlink targets, link counts, fixed mtimes) must match, and a
//! file next to the trees must stay untouched.
//!
//! Outside the guest (host validation of the corpus and of this runner),
//! `KWASM_WASI_SUBJECT=reference` runs the reference in place of the kernel
//! (each program then runs three times: it must be deterministic;
//! `KWASM_WASI_SUBJECT=native` runs the kernel's native engine only, as CI
//! does on the kernels whose full plan is not the one that runs Pulley),
//! `KWASM_WASI_CORPUS=DIR` reads the programs from DIR and
//! `KWASM_WASI_PROGRAMS=a,b` picks some:
//!
//! ```text
//! PATH=target/debug:$PATH KWASM_WASI_SUBJECT=reference \
//!   KWASM_WASI_CORPUS=target/wasi-corpus/share target/debug/kwasm-guest-tests --only wasi-corpus
//! ```

use crate::run::kwasm;
use crate::{expect, Test};
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const CORPUS: &str = "/share/kwasm/wasi";
/// Scratch trees (tmpfs in the guest).
const SCRATCH: &str = "/tmp/wasi-corpus";
/// The guest path of the preopened tree.
const GUEST_DIR: &str = "/sandbox";
/// What the file next to the trees holds; escape attempts aim at it.
const OUTSIDE: &[u8] = b"outside: must stay untouched\n";
/// Programs run at once.
const WORKERS: usize = 2;
/// mtimes before this (2010-01-01) were set by the program to a fixed
/// value, so they are compared; later ones are the clock's.
const FIXED_MTIME_BEFORE: i64 = 1_262_304_000;

pub const TESTS: &[Test] = &[("wasi-corpus", corpus)];

/// One corpus program and how it is run.
struct Program {
    name: &'static str,
    args: &'static [&'static str],
    /// `--env` flags.
    env: &'static [&'static str],
    /// The exit status the reference must end with.
    exit: i32,
}

const PROGRAMS: &[Program] = &[
    Program {
        name: "fs_files",
        args: &[],
        env: &[],
        exit: 0,
    },
    Program {
        name: "fs_dirs",
        args: &[],
        env: &[],
        exit: 0,
    },
    Program {
        name: "fs_links",
        args: &[],
        env: &[],
        exit: 0,
    },
    Program {
        name: "fs_escape",
        args: &[],
        env: &[],
        exit: 0,
    },
    Program {
        name: "fs_large",
        args: &["3"],
        env: &[],
        exit: 0,
    },
    Program {
        name: "fs_names",
        args: &[],
        env: &[],
        exit: 0,
    },
    Program {
        name: "fs_time",
        args: &[],
        env: &[],
        exit: 0,
    },
    Program {
        name: "env_stdio",
        args: &["two words", "ünï", "", "--exit", "7"],
        env: &["KWASM_A=1", "EMPTY=", "SPACED=a b  c"],
        exit: 7,
    },
    Program {
        name: "fs_rights",
        args: &[],
        env: &[],
        exit: 0,
    },
    Program {
        name: "c_stdio",
        args: &["arg1", "two words"],
        env: &["KWASM_A=from-env"],
        exit: 3,
    },
    Program {
        name: "c_dirs",
        args: &[],
        env: &[],
        exit: 0,
    },
    Program {
        name: "c_fcntl",
        args: &[],
        env: &[],
        exit: 0,
    },
    Program {
        name: "c_time_poll",
        args: &[],
        env: &[],
        exit: 0,
    },
];

/// Where kwasm deliberately differs from the reference (docs/wasi.md,
/// "Differences from wasmtime-wasi"), as it shows in the corpus's output:
/// on the stdout lines of `programs` that start with one of `lines` (all
/// lines if empty), the reference's `reference` and kwasm's `kwasm` both
/// become `<known: WHY>` before the comparison. Anything else in those
/// lines must still match. The programs stay out of the other deliberate
/// differences (fd_allocate, proc_raise, sockets, CPU-time clocks, and how
/// many iovecs one call moves); `fs_rights` calls fd_fdstat_set_rights but
/// checks each side's own contract and prints the same verdict.
struct Difference {
    programs: &'static [&'static str],
    lines: &'static [&'static str],
    reference: &'static str,
    kwasm: &'static str,
    why: &'static str,
}

/// Deliberate differences the corpus meets: none today (escapes answer
/// PERM in both; the programs stay clear of the other differences listed
/// in docs/wasi.md). An entry rewrites only the lines it names.
const KNOWN_DIFFERENCES: &[Difference] = &[];

/// Who runs the program on the second tree.
#[derive(Clone, Copy, PartialEq)]
enum Subject {
    /// `kwasm run --engine E` in the kernel.
    Kernel(&'static str),
    /// `kwasm-reference` again (host validation: determinism).
    Reference,
}

impl Subject {
    fn name(self) -> &'static str {
        match self {
            Subject::Kernel(engine) => engine,
            Subject::Reference => "reference-again",
        }
    }
}

fn corpus() -> Result<(), String> {
    let dir = std::env::var("KWASM_WASI_CORPUS").unwrap_or_else(|_| CORPUS.into());
    let subjects: Vec<Subject> = match std::env::var("KWASM_WASI_SUBJECT").as_deref() {
        Ok("reference") => vec![Subject::Reference],
        Ok("native") => vec![Subject::Kernel("native")],
        _ => vec![Subject::Kernel("native"), Subject::Kernel("pulley")],
    };
    let only: Option<Vec<String>> = std::env::var("KWASM_WASI_PROGRAMS")
        .ok()
        .map(|s| s.split(',').map(String::from).collect());
    let programs: Vec<&Program> = PROGRAMS
        .iter()
        .filter(|p| only.as_ref().is_none_or(|o| o.iter().any(|n| n == p.name)))
        .collect();
    expect(!programs.is_empty(), || "no corpus program selected".into())?;
    // Two programs at a time (the guest has two vCPUs; each program has
    // its own scratch trees): compiling in the guest is most of the time.
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Vec<(Subject, Result<(), String>)>, String>>>> =
        programs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(program) = programs.get(i) else { break };
                let wasm = format!("{dir}/{}.wasm", program.name);
                let result = if Path::new(&wasm).is_file() {
                    differential(program, &wasm, &subjects)
                } else {
                    Err(format!("no {wasm}"))
                };
                *results[i].lock().unwrap() = Some(result);
            });
        }
    });
    let mut failures = Vec::new();
    let mut runs = 0;
    for (program, result) in programs.iter().zip(results) {
        let results = match result.into_inner().unwrap().expect("every program ran") {
            Ok(results) => results,
            Err(e) => {
                failures.push(format!("{}: {e}", program.name));
                continue;
            }
        };
        for (subject, result) in results {
            runs += 1;
            match result {
                Ok(()) => println!("wasi-corpus: {} {}: match", program.name, subject.name()),
                Err(e) => {
                    println!("wasi-corpus: {} {}: MISMATCH\n{e}", program.name, subject.name());
                    let first = e.lines().next().unwrap_or("").to_string();
                    failures.push(format!("{} {}: {first}", program.name, subject.name()));
                }
            }
        }
    }
    println!(
        "wasi-corpus: {} programs, {runs} differential runs, {} failed",
        programs.len(),
        failures.len()
    );
    expect(failures.is_empty(), || failures.join("; "))
}

/// What one run of a program left: its output and its tree.
struct Observed {
    output: Output,
    tree: Vec<String>,
}

/// One program, each on a fresh copy of the fixture: the reference once,
/// then every subject, each compared with the reference. Err if the
/// reference itself could not run as the corpus expects.
fn differential(program: &Program, wasm: &str, subjects: &[Subject]) -> Result<Vec<(Subject, Result<(), String>)>, String> {
    let work = PathBuf::from(SCRATCH).join(program.name);
    let tree = |name: &str| work.join(name);
    let names: Vec<&str> = std::iter::once("reference").chain(subjects.iter().map(|s| s.name())).collect();
    let trees: Vec<PathBuf> = names.iter().map(|n| tree(n)).collect();
    fresh(&work, &trees.iter().map(PathBuf::as_path).collect::<Vec<_>>())
        .map_err(|e| format!("setting up {}: {e}", work.display()))?;
    let outside_before = listing(&work.join("outside-dir"));

    let flags: Vec<String> = program.env.iter().map(|e| format!("--env={e}")).collect();
    let with_dir = |tree: &Path| {
        let mut all = flags.clone();
        all.push(format!("--dir={}::{GUEST_DIR}", tree.display()));
        all.push(wasm.to_string());
        all.extend(program.args.iter().map(|s| s.to_string()));
        all
    };
    let observe = |output: Output, tree: &Path| Observed { output, tree: listing(tree) };
    let reference = observe(run_reference(&with_dir(&trees[0]))?, &trees[0]);
    if reference.output.status.code() != Some(program.exit) {
        return Err(format!(
            "the reference itself ended with {:?}, not {} (corpus or reference broken?); its stderr: {}",
            reference.output.status.code(),
            program.exit,
            text(&reference.output.stderr).trim()
        ));
    }
    let mut results = Vec::new();
    for (&subject, tree) in subjects.iter().zip(&trees[1..]) {
        let output = match subject {
            Subject::Reference => run_reference(&with_dir(tree))?,
            Subject::Kernel(engine) => {
                let mut args = vec!["--timeout=600s".to_string()];
                args.extend(with_dir(tree));
                kwasm(engine, &args.iter().map(String::as_str).collect::<Vec<_>>())?
            }
        };
        let other = observe(output, tree);
        results.push((subject, compare(program, subject, &reference, &other)));
    }
    // Last: whatever ran, nothing beside the trees changed.
    if let Err(e) = outside_untouched(&work, &names, &outside_before) {
        for (_, r) in results.iter_mut() {
            *r = Err(r.as_ref().err().map_or(e.clone(), |prev| format!("{prev}\n{e}")));
        }
    }
    Ok(results)
}

/// Every difference between the reference's run and `other`'s, readably.
fn compare(program: &Program, subject: Subject, reference: &Observed, other: &Observed) -> Result<(), String> {
    let (r, o) = (&reference.output, &other.output);
    let mut problems = Vec::new();
    if r.status.code() != o.status.code() {
        problems.push(format!(
            "exit status: reference {:?}, {} {:?}",
            r.status.code(),
            subject.name(),
            o.status.code()
        ));
    }
    let (ref_out, other_out) = (text(&r.stdout), text(&o.stdout));
    let (ref_kept, other_kept, known) = apply_known(KNOWN_DIFFERENCES, program.name, &ref_out, &other_out);
    for line in known {
        println!(
            "wasi-corpus: {} {}: known difference: {line}",
            program.name,
            subject.name()
        );
    }
    if ref_kept != other_kept {
        problems.push(format!("stdout differs:\n{}", diff_lines(&ref_kept, &other_kept)));
    }
    if r.stderr != o.stderr {
        problems.push(format!(
            "stderr differs:\n{}",
            diff_lines(&text(&r.stderr), &text(&o.stderr))
        ));
    }
    if reference.tree != other.tree {
        problems.push(format!(
            "the trees differ afterwards:\n{}",
            diff_lines(&reference.tree.join("\n"), &other.tree.join("\n"))
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn run_reference(args: &[String]) -> Result<Output, String> {
    Command::new("kwasm-reference")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run kwasm-reference: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Removes `work`, makes it again with the outside file and one fixture
/// tree per entry of `trees`.
fn fresh(work: &Path, trees: &[&Path]) -> std::io::Result<()> {
    if work.exists() {
        std::fs::remove_dir_all(work)?;
    }
    std::fs::create_dir_all(work)?;
    std::fs::write(work.join("outside.txt"), OUTSIDE)?;
    std::fs::create_dir(work.join("outside-dir"))?;
    std::fs::write(work.join("outside-dir/secret"), b"secret\n")?;
    for tree in trees {
        fixture(tree)?;
    }
    Ok(())
}

/// The fixture every program starts from.
pub(crate) fn fixture(root: &Path) -> std::io::Result<()> {
    let p = |name: &str| root.join(name);
    std::fs::create_dir(root)?;
    std::fs::write(p("hello.txt"), b"hello, sandbox\n")?;
    std::fs::write(p("data.bin"), (0..=255u8).collect::<Vec<u8>>())?;
    std::fs::write(p("empty"), b"")?;
    std::fs::create_dir_all(p("sub/deeper"))?;
    std::fs::create_dir(p("emptydir"))?;
    std::fs::write(p("sub/nested.txt"), b"nested\n")?;
    std::fs::write(p("sub/deeper/leaf.txt"), b"leaf\n")?;
    symlink("hello.txt", p("link-file"))?;
    symlink("sub", p("link-dir"))?;
    symlink("missing.txt", p("link-dangling"))?;
    symlink("/etc/passwd", p("link-abs"))?;
    symlink("../outside.txt", p("link-up"))?;
    symlink("link-loop", p("link-loop"))?;
    Ok(())
}

/// The work directory holds what `fresh` put there, and the outside file
/// and directory (`outside_dir`: its listing before the runs) are as they
/// were.
fn outside_untouched(work: &Path, trees: &[&str], outside_dir: &[String]) -> Result<(), String> {
    let mut names: Vec<String> = std::fs::read_dir(work)
        .map_err(|e| format!("listing {}: {e}", work.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    let mut expected: Vec<String> = trees.iter().map(|t| t.to_string()).collect();
    expected.extend(["outside-dir".to_string(), "outside.txt".to_string()]);
    expected.sort();
    let mut problems = Vec::new();
    if names != expected {
        problems.push(format!("ESCAPE: the directory around the trees now holds {names:?}"));
    }
    match std::fs::read(work.join("outside.txt")) {
        Ok(data) if data == OUTSIDE => {}
        Ok(data) => problems.push(format!("ESCAPE: outside.txt now holds {:?}", text(&data))),
        Err(e) => problems.push(format!("ESCAPE: outside.txt: {e}")),
    }
    let now = listing(&work.join("outside-dir"));
    if now != outside_dir {
        problems.push(format!("ESCAPE: outside-dir held {outside_dir:?}, now {now:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// A canonical listing of a tree: one line per entry, sorted by path:
/// relative path (bytes escaped), type, permission bits, then for files
/// the size, link count and an FNV-1a hash of the content, for symlinks
/// the target; and the mtime when it is a fixed one the program set.
fn listing(root: &Path) -> Vec<String> {
    let mut out = BTreeMap::new();
    walk(root, Path::new(""), &mut out);
    out.into_values().collect()
}

fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<Vec<u8>, String>) {
    let dir = root.join(rel);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => {
            out.insert(
                rel.as_os_str().as_bytes().to_vec(),
                format!("{} unreadable: {e}", shown(rel)),
            );
            return;
        }
    };
    for entry in entries.flatten() {
        let path = rel.join(entry.file_name());
        let full = root.join(&path);
        let key = path.as_os_str().as_bytes().to_vec();
        let meta = match std::fs::symlink_metadata(&full) {
            Ok(m) => m,
            Err(e) => {
                out.insert(key, format!("{} lstat: {e}", shown(&path)));
                continue;
            }
        };
        let t = meta.file_type();
        let mode = meta.permissions().mode() & 0o7777;
        let mut line = format!("{} {:o}", shown(&path), mode);
        if t.is_symlink() {
            let target = std::fs::read_link(&full)
                .map(|t| shown(&t))
                .unwrap_or_else(|e| e.to_string());
            line = format!("{} symlink -> {target}", shown(&path));
        } else if t.is_dir() {
            line += " dir";
        } else if t.is_file() {
            let hash = std::fs::read(&full)
                .map(|d| format!("{:016x}", fnv(&d)))
                .unwrap_or_else(|e| e.to_string());
            line += &format!(" file {} bytes nlink {} {hash}", meta.len(), meta.nlink());
        } else {
            line += " other";
        }
        if !t.is_symlink() && meta.mtime() < FIXED_MTIME_BEFORE {
            line += &format!(" mtime {}.{:09}", meta.mtime(), meta.mtime_nsec());
        }
        out.insert(key, line);
        if t.is_dir() {
            walk(root, &path, out);
        }
    }
}

/// A path on one line: bytes that are not printable ASCII escaped.
fn shown(p: &Path) -> String {
    p.as_os_str().as_bytes().escape_ascii().to_string()
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Applies `known` differences to both stdouts; returns them and a note
/// per difference that applied (how many lines of each side it rewrote).
fn apply_known(known: &[Difference], program: &str, reference: &str, other: &str) -> (String, String, Vec<String>) {
    let mut notes = Vec::new();
    let (mut reference, mut other) = (reference.to_string(), other.to_string());
    for d in known.iter().filter(|d| d.programs.contains(&program)) {
        let placeholder = format!("<known: {}>", d.why);
        let rewrite = |text: &str, from: &str| -> (String, usize) {
            let mut count = 0;
            let out = text
                .split_inclusive('\n')
                .map(|line| {
                    let selected = d.lines.is_empty() || d.lines.iter().any(|p| line.starts_with(p));
                    if selected && line.contains(from) {
                        count += 1;
                        line.replace(from, &placeholder)
                    } else {
                        line.to_string()
                    }
                })
                .collect();
            (out, count)
        };
        let (r, rn) = rewrite(&reference, d.reference);
        let (o, on) = rewrite(&other, d.kwasm);
        if rn + on > 0 {
            notes.push(format!("{} ({rn} reference lines, {on} kwasm lines)", d.why));
        }
        (reference, other) = (r, o);
    }
    (reference, other, notes)
}

/// A line diff (longest common subsequence): `-` lines only the
/// reference printed, `+` lines only the other run printed, a few lines of
/// context, at most 40 lines shown.
fn diff_lines(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    // Common prefix and suffix first: keeps the table small.
    let pre = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[pre..a.len() - suf], &b[pre..b.len() - suf]);
    let mut out = Vec::new();
    if am.len() * bm.len() > 4_000_000 {
        out.push(format!(
            "  (large difference: {} lines against {}; first at line {})",
            am.len(),
            bm.len(),
            pre + 1
        ));
    } else {
        let mut lcs = vec![vec![0u32; bm.len() + 1]; am.len() + 1];
        for i in (0..am.len()).rev() {
            for j in (0..bm.len()).rev() {
                lcs[i][j] = if am[i] == bm[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        if pre > 0 {
            out.push(format!("  @ after line {pre}: {}", a[pre - 1]));
        }
        let (mut i, mut j) = (0, 0);
        while i < am.len() || j < bm.len() {
            if i < am.len() && j < bm.len() && am[i] == bm[j] {
                out.push(format!("    {}", am[i]));
                i += 1;
                j += 1;
            } else if i < am.len() && (j == bm.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
                out.push(format!("  - {}", am[i]));
                i += 1;
            } else {
                out.push(format!("  + {}", bm[j]));
                j += 1;
            }
        }
    }
    const MAX: usize = 40;
    if out.len() > MAX {
        let more = out.len() - MAX;
        out.truncate(MAX);
        out.push(format!("  ... {more} more lines"));
    }
    format!("  (- reference, + kwasm)\n{}", out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_removed_then_added_lines() {
        let d = diff_lines("a\nb\nc\nd\n", "a\nB\nc\nd\ne\n");
        assert_eq!(
            d,
            "  (- reference, + kwasm)\n  @ after line 1: a\n  - b\n  + B\n    c\n    d\n  + e"
        );
    }

    const SAMPLE: &[Difference] = &[
        Difference {
            programs: &["fs_escape"],
            lines: &[],
            reference: "Err(PermissionDenied, errno 63 perm)",
            kwasm: "Err(Uncategorized, errno 76 notcapable)",
            why: "sample",
        },
        Difference {
            programs: &["fs_links"],
            lines: &["metadata link-up:"],
            reference: "Err(PermissionDenied, errno 63 perm)",
            kwasm: "Err(Uncategorized, errno 76 notcapable)",
            why: "sample",
        },
    ];

    #[test]
    fn known_differences_rewrite_only_their_lines() {
        let reference =
            "read ../x: Err(PermissionDenied, errno 63 perm)\nhard_link: Err(PermissionDenied, errno 63 perm)\n";
        // Every escape refusal: NOTCAPABLE in kwasm.
        let kwasm =
            "read ../x: Err(Uncategorized, errno 76 notcapable)\nhard_link: Err(Uncategorized, errno 76 notcapable)\n";
        let (r, k, notes) = apply_known(SAMPLE, "fs_escape", reference, kwasm);
        assert_eq!(r, k);
        assert_eq!(notes.len(), 1);
        // In fs_links only the listed lines are rewritten.
        let (r, k, _) = apply_known(
            SAMPLE,
            "fs_links",
            "metadata link-up: Err(PermissionDenied, errno 63 perm)\n",
            "metadata link-up: Err(Uncategorized, errno 76 notcapable)\n",
        );
        assert_eq!(r, k);
        let (r, k, _) = apply_known(
            SAMPLE,
            "fs_links",
            "hard_link a directory: Err(PermissionDenied, errno 63 perm)\n",
            "hard_link a directory: Err(Uncategorized, errno 76 notcapable)\n",
        );
        assert_ne!(r, k);
    }
}
