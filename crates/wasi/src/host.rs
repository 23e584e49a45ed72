//! The seam between preview1's rules (this crate) and the platform that
//! does the work (the kernel module; a std-backed fake in the tests).
//!
//! Every method is what the program's own process would have done with one
//! system call, on a file it holds open: the platform checks nothing about
//! wasm memory, rights or the fd table (this crate does), and this crate
//! never touches a file except through these methods.
//!
//! Paths handed to `*_at` methods are already checked by this crate:
//! relative, non-empty, no NUL byte. The platform must still resolve them
//! *beneath* `dir` (no `..`, absolute symlink or race leads out of it) and
//! answer an escape with [`errno::ESCAPE`](crate::errno::ESCAPE).

use crate::errno::Errno;

/// Where `seek` counts from (`whence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whence {
    Set,
    Cur,
    End,
}

/// A time to set on a file (`fstflags`): left alone, now, or a time in
/// nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetTime {
    Omit,
    Now,
    At(u64),
}

/// `filestat`, as the platform knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStat {
    pub dev: u64,
    pub ino: u64,
    /// A [`filetype`](crate::filetype) value.
    pub filetype: u8,
    pub nlink: u64,
    pub size: u64,
    /// Access, modification and status-change times, ns since the epoch.
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

/// How to open a file beneath a directory (`path_open`'s flags, decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenOptions {
    pub read: bool,
    pub write: bool,
    pub create: bool,
    pub exclusive: bool,
    pub truncate: bool,
    /// Fail unless it is a directory (`oflags::DIRECTORY`).
    pub directory: bool,
    /// Follow a symlink in the last component (`lookupflags::SYMLINK_FOLLOW`).
    pub follow: bool,
    pub append: bool,
    pub nonblock: bool,
    pub sync: bool,
    pub dsync: bool,
}

/// One directory entry, as the platform reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirEntry<'a> {
    pub ino: u64,
    /// A [`filetype`](crate::filetype) value.
    pub filetype: u8,
    pub name: &'a [u8],
}

/// What a file is ready for, from [`Host::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Readiness {
    pub read: bool,
    pub write: bool,
    /// The peer hung up (`event_rwflags::FD_READWRITE_HANGUP`).
    pub hangup: bool,
}

/// The platform underneath.
pub trait Host {
    /// An open file, directory or socket of the program (the kernel: a
    /// reference on a `struct file`). Dropping it closes it.
    type File;

    // ---- Data ----------------------------------------------------------
    /// `read(2)` at the file position.
    fn read(&mut self, f: &Self::File, buf: &mut [u8]) -> Result<usize, Errno>;
    /// `write(2)` at the file position (or the end, with O_APPEND).
    fn write(&mut self, f: &Self::File, data: &[u8]) -> Result<usize, Errno>;
    /// `pread(2)`.
    fn pread(&mut self, f: &Self::File, buf: &mut [u8], offset: u64) -> Result<usize, Errno>;
    /// `pwrite(2)`.
    fn pwrite(&mut self, f: &Self::File, data: &[u8], offset: u64) -> Result<usize, Errno>;
    /// `lseek(2)`; the new position.
    fn seek(&mut self, f: &Self::File, offset: i64, whence: Whence) -> Result<u64, Errno>;
    /// `fsync(2)`, or `fdatasync(2)` when `data_only`.
    fn sync(&mut self, f: &Self::File, data_only: bool) -> Result<(), Errno>;
    /// `posix_fadvise(2)`; `advice` is preview1's `advice` value.
    fn advise(&mut self, f: &Self::File, offset: u64, len: u64, advice: u8) -> Result<(), Errno>;
    /// `posix_fallocate(2)`.
    fn allocate(&mut self, f: &Self::File, offset: u64, len: u64) -> Result<(), Errno>;

    // ---- Metadata of open files ----------------------------------------
    /// `fstat(2)`.
    fn stat(&mut self, f: &Self::File) -> Result<FileStat, Errno>;
    /// `ftruncate(2)`.
    fn set_size(&mut self, f: &Self::File, size: u64) -> Result<(), Errno>;
    /// `futimens(2)`.
    fn set_times(&mut self, f: &Self::File, atim: SetTime, mtim: SetTime) -> Result<(), Errno>;
    /// The file's [`fdflags`](crate::fdflags) (from its open flags).
    fn fdflags(&mut self, f: &Self::File) -> Result<u16, Errno>;
    /// `fcntl(F_SETFL)`: sets APPEND and NONBLOCK as given (the others are
    /// the caller's to refuse).
    fn set_fdflags(&mut self, f: &Self::File, flags: u16) -> Result<(), Errno>;

