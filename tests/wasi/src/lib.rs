//! What the corpus programs share: how they print results and errors, a
//! content hash, a deterministic byte stream, and a sorted directory walk.
//!
//! Every program prints one line per observation, `label: outcome`, where an
//! error is printed as its `io::ErrorKind` and WASI errno (e.g.
//! `Err(NotFound, errno 44 noent)`), so the kernel and the reference must
//! agree on the exact errno, not just on failing. Nothing printed depends on
//! the time, inode numbers or directory order.

use std::fmt::Debug;
use std::fs;
use std::io;
use std::path::Path;

/// The preopened directory every program works in (`--dir HOST::/sandbox`).
pub const ROOT: &str = "/sandbox";

/// The WASI preview 1 errno names, by number.
const ERRNO: [&str; 77] = [
    "success",
    "2big",
    "acces",
    "addrinuse",
    "addrnotavail",
    "afnosupport",
    "again",
    "already",
    "badf",
    "badmsg",
    "busy",
    "canceled",
    "child",
    "connaborted",
    "connrefused",
    "connreset",
    "deadlk",
    "destaddrreq",
    "dom",
    "dquot",
    "exist",
    "fault",
    "fbig",
    "hostunreach",
    "idrm",
    "ilseq",
    "inprogress",
    "intr",
    "inval",
    "io",
    "isconn",
    "isdir",
    "loop",
    "mfile",
    "mlink",
    "msgsize",
    "multihop",
    "nametoolong",
    "netdown",
    "netreset",
    "netunreach",
    "nfile",
    "nobufs",
    "nodev",
    "noent",
    "noexec",
    "nolck",
    "nolink",
    "nomem",
    "nomsg",
    "noprotoopt",
    "nospc",
    "nosys",
    "notconn",
    "notdir",
    "notempty",
    "notrecoverable",
    "notsock",
    "notsup",
    "notty",
    "nxio",
    "overflow",
    "ownerdead",
    "perm",
    "pipe",
    "proto",
    "protonosupport",
    "prototype",
    "range",
    "rofs",
    "spipe",
    "srch",
    "stale",
    "timedout",
    "txtbsy",
    "xdev",
    "notcapable",
];

/// The WASI errno name of `n` (`?` if unknown): for programs that call
/// preview 1 directly and print its errno.
pub fn errno_name(n: u16) -> &'static str {
    ERRNO.get(usize::from(n)).copied().unwrap_or("?")
}

/// An error as the programs print it: kind and WASI errno.
pub fn err(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let name = usize::try_from(n).ok().and_then(|i| ERRNO.get(i)).unwrap_or(&"?");
            format!("Err({:?}, errno {n} {name})", e.kind())
        }
        None => format!("Err({:?}, no errno)", e.kind()),
    }
}

/// Prints `label: ok VALUE` or `label: Err(...)`; returns the value.
pub fn show<T: Debug>(label: &str, r: io::Result<T>) -> Option<T> {
    match r {
        Ok(v) => {
            println!("{label}: ok {v:?}");
            Some(v)
        }
        Err(e) => {
            println!("{label}: {}", err(&e));
            None
        }
    }
}

/// Prints `label: ok` or `label: Err(...)`; returns whether it succeeded.
pub fn done(label: &str, r: io::Result<()>) -> bool {
    match r {
        Ok(()) => {
            println!("{label}: ok");
            true
        }
        Err(e) => {
            println!("{label}: {}", err(&e));
            false
        }
    }
}

/// Prints `label: ok opened` or `label: Err(...)` (no fd numbers: they
/// are the engine's business); returns the file.
pub fn opened(label: &str, r: io::Result<fs::File>) -> Option<fs::File> {
    show(label, r.map(Opened)).map(|o| o.0)
}

/// A file whose Debug form does not show its fd.
pub struct Opened(pub fs::File);

impl Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("opened")
    }
}

