//! Paths beneath a directory and directories: what WASI's `path_*` and
//! `fd_readdir` need, done through the VFS as the
//! calling process (its credentials decide every access).
//!
//! Confinement is the kernel's own: every path is resolved with
//! `LOOKUP_BENEATH` (the mechanism behind `openat2(RESOLVE_BENEATH)`)
//! starting at the directory the program named, so `..`, absolute
//! symlinks and renames racing the walk cannot lead outside it; such a
//! walk ends in [`FsError::Escapes`]. Opening is additionally rooted at
//! that directory (`file_open_root`, chroot-like), so even a tree changed
//! between the check and the open cannot reach outside.

use super::ffi::{self, int_result, RawPath};
use super::file::FileRef;
use alloc::vec::Vec;
use core::ffi::{c_char, c_void};

const ENOENT: i32 = 2;
const EEXIST: i32 = 17;
const EXDEV: i32 = 18;
const ENOTDIR: i32 = 20;
const EISDIR: i32 = 21;
const EINVAL: i32 = 22;
const EPERM: i32 = 1;
const ENOTEMPTY: i32 = 39;
const EBUSY: i32 = 16;
const ENOMEM: i32 = 12;
const ENAMETOOLONG: i32 = 36;
/// Longest path the kernel takes (PATH_MAX).
const PATH_MAX: usize = 4096;

/// Why a path operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsError {
    /// A Linux errno (positive).
    Errno(i32),
    /// The path leads outside the directory it was resolved in.
    Escapes,
}

impl From<i32> for FsError {
    fn from(e: i32) -> FsError {
        FsError::Errno(e)
    }
}

type Result<T> = core::result::Result<T, FsError>;

/// A resolved path: a reference on its mount and dentry.
pub struct PathRef(RawPath);

impl Drop for PathRef {
    fn drop(&mut self) {
        // SAFETY: drops the references the lookup took.
        unsafe { ffi::path_put(&self.0) }
    }
}

/// `path` with a NUL, for the kernel.
fn c_string(path: &[u8]) -> Result<Vec<u8>> {
    if path.len() >= PATH_MAX {
        return Err(ENAMETOOLONG.into());
    }
    if path.contains(&0) {
        return Err(EINVAL.into());
    }
    let mut s = Vec::new();
    s.try_reserve_exact(path.len() + 1).map_err(|_| ENOMEM)?;
    s.extend_from_slice(path);
    s.push(0);
    Ok(s)
}

/// Resolves `path` beneath `dir`. `follow`: follow a symlink in the last
/// component; `directory`: it must be a directory.
pub fn lookup(dir: &FileRef, path: &[u8], follow: bool, directory: bool) -> Result<PathRef> {
    let name = c_string(path)?;
    let mut out = RawPath {
        mnt: core::ptr::null_mut(),
        dentry: core::ptr::null_mut(),
    };
    // SAFETY: `dir` is held (so is its path); `name` is NUL-terminated;
    // on success `out` holds references that PathRef puts.
    let ret = unsafe { ffi::kwasm_lookup_beneath(dir.path(), name.as_ptr().cast(), follow, directory, &mut out) };
    match ret {
        0 => Ok(PathRef(out)),
        e if -e == EXDEV => Err(FsError::Escapes),
        e => Err(FsError::Errno(-e)),
    }
}

/// `path` split into its parent (resolved beneath `dir`, a directory) and
/// its last component. A trailing `/` is reported: the last component must
/// then be a directory.
struct Parent {
    dir: PathRef,
    name: Vec<u8>,
    trailing_slash: bool,
}

fn parent(dir: &FileRef, path: &[u8]) -> Result<Parent> {
    let trimmed_len = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
    if trimmed_len == 0 {
        // "" or "/": no last component to work on.
        return Err(if path.is_empty() { ENOENT } else { EPERM }.into());
    }
    let trimmed = &path[..trimmed_len];
    let (parent_path, name): (&[u8], &[u8]) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
        None => (b".", trimmed),
    };
    let dir = lookup(dir, parent_path, true, true)?;
    Ok(Parent {
        dir,
        name: name.to_vec(),
        trailing_slash: trimmed_len < path.len(),
    })
}

impl Parent {
    fn is_dot_or_dotdot(&self) -> bool {
        self.name == b"." || self.name == b".."
    }

    /// Runs `f` on the dentry of the last component (negative if absent),
    /// with the parent locked and its mount held for writing, as the
    /// `*at(2)` system calls do.
    fn with_child<R>(&self, f: impl FnOnce(*mut c_void) -> Result<R>) -> Result<R> {
        let p = &self.dir.0;
        // SAFETY: `p` is a held path; every exit below undoes what was
        // taken, in reverse order.
        unsafe {
            int_result(ffi::mnt_want_write(p.mnt))?;
            let r = match ffi::err_ptr(ffi::kwasm_child_begin(
                p,
                self.name.as_ptr().cast(),
                self.name.len() as i32,
            )) {
                Ok(child) => {
                    let r = f(child);
                    ffi::kwasm_child_end(p, child);
                    r
                }
                Err(e) => Err(e.into()),
            };
            ffi::mnt_drop_write(p.mnt);
            r
        }
    }
}