    // ---- Directories ---------------------------------------------------
    /// Reads the directory's entries from position `cookie` (0: the
    /// start, `.` and `..` included), calling `each(entry, next_cookie)`
    /// until it returns false or the directory ends. Cookies are the
    /// platform's directory positions; they stay valid across calls.
    fn readdir(
        &mut self,
        dir: &Self::File,
        cookie: u64,
        each: &mut dyn FnMut(DirEntry<'_>, u64) -> bool,
    ) -> Result<(), Errno>;

    // ---- Paths beneath a directory ---------------------------------------
    /// `openat2(dir, path, ..., RESOLVE_BENEATH)`.
    fn open_at(&mut self, dir: &Self::File, path: &[u8], how: OpenOptions) -> Result<Self::File, Errno>;
    /// `fstatat(2)`; `follow`: follow a symlink in the last component.
    fn stat_at(&mut self, dir: &Self::File, path: &[u8], follow: bool) -> Result<FileStat, Errno>;
    /// `utimensat(2)`.
    fn set_times_at(
        &mut self,
        dir: &Self::File,
        path: &[u8],
        follow: bool,
        atim: SetTime,
        mtim: SetTime,
    ) -> Result<(), Errno>;
    /// `mkdirat(2)` with mode 0777 (less the process's umask).
    fn mkdir_at(&mut self, dir: &Self::File, path: &[u8]) -> Result<(), Errno>;
    /// `unlinkat(2)` of a non-directory.
    fn unlink_at(&mut self, dir: &Self::File, path: &[u8]) -> Result<(), Errno>;
    /// `unlinkat(2, AT_REMOVEDIR)`.
    fn rmdir_at(&mut self, dir: &Self::File, path: &[u8]) -> Result<(), Errno>;
    /// `symlinkat(target, dir, path)`; `target` is stored as given.
    fn symlink_at(&mut self, target: &[u8], dir: &Self::File, path: &[u8]) -> Result<(), Errno>;
    /// `readlinkat(2)` into `buf`; the length of the link (which may be
    /// more than `buf` holds: the caller truncates).
    fn readlink_at(&mut self, dir: &Self::File, path: &[u8], buf: &mut [u8]) -> Result<usize, Errno>;
    /// `linkat(2)`; `follow`: AT_SYMLINK_FOLLOW on the old path.
    fn link_at(
        &mut self,
        old_dir: &Self::File,
        old: &[u8],
        follow: bool,
        new_dir: &Self::File,
        new: &[u8],
    ) -> Result<(), Errno>;
    /// `renameat(2)`.
    fn rename_at(&mut self, old_dir: &Self::File, old: &[u8], new_dir: &Self::File, new: &[u8]) -> Result<(), Errno>;

    // ---- Waiting ---------------------------------------------------------
    /// Waits until one of `files` is ready for what was asked (`want`,
    /// same index) or until monotonic time `deadline_ns` (None: no
    /// deadline), filling `ready`. Returns early, with what is ready, on a
    /// deadline or as soon as anything is ready; a pending signal is
    /// `Err(INTR)`. With no files it sleeps until the deadline.
    fn poll(
        &mut self,
        files: &[&Self::File],
        want: &[Readiness],
        deadline_ns: Option<u64>,
        ready: &mut [Readiness],
    ) -> Result<(), Errno>;
    /// Bytes that a read of `f` would return without waiting, as far as
    /// the platform knows (a file: size less position; a pipe or socket:
    /// what is queued); 0 if unknown.
    fn readable_bytes(&mut self, f: &Self::File) -> u64;

    // ---- Sockets (on fds the program was handed) ------------------------
    /// `accept4(2)`, with SOCK_NONBLOCK when `nonblock`.
    fn sock_accept(&mut self, f: &Self::File, nonblock: bool) -> Result<Self::File, Errno>;
    /// `recvmsg(2)` into one buffer; `peek`/`waitall`: MSG_PEEK/MSG_WAITALL.
    fn sock_recv(&mut self, f: &Self::File, buf: &mut [u8], peek: bool, waitall: bool) -> Result<usize, Errno>;
    /// `sendmsg(2)` of one buffer.
    fn sock_send(&mut self, f: &Self::File, data: &[u8]) -> Result<usize, Errno>;
    /// `shutdown(2)`: `read`/`write` as SHUT_RD/SHUT_WR/SHUT_RDWR.
    fn sock_shutdown(&mut self, f: &Self::File, read: bool, write: bool) -> Result<(), Errno>;

    // ---- Process -------------------------------------------------------
    /// Nanoseconds on clock `id` (preview1 clock ids).
    fn clock_time(&mut self, id: u32) -> Result<u64, Errno>;
    /// Resolution of clock `id`, in nanoseconds.
    fn clock_res(&mut self, id: u32) -> Result<u64, Errno>;
    /// Fills `buf` with cryptographically secure random bytes.
    fn random(&mut self, buf: &mut [u8]) -> Result<(), Errno>;
    fn sched_yield(&mut self) -> Result<(), Errno>;
    /// `raise(sig)` on the calling process (`sig` a preview1 signal number).
    fn raise(&mut self, sig: u8) -> Result<(), Errno>;
}
