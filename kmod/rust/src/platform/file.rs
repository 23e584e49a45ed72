//! Open files (the caller's own, and those a program opened), used through
//! the VFS exactly as the process's own system calls would: its
//! credentials, its file positions.

use super::ffi::{self, int_result};
pub use super::ffi::Stat;

/// A reference to an open file: one of the caller's (`get`), or one the
/// program opened or accepted (`from_raw`). Dropping it is `close(2)`.
pub struct FileRef {
    file: *mut ffi::File,
    /// The program's own file, whose last reference this usually is: put
    /// from a worker so that it is released at once (see
    /// `kwasm_file_put`), not when the run returns to user space. The
    /// caller's files stay open in the caller, so a plain `fput` does.
    owned: bool,
}

/// What kind of file, from its inode mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
    Symlink,
    Unknown,
}

impl FileKind {
    /// The kind an inode mode's `S_IFMT` bits name.
    pub fn from_mode(mode: u32) -> FileKind {
        match mode & 0o170000 {
            0o100000 => FileKind::Regular,
            0o040000 => FileKind::Directory,
            0o020000 => FileKind::CharDevice,
            0o060000 => FileKind::BlockDevice,
            0o010000 => FileKind::Fifo,
            0o140000 => FileKind::Socket,
            0o120000 => FileKind::Symlink,
            _ => FileKind::Unknown,
        }
    }
}

/// The calling process's `RLIMIT_NOFILE` (soft), capped at 1 Mi.
pub fn open_files_limit() -> u32 {
    // SAFETY: reads the current task's rlimit.
    unsafe { ffi::kwasm_nofile_limit() }.min(1 << 20) as u32
}

const EBADF: i32 = 9;
const EINVAL: i32 = 22;
/// `O_APPEND`, `O_NONBLOCK` (x86-64 values).
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;

impl FileRef {
    /// The file the caller has open as `fd`; Err(EBADF) if none.
    pub fn get(fd: u32) -> Result<FileRef, i32> {
        // SAFETY: fget takes a reference on the caller's file table entry
        // (or returns null); we are in the caller's process context.
        let f = unsafe { ffi::fget(fd) };
        if f.is_null() {
            Err(EBADF)
        } else {
            Ok(FileRef { file: f, owned: false })
        }
    }

    /// Takes over a file reference the kernel handed out (an open). Null
    /// or an `ERR_PTR` is the errno.
    pub(super) fn from_raw(file: *mut ffi::File) -> Result<FileRef, i32> {
        ffi::err_ptr(file).map(|file| FileRef { file, owned: true })
    }

    /// Another reference on the same open file (`get_file`), put the same
    /// way as this one when dropped.
    pub fn share(&self) -> FileRef {
        // SAFETY: we hold a reference, so the file is alive to take another.
        let file = unsafe { ffi::kwasm_file_get(self.file) };
        FileRef { file, owned: self.owned }
    }

    pub(super) fn raw(&self) -> *mut ffi::File {
        self.file
    }

    /// The file's `struct path` (valid while the file is held).
    pub(super) fn path(&self) -> *const ffi::RawPath {
        // SAFETY: we hold a reference on the file.
        unsafe { ffi::kwasm_file_path(self.file) }
    }

    /// `write(2)` from a kernel buffer at the file's position. Err(errno).
    pub fn write(&self, data: &[u8]) -> Result<usize, i32> {
        // SAFETY: we hold a reference on the file; `data` is a valid kernel
        // buffer of `data.len()` bytes for the call.
        let n = unsafe { ffi::kwasm_file_write(self.file, data.as_ptr().cast(), data.len()) };
        ffi::neg_errno(n).map_or(Ok(n as usize), Err)
    }

    /// `read(2)` into a kernel buffer at the file's position. Err(errno).
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, i32> {
        // SAFETY: as write(), with a writable buffer.
        let n = unsafe { ffi::kwasm_file_read(self.file, buf.as_mut_ptr().cast(), buf.len()) };
        ffi::neg_errno(n).map_or(Ok(n as usize), Err)
    }

    /// `pread(2)` into a kernel buffer. Err(errno).
    pub fn pread(&self, buf: &mut [u8], offset: u64) -> Result<usize, i32> {
        let pos = i64::try_from(offset).map_err(|_| EINVAL)?;
        // SAFETY: as read(); the position is our own copy.
        let n = unsafe { ffi::kwasm_file_pread(self.file, buf.as_mut_ptr().cast(), buf.len(), pos) };
        ffi::neg_errno(n).map_or(Ok(n as usize), Err)
    }