fn positive(d: *mut c_void) -> bool {
    // SAFETY: `d` is a dentry we hold a reference on.
    unsafe { ffi::kwasm_dentry_positive(d) }
}

fn is_dir(d: *mut c_void) -> bool {
    // SAFETY: as positive().
    unsafe { ffi::kwasm_dentry_is_dir(d) }
}

/// How to open (`open(2)` flags, decoded).
#[derive(Debug, Clone, Copy, Default)]
pub struct Open {
    pub read: bool,
    pub write: bool,
    pub create: bool,
    pub exclusive: bool,
    pub truncate: bool,
    pub directory: bool,
    pub follow: bool,
    pub append: bool,
    pub nonblock: bool,
    pub sync: bool,
    pub dsync: bool,
}

// x86-64 `O_*` values.
const O_WRONLY: i32 = 0o1;
const O_RDWR: i32 = 0o2;
const O_CREAT: i32 = 0o100;
const O_EXCL: i32 = 0o200;
const O_NOCTTY: i32 = 0o400;
const O_TRUNC: i32 = 0o1000;
const O_APPEND: i32 = 0o2000;
const O_NONBLOCK: i32 = 0o4000;
const O_DSYNC: i32 = 0o10000;
const O_LARGEFILE: i32 = 0o100000;
const O_DIRECTORY: i32 = 0o200000;
const O_NOFOLLOW: i32 = 0o400000;
const O_SYNC: i32 = 0o4010000;

impl Open {
    fn flags(&self) -> i32 {
        let access = match (self.read, self.write) {
            (_, false) => 0,
            (false, true) => O_WRONLY,
            (true, true) => O_RDWR,
        };
        let bits = [
            (self.create, O_CREAT),
            (self.exclusive, O_EXCL),
            (self.truncate, O_TRUNC),
            (self.directory, O_DIRECTORY),
            (!self.follow, O_NOFOLLOW),
            (self.append, O_APPEND),
            (self.nonblock, O_NONBLOCK),
            (self.sync, O_SYNC),
            (self.dsync, O_DSYNC),
        ];
        bits.iter()
            .filter(|(on, _)| *on)
            .fold(access | O_LARGEFILE | O_NOCTTY, |f, (_, bit)| f | bit)
    }
}

/// `openat2(dir, path, how, RESOLVE_BENEATH)`.
pub fn open_at(dir: &FileRef, path: &[u8], how: Open) -> Result<FileRef> {
    // The kernel's answer on escapes first, symlinks included.
    if how.create {
        parent(dir, path)?;
        match lookup(dir, path, how.follow && !how.exclusive, false) {
            Ok(_) | Err(FsError::Errno(ENOENT)) => {}
            Err(e) => return Err(e),
        }
    } else {
        lookup(dir, path, how.follow, how.directory)?;
    }
    let name = c_string(path)?;
    // SAFETY: `dir` is held; `name` is NUL-terminated; the result is a new
    // file reference (or ERR_PTR) that FileRef owns.
    let file = unsafe { ffi::file_open_root(dir.path(), name.as_ptr().cast(), how.flags(), 0o666) };
    Ok(FileRef::from_raw(file)?)
}

/// `fstatat(2)`.
pub fn stat_at(dir: &FileRef, path: &[u8], follow: bool) -> Result<ffi::Stat> {
    let p = lookup(dir, path, follow, false)?;
    let mut st = ffi::Stat::default();
    // SAFETY: `p` is held; `st` is writable.
    int_result(unsafe { ffi::kwasm_path_stat(&p.0, &mut st) })?;
    Ok(st)
}

/// `utimensat(2)`; times as it takes them (ns, UTIME_NOW, UTIME_OMIT).
pub fn set_times_at(dir: &FileRef, path: &[u8], follow: bool, atime_ns: i64, mtime_ns: i64) -> Result<()> {
    let p = lookup(dir, path, follow, false)?;
    // SAFETY: `p` is held; process context.
    Ok(int_result(unsafe { ffi::kwasm_set_times(&p.0, atime_ns, mtime_ns) })?)
}

/// `mkdirat(2)`, mode 0777 less the umask.
pub fn mkdir_at(dir: &FileRef, path: &[u8]) -> Result<()> {
    let parent = parent(dir, path)?;
    if parent.is_dot_or_dotdot() {
        lookup(dir, path, false, false)?;
        return Err(EEXIST.into());
    }
    parent.with_child(|d| {
        if positive(d) {
            return Err(EEXIST.into());
        }
        // SAFETY: the parent is locked for writing; `d` is its negative child.
        Ok(int_result(unsafe { ffi::kwasm_mkdir(&parent.dir.0, d) })?)
    })
}

