//! The calling process's open files, used through the VFS exactly as its
//! own `read(2)`/`write(2)` would (its credentials, its file positions).

use super::ffi;

/// A reference to one of the caller's open files; dropped with `fput`.
pub struct FileRef(*mut ffi::File);

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

const EBADF: i32 = 9;
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
            Ok(FileRef(f))
        }
    }

    /// `write(2)` from a kernel buffer at the file's position. Err(errno).
    pub fn write(&self, data: &[u8]) -> Result<usize, i32> {
        // SAFETY: we hold a reference on the file; `data` is a valid kernel
        // buffer of `data.len()` bytes for the call.
        let n = unsafe { ffi::kwasm_file_write(self.0, data.as_ptr().cast(), data.len()) };
        ffi::neg_errno(n).map_or(Ok(n as usize), Err)
    }

    /// `read(2)` into a kernel buffer at the file's position. Err(errno).
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, i32> {
        // SAFETY: as write(), with a writable buffer.
        let n = unsafe { ffi::kwasm_file_read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
        ffi::neg_errno(n).map_or(Ok(n as usize), Err)
    }

    pub fn kind(&self) -> FileKind {
        // SAFETY: the file (and so its inode) is alive while we hold it.
        let mode = unsafe { ffi::kwasm_file_mode(self.0) } as u32 & 0o170000;
        match mode {
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

    /// The open flags (`O_*`).
    pub fn flags(&self) -> u32 {
        // SAFETY: as kind().
        unsafe { ffi::kwasm_file_flags(self.0) }
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference fget took.
        unsafe { ffi::fput(self.0) }
    }
}