    /// `pwrite(2)` from a kernel buffer. Err(errno).
    pub fn pwrite(&self, data: &[u8], offset: u64) -> Result<usize, i32> {
        let pos = i64::try_from(offset).map_err(|_| EINVAL)?;
        // SAFETY: as write(); the position is our own copy.
        let n = unsafe { ffi::kwasm_file_pwrite(self.file, data.as_ptr().cast(), data.len(), pos) };
        ffi::neg_errno(n).map_or(Ok(n as usize), Err)
    }

    /// `lseek(2)`: `whence` 0 (SET), 1 (CUR), 2 (END). The new position.
    pub fn seek(&self, offset: i64, whence: i32) -> Result<u64, i32> {
        // SAFETY: we hold a reference on the file.
        let pos = unsafe { ffi::vfs_llseek(self.file, offset, whence) };
        if pos < 0 {
            Err(-pos as i32)
        } else {
            Ok(pos as u64)
        }
    }

    /// `fsync(2)`, or `fdatasync(2)`.
    pub fn sync(&self, data_only: bool) -> Result<(), i32> {
        // SAFETY: we hold a reference on the file; process context.
        int_result(unsafe { ffi::vfs_fsync_range(self.file, 0, i64::MAX, data_only as i32) })
    }

    /// `posix_fadvise(2)` with a Linux `POSIX_FADV_*` value.
    pub fn advise(&self, offset: i64, len: i64, advice: i32) -> Result<(), i32> {
        // SAFETY: as sync().
        int_result(unsafe { ffi::vfs_fadvise(self.file, offset, len, advice) })
    }

    /// `posix_fallocate(2)`.
    pub fn allocate(&self, offset: i64, len: i64) -> Result<(), i32> {
        // SAFETY: as sync().
        int_result(unsafe { ffi::vfs_fallocate(self.file, 0, offset, len) })
    }

    /// `fstat(2)`.
    pub fn stat(&self) -> Result<Stat, i32> {
        let mut st = Stat::default();
        // SAFETY: the path is the held file's; `st` is writable.
        int_result(unsafe { ffi::kwasm_path_stat(self.path(), &mut st) })?;
        Ok(st)
    }

    /// `ftruncate(2)`: the file must be open for writing (EINVAL, as there).
    pub fn set_size(&self, size: u64) -> Result<(), i32> {
        if !self.writable() {
            return Err(EINVAL);
        }
        let size = i64::try_from(size).map_err(|_| EINVAL)?;
        // SAFETY: the path is the held file's; process context.
        int_result(unsafe { ffi::vfs_truncate(self.path(), size) })
    }

    /// `futimens(2)`; times as utimensat takes them (ns, UTIME_NOW, UTIME_OMIT).
    pub fn set_times(&self, atime_ns: i64, mtime_ns: i64) -> Result<(), i32> {
        // SAFETY: as set_size().
        int_result(unsafe { ffi::kwasm_set_times(self.path(), atime_ns, mtime_ns) })
    }

    /// Sets the `mask` bits of the open flags to those of `flags` (F_SETFL).
    pub fn set_flags(&self, mask: u32, flags: u32) {
        // SAFETY: the glue takes the file's f_lock around the store.
        unsafe { ffi::kwasm_file_set_flags(self.file, mask, flags) }
    }

    /// The inode is append-only (`chattr +a`): O_APPEND cannot be cleared.
    pub fn append_only(&self) -> bool {
        // SAFETY: the file (and so its inode) is alive while we hold it.
        unsafe { ffi::kwasm_file_append_only(self.file) }
    }

    pub fn writable(&self) -> bool {
        // SAFETY: reads the held file's mode.
        unsafe { ffi::kwasm_file_writable(self.file) }
    }

    /// The file's poll mask now (`EPOLL*` bits), without waiting.
    pub fn poll_mask(&self) -> u32 {
        // SAFETY: vfs_poll with no table only asks; we hold the file.
        unsafe { ffi::kwasm_file_poll(self.file) }
    }

    pub fn kind(&self) -> FileKind {
        // SAFETY: the file (and so its inode) is alive while we hold it.
        FileKind::from_mode(u32::from(unsafe { ffi::kwasm_file_mode(self.file) }))
    }


    /// The open flags (`O_*`).
    pub fn flags(&self) -> u32 {
        // SAFETY: as kind().
        unsafe { ffi::kwasm_file_flags(self.file) }
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference this FileRef owns (from fget or an
        // open); the file is not used through it again.
        unsafe {
            if self.owned {
                ffi::kwasm_file_put(self.file)
            } else {
                ffi::fput(self.file)
            }
        }
    }
}