/// `unlinkat(2, AT_REMOVEDIR)`.
pub fn rmdir_at(dir: &FileRef, path: &[u8]) -> Result<()> {
    let parent = parent(dir, path)?;
    if parent.is_dot_or_dotdot() {
        lookup(dir, path, false, false)?;
        return Err(if parent.name == b"." { EINVAL } else { ENOTEMPTY }.into());
    }
    parent.with_child(|d| {
        if !positive(d) {
            return Err(ENOENT.into());
        }
        if !is_dir(d) {
            return Err(ENOTDIR.into());
        }
        // SAFETY: the parent is locked for writing; `d` is its child.
        Ok(int_result(unsafe { ffi::kwasm_rmdir(&parent.dir.0, d) })?)
    })
}

/// `unlinkat(2)` of a non-directory.
pub fn unlink_at(dir: &FileRef, path: &[u8]) -> Result<()> {
    let parent = parent(dir, path)?;
    if parent.is_dot_or_dotdot() {
        lookup(dir, path, false, false)?;
        return Err(EISDIR.into());
    }
    parent.with_child(|d| {
        if !positive(d) {
            return Err(ENOENT.into());
        }
        if is_dir(d) {
            return Err(EISDIR.into());
        }
        if parent.trailing_slash {
            return Err(ENOTDIR.into());
        }
        // SAFETY: the parent is locked for writing; `d` is its child.
        Ok(int_result(unsafe { ffi::kwasm_unlink(&parent.dir.0, d) })?)
    })
}

/// `symlinkat(target, dir, path)`.
pub fn symlink_at(target: &[u8], dir: &FileRef, path: &[u8]) -> Result<()> {
    if target.is_empty() {
        // symlink(2) refuses an empty target before vfs_symlink sees it.
        return Err(ENOENT.into());
    }
    let target = c_string(target)?;
    let parent = parent(dir, path)?;
    if parent.is_dot_or_dotdot() || parent.trailing_slash {
        lookup(dir, path, false, false)?;
        return Err(EEXIST.into());
    }
    parent.with_child(|d| {
        if positive(d) {
            return Err(EEXIST.into());
        }
        // SAFETY: the parent is locked for writing; `d` is its negative
        // child; `target` is NUL-terminated.
        Ok(int_result(unsafe {
            ffi::kwasm_symlink(&parent.dir.0, d, target.as_ptr().cast())
        })?)
    })
}

/// `readlinkat(2)`: the link's length (may exceed `buf`, which holds the start).
pub fn readlink_at(dir: &FileRef, path: &[u8], buf: &mut [u8]) -> Result<usize> {
    let p = lookup(dir, path, false, false)?;
    // SAFETY: `p` is held.
    if !unsafe { ffi::kwasm_dentry_is_symlink(p.0.dentry) } {
        return Err(EINVAL.into());
    }
    let len = i32::try_from(buf.len()).unwrap_or(i32::MAX);
    // SAFETY: `p` is a held symlink; `buf` is writable for `len` bytes.
    let n = unsafe { ffi::kwasm_readlink(&p.0, buf.as_mut_ptr().cast::<c_char>(), len) };
    int_result(n)?;
    Ok(n as usize)
}

/// `linkat(2)`; `follow`: AT_SYMLINK_FOLLOW.
pub fn link_at(old_dir: &FileRef, old: &[u8], follow: bool, new_dir: &FileRef, new: &[u8]) -> Result<()> {
    let old = lookup(old_dir, old, follow, false)?;
    let parent = parent(new_dir, new)?;
    if parent.is_dot_or_dotdot() {
        lookup(new_dir, new, false, false)?;
        return Err(EEXIST.into());
    }
    // SAFETY: both paths are held.
    if !unsafe { ffi::kwasm_same_mount(&old.0, &parent.dir.0) } {
        return Err(EXDEV.into());
    }
    if is_dir(old.0.dentry) {
        return Err(EPERM.into());
    }
    parent.with_child(|d| {
        if positive(d) {
            return Err(EEXIST.into());
        }
        // SAFETY: the new parent is locked for writing; `d` is its
        // negative child; the old dentry is held.
        Ok(int_result(unsafe { ffi::kwasm_link(old.0.dentry, &parent.dir.0, d) })?)
    })
}