extern "C" {
    // wasi-libc's, linked into every wasm32-wasip1 program: std's own
    // wrapper (std::os::wasi::fs::symlink_path) is still unstable.
    #[link_name = "symlink"]
    fn libc_symlink(target: *const std::ffi::c_char, link: *const std::ffi::c_char) -> std::ffi::c_int;
}

/// Creates a symlink `link` -> `target` (`symlink(2)` through wasi-libc:
/// `path_symlink` relative to the preopen that holds `link`).
pub fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    use std::os::wasi::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
    };
    let (target, link) = (c(target.as_ref())?, c(link.as_ref())?);
    // SAFETY: two NUL-terminated strings that outlive the call.
    if unsafe { libc_symlink(target.as_ptr(), link.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// FNV-1a, 64 bits: content hashes that are cheap on Pulley too.
pub fn hash(data: &[u8]) -> u64 {
    let mut h = Fnv::default();
    h.update(data);
    h.0
}

/// Incremental FNV-1a.
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// A deterministic byte stream (64-bit LCG, 8 bytes per step).
pub struct Bytes {
    state: u64,
}

impl Bytes {
    pub fn new(seed: u64) -> Bytes {
        Bytes { state: seed }
    }

    /// Fills `buf` with the next bytes of the stream.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.state = self
                .state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
    }
}

/// One line per entry under `dir`, depth first, sorted by name: the path
/// relative to `dir`, the type the directory entry reports (and the one
/// `symlink_metadata` reports if it differs), and the size and content
/// hash of files or the target of symlinks. Errors are listed in place.
pub fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk_into(dir, Path::new(""), &mut out);
    out
}

fn kind(t: fs::FileType) -> &'static str {
    if t.is_symlink() {
        "symlink"
    } else if t.is_dir() {
        "dir"
    } else if t.is_file() {
        "file"
    } else {
        "other"
    }
}

/// A path as one line: control characters escaped, invalid UTF-8 replaced.
fn shown(p: &Path) -> String {
    p.to_string_lossy().escape_debug().to_string()
}

fn walk_into(root: &Path, rel: &Path, out: &mut Vec<String>) {
    let dir = root.join(rel);
    let entries = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) => {
            out.push(format!("{}/ read_dir {}", shown(rel), err(&e)));
            return;
        }
    };
    let mut list = Vec::new();
    for entry in entries {
        match entry {
            Ok(e) => list.push((e.file_name(), e.file_type().map(kind))),
            Err(e) => out.push(format!("{}/ entry {}", shown(rel), err(&e))),
        }
    }
    list.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, entry_type) in list {
        let path = rel.join(&name);
        let full = root.join(&path);
        let entry_type = match entry_type {
            Ok(t) => t,
            Err(e) => {
                out.push(format!("{} file_type {}", shown(&path), err(&e)));
                continue;
            }
        };
        let meta = fs::symlink_metadata(&full);
        let mut line = format!("{} {entry_type}", shown(&path));
        match &meta {
            Ok(m) if kind(m.file_type()) != entry_type => line += &format!(" (lstat: {})", kind(m.file_type())),
            Ok(_) => {}
            Err(e) => line += &format!(" lstat {}", err(e)),
        }
        match entry_type {
            "file" => match fs::read(&full) {
                Ok(data) => line += &format!(" {} bytes {:016x}", data.len(), hash(&data)),
                Err(e) => line += &format!(" read {}", err(&e)),
            },
            "symlink" => match fs::read_link(&full) {
                Ok(target) => line += &format!(" -> {}", shown(&target)),
                Err(e) => line += &format!(" read_link {}", err(&e)),
            },
            _ => {}
        }
        out.push(line);
        if entry_type == "dir" {
            walk_into(root, &path, out);
        }
    }
}

/// Prints `walk(dir)` under a heading.
pub fn print_tree(heading: &str, dir: &Path) {
    println!("{heading}:");
    for line in walk(dir) {
        println!("  {line}");
    }
}
