//! The program's file descriptors: what each number is, what it may do,
//! and how numbers are handed out (the way wasmtime-wasi does it, so a
//! program sees the same numbers under both).

use crate::errno::{self, Errno};
use crate::rights;
use alloc::vec::Vec;

/// What kind of thing an fd is; decides which calls apply to it (the
/// rest answer BADF, SPIPE or NOTSOCK as wasmtime-wasi does).
pub(crate) enum Kind {
    /// fd 0 (`input`), 1 or 2: streams, never seekable, no metadata.
    Stdio { input: bool },
    /// Anything opened through `path_open` that is not a directory.
    File,
    /// A directory: a preopen (with its guest name) or opened by path.
    Dir { preopen: Option<Vec<u8>>, resume: Resume },
    /// A socket handed to the program, or accepted by it.
    Socket,
}

/// Where `fd_readdir` left off, so a program reading a directory in
/// order costs one pass, not one pass per call: guest cookie (the index
/// of an entry) to the platform's position before that entry.
#[derive(Default, Clone, Copy)]
pub(crate) struct Resume {
    pub points: [Option<(u64, u64)>; 2],
}

impl Resume {
    pub fn find(&self, cookie: u64) -> Option<u64> {
        self.points.iter().flatten().find(|p| p.0 == cookie).map(|p| p.1)
    }
}

pub(crate) struct Entry<F> {
    pub file: F,
    pub kind: Kind,
    /// The `filetype` that `fd_fdstat_get` reports.
    pub filetype: u8,
    pub base: u64,
    pub inheriting: u64,
    /// Rights are enforced once the program narrowed this fd's rights
    /// with `fd_fdstat_set_rights`. Until then they are only reported, as
    /// in wasmtime-wasi, and the platform's own checks (open mode) decide.
    /// Narrowing a directory restricts what may be done through it, never
    /// what a file opened through it may do (path_open gives every new fd
    /// the rights of its open mode, as wasmtime-wasi does).
    pub narrowed: bool,
}

impl<F> Entry<F> {
    pub fn new(file: F, kind: Kind, filetype: u8, base: u64, inheriting: u64) -> Self {
        Entry { file, kind, filetype, base, inheriting, narrowed: false }
    }

    /// NOTCAPABLE unless this fd may do all of `needed`.
    pub fn require(&self, needed: u64) -> Result<(), Errno> {
        if self.narrowed && self.base & needed != needed {
            Err(errno::NOTCAPABLE)
        } else {
            Ok(())
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir { .. })
    }
}

/// The rights wasmtime-wasi reports for a file or directory it opened:
/// everything, less what the open mode and the file type rule out.
pub(crate) fn opened_rights(filetype: u8, read: bool, write: bool) -> u64 {
    let mut r = rights::ALL;
    if filetype == crate::filetype::DIRECTORY {
        r &= !(rights::FD_SEEK | rights::FD_FILESTAT_SET_SIZE | rights::PATH_FILESTAT_SET_SIZE | rights::FD_WRITE);
    }
    if !read {
        r &= !(rights::FD_READ | rights::FD_READDIR);
    }
    if !write {
        r &= !rights::FD_WRITE;
    }
    r
}

/// Slots indexed by fd number; a `None` slot is a free number.
pub(crate) struct FdTable<F> {
    slots: Vec<Option<Entry<F>>>,
    open: u32,
    limit: u32,
}

impl<F> FdTable<F> {
    pub fn new(limit: u32) -> Self {
        FdTable { slots: Vec::new(), open: 0, limit }
    }

    pub fn set_limit(&mut self, limit: u32) {
        self.limit = limit;
    }

    pub fn get(&self, fd: u32) -> Result<&Entry<F>, Errno> {
        self.slots.get(fd as usize).and_then(Option::as_ref).ok_or(errno::BADF)
    }

    pub fn get_mut(&mut self, fd: u32) -> Result<&mut Entry<F>, Errno> {
        self.slots.get_mut(fd as usize).and_then(Option::as_mut).ok_or(errno::BADF)
    }

    /// Puts `entry` at `fd` exactly (the standard streams, preopens),
    /// replacing what was there.
    pub fn insert_at(&mut self, fd: u32, entry: Entry<F>) -> Result<(), Errno> {
        let at = fd as usize;
        if at >= self.slots.len() {
            if fd >= self.limit {
                return Err(errno::MFILE);
            }
            let grow = at + 1 - self.slots.len();
            self.slots.try_reserve(grow).map_err(|_| errno::NOMEM)?;
            self.slots.resize_with(at + 1, || None);
        }
        let slot = self.slots.get_mut(at).ok_or(errno::BADF)?;
        if slot.is_none() {
            self.open += 1;
        }
        *slot = Some(entry);
        Ok(())
    }

    /// The number wasmtime-wasi would hand out next: the highest freed
    /// number if there is one, else one past the highest in use.
    pub fn next_fd(&self) -> u32 {
        match self.slots.iter().rposition(Option::is_none) {
            Some(free) => free as u32,
            None => self.slots.len() as u32,
        }
    }

    /// Adds `entry` under [`next_fd`](Self::next_fd). On error the entry
    /// (and so the platform's file) is dropped.
    pub fn push(&mut self, entry: Entry<F>) -> Result<u32, Errno> {
        if self.open >= self.limit {
            return Err(errno::MFILE);
        }
        let fd = self.next_fd();
        self.insert_at(fd, entry)?;
        Ok(fd)
    }

    pub fn remove(&mut self, fd: u32) -> Result<Entry<F>, Errno> {
        let entry = self.slots.get_mut(fd as usize).and_then(Option::take).ok_or(errno::BADF)?;
        self.open -= 1;
        Ok(entry)
    }

    /// `fd_renumber`: both must be open; `to` is closed and `from` moves
    /// there.
    pub fn renumber(&mut self, from: u32, to: u32) -> Result<(), Errno> {
        self.get(from)?;
        self.get(to)?;
        if from == to {
            return Ok(());
        }
        let entry = self.remove(from)?;
        let old = self.slots.get_mut(to as usize).and_then(|s| s.replace(entry));
        // The replaced entry closes only now, after the move: the table is
        // consistent whatever the platform does on close.
        drop(old);
        Ok(())
    }

    pub fn len(&self) -> u32 {
        self.open
    }
}