/// `renameat(2)`.
pub fn rename_at(old_dir: &FileRef, old: &[u8], new_dir: &FileRef, new: &[u8]) -> Result<()> {
    let from = parent(old_dir, old)?;
    let to = parent(new_dir, new)?;
    if from.is_dot_or_dotdot() || to.is_dot_or_dotdot() {
        // renameat(2) will not move a directory by its "." or "..".
        return Err(EBUSY.into());
    }
    let (a, b) = (&from.dir.0, &to.dir.0);
    // SAFETY: both parents are held; what is taken is given back below
    // in reverse order on every path.
    unsafe {
        if !ffi::kwasm_same_mount(a, b) {
            return Err(EXDEV.into());
        }
        int_result(ffi::mnt_want_write(a.mnt))?;
        let mut state = ffi::RenameState::new();
        let begun = int_result(ffi::kwasm_rename_begin(
            &mut state,
            a,
            from.name.as_ptr().cast(),
            from.name.len() as i32,
            b,
            to.name.as_ptr().cast(),
            to.name.len() as i32,
        ));
        let r = match begun {
            Err(e) => Err(e.into()),
            Ok(_) => {
                let r = rename_locked(&from, &to, &mut state);
                ffi::kwasm_rename_end(&mut state);
                r
            }
        };
        ffi::mnt_drop_write(a.mnt);
        r
    }
}

/// The locked part of `renameat(2)`, as `do_renameat2` checks it.
///
/// # Safety
/// `state` was begun by `kwasm_rename_begin`: both parents locked, both
/// children held.
unsafe fn rename_locked(from: &Parent, to: &Parent, state: &mut ffi::RenameState) -> Result<()> {
    let (old, new, trap) = (state.old, state.new, state.trap);
    if !positive(old) {
        return Err(ENOENT.into());
    }
    if old == trap {
        return Err(EINVAL.into());
    }
    if !is_dir(old) && (from.trailing_slash || to.trailing_slash) {
        return Err(ENOTDIR.into());
    }
    if new == trap {
        return Err(ENOTEMPTY.into());
    }
    // SAFETY: both parents locked, both children held (caller).
    Ok(int_result(unsafe { ffi::kwasm_rename(state) })?)
}

/// One entry of a directory.
pub struct DirEntry<'a> {
    pub name: &'a [u8],
    pub ino: u64,
    /// Linux `DT_*` type.
    pub kind: u8,
    /// Position after this entry (where reading on continues).
    pub next: u64,
}

/// An entry seen by the kernel's walk, held until the next entry (whose
/// position is this one's `next`) arrives.
struct Reader<'f> {
    each: &'f mut dyn FnMut(DirEntry<'_>) -> bool,
    pending: Option<(Vec<u8>, u64, u8)>,
    stopped: bool,
    failed: Option<i32>,
}

impl Reader<'_> {
    /// Hands the pending entry on, now that its successor's position is known.
    fn flush(&mut self, next: u64) -> bool {
        if let Some((name, ino, kind)) = self.pending.take() {
            if !(self.each)(DirEntry {
                name: &name,
                ino,
                kind,
                next,
            }) {
                self.stopped = true;
                return false;
            }
        }
        true
    }
}

/// Called by the glue's `iterate_dir` actor for each entry.
#[no_mangle]
extern "C" fn kwasm_rust_dirent(data: *mut c_void, name: *const u8, len: i32, pos: i64, ino: u64, kind: u32) -> bool {
    // SAFETY: `data` is the Reader that read_dir passed down for this
    // iterate_dir call, alive and not otherwise borrowed during it.
    let r = unsafe { &mut *data.cast::<Reader<'_>>() };
    if !r.flush(pos as u64) {
        return false;
    }
    // SAFETY: the kernel passes `len` valid bytes of name for this call.
    let name = unsafe { core::slice::from_raw_parts(name, len.max(0) as usize) };
    let mut copy = Vec::new();
    if copy.try_reserve_exact(name.len()).is_err() {
        r.failed = Some(ENOMEM);
        return false;
    }
    copy.extend_from_slice(name);
    r.pending = Some((copy, ino, kind as u8));
    true
}

/// Reads `dir` from position `from` (0: the start), one `each` per entry
/// until it returns false or the directory ends.
pub fn read_dir(dir: &FileRef, from: u64, each: &mut dyn FnMut(DirEntry<'_>) -> bool) -> Result<()> {
    let from = i64::try_from(from).map_err(|_| EINVAL)?;
    dir.seek(from, 0)?;
    let mut reader = Reader {
        each,
        pending: None,
        stopped: false,
        failed: None,
    };
    // SAFETY: `dir` is held; `reader` outlives the call and is only used
    // through `data` by kwasm_rust_dirent during it.
    int_result(unsafe { ffi::kwasm_read_dir(dir.raw(), (&mut reader as *mut Reader<'_>).cast()) })?;
    if let Some(e) = reader.failed {
        return Err(e.into());
    }
    if !reader.stopped {
        // The last entry: it ends where the walk stopped.
        let end = dir.seek(0, 1)?;
        reader.flush(end);
    }
    Ok(())
}
