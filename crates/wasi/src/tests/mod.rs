//! Host tests: every function against a real temporary directory (see
//! [`fake`]), asserting memory layouts and errno rules byte by byte.

extern crate std;

mod basics;
mod fake;
mod fds;
mod hostile;
mod paths;
mod poll;
mod readdir;
mod open_modes;
mod sock;

use crate::*;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use fake::{Fake, FakeFile, Shared, TempDir};

const MEM: usize = 64 * 1024;
/// Where [`T::alloc`] hands out scratch memory.
const SCRATCH: u32 = 0x8000;

/// A program's view: a context with stdio (pipes) and one preopen (fd 3,
/// `/sandbox`, a fresh temporary directory), its memory and the host.
pub struct T {
    pub host: Fake,
    pub cx: Wasi<FakeFile>,
    pub mem: Vec<u8>,
    pub dir: TempDir,
    pub stdin: Shared<VecDeque<u8>>,
    pub stdout: Shared<VecDeque<u8>>,
    pub stderr: Shared<VecDeque<u8>>,
    next: u32,
}

fn pipe(data: &Shared<VecDeque<u8>>) -> FakeFile {
    FakeFile::Pipe { data: data.clone(), closed: false }
}

impl T {
    pub fn new() -> T {
        let args = StringList::from_packed(b"prog\0hello world\0".to_vec(), 2).unwrap();
        let env = StringList::from_packed(b"A=1\0".to_vec(), 1).unwrap();
        let mut cx = Wasi::new(args, env);
        let (stdin, stdout, stderr) = (Rc::default(), Rc::default(), Rc::default());
        cx.set_stdio(0, pipe(&stdin), filetype::UNKNOWN).unwrap();
        cx.set_stdio(1, pipe(&stdout), filetype::CHARACTER_DEVICE).unwrap();
        cx.set_stdio(2, pipe(&stderr), filetype::UNKNOWN).unwrap();
        let dir = TempDir::new();
        let fd = cx.add_preopen(FakeFile::Dir { path: dir.0.clone() }, b"/sandbox".to_vec()).unwrap();
        assert_eq!(fd, 3);
        T { host: Fake::default(), cx, mem: vec![0; MEM], dir, stdin, stdout, stderr, next: SCRATCH }
    }

    pub fn call(&mut self, f: impl FnOnce(&mut Fake, &mut Wasi<FakeFile>, &mut GuestMemory<'_>) -> Errno) -> Errno {
        f(&mut self.host, &mut self.cx, &mut GuestMemory::new(&mut self.mem))
    }

    /// `len` bytes of scratch memory, 8-aligned.
    pub fn alloc(&mut self, len: u32) -> u32 {
        let at = self.next;
        self.next = (at + len + 7) & !7;
        assert!((self.next as usize) < MEM, "scratch memory exhausted");
        at
    }

    pub fn put(&mut self, at: u32, b: &[u8]) {
        self.mem[at as usize..at as usize + b.len()].copy_from_slice(b);
    }

    /// Copies `b` into scratch memory: (pointer, length).
    pub fn data(&mut self, b: &[u8]) -> (u32, u32) {
        let at = self.alloc(b.len() as u32);
        self.put(at, b);
        (at, b.len() as u32)
    }

    /// An iovec array over the given buffers.
    pub fn iovs(&mut self, bufs: &[(u32, u32)]) -> (u32, u32) {
        let at = self.alloc(8 * bufs.len() as u32);
        for (i, &(p, l)) in bufs.iter().enumerate() {
            self.put(at + 8 * i as u32, &p.to_le_bytes());
            self.put(at + 8 * i as u32 + 4, &l.to_le_bytes());
        }
        (at, bufs.len() as u32)
    }

    pub fn bytes(&self, at: u32, len: u32) -> &[u8] {
        &self.mem[at as usize..(at + len) as usize]
    }

    pub fn u8(&self, at: u32) -> u8 {
        self.mem[at as usize]
    }

    pub fn u16(&self, at: u32) -> u16 {
        u16::from_le_bytes(self.bytes(at, 2).try_into().unwrap())
    }

    pub fn u32(&self, at: u32) -> u32 {
        u32::from_le_bytes(self.bytes(at, 4).try_into().unwrap())
    }

    pub fn u64(&self, at: u32) -> u64 {
        u64::from_le_bytes(self.bytes(at, 8).try_into().unwrap())
    }

    /// `path_open` beneath `dirfd`.
    pub fn open_in(&mut self, dirfd: u32, path: &[u8], oflags: u32, base: u64, fdflags: u32) -> Result<u32, Errno> {
        let (p, l) = self.data(path);
        let out = self.alloc(4);
        match self.call(|h, cx, m| path_open(h, cx, m, dirfd, lookupflags::SYMLINK_FOLLOW, p, l, oflags, base, base, fdflags, out)) {
            errno::SUCCESS => Ok(self.u32(out)),
            e => Err(e),
        }
    }

    /// `path_open` beneath the preopen.
    pub fn open(&mut self, path: &[u8], oflags: u32, base: u64, fdflags: u32) -> Result<u32, Errno> {
        self.open_in(3, path, oflags, base, fdflags)
    }

    pub fn write(&mut self, fd: u32, data: &[u8]) -> Result<u32, Errno> {
        let buf = self.data(data);
        let (iovs, n) = self.iovs(&[buf]);
        let out = self.alloc(4);
        match self.call(|h, cx, m| fd_write(h, cx, m, fd, iovs, n, out)) {
            errno::SUCCESS => Ok(self.u32(out)),
            e => Err(e),
        }
    }

    pub fn read(&mut self, fd: u32, len: u32) -> Result<Vec<u8>, Errno> {
        let buf = self.alloc(len);
        let (iovs, n) = self.iovs(&[(buf, len)]);
        let out = self.alloc(4);
        match self.call(|h, cx, m| fd_read(h, cx, m, fd, iovs, n, out)) {
            errno::SUCCESS => Ok(self.bytes(buf, self.u32(out)).to_vec()),
            e => Err(e),
        }
    }

    /// `fd_fdstat_get`: (filetype, flags, base, inheriting).
    pub fn fdstat(&mut self, fd: u32) -> Result<(u8, u16, u64, u64), Errno> {
        let at = self.alloc(24);
        match self.call(|h, cx, m| fd_fdstat_get(h, cx, m, fd, at)) {
            errno::SUCCESS => Ok((self.u8(at), self.u16(at + 2), self.u64(at + 8), self.u64(at + 16))),
            e => Err(e),
        }
    }

    /// `fd_filestat_get` or `path_filestat_get`'s 64 bytes, decoded.
    pub fn filestat_at(&self, at: u32) -> FileStat {
        FileStat {
            dev: self.u64(at),
            ino: self.u64(at + 8),
            filetype: self.u8(at + 16),
            nlink: self.u64(at + 24),
            size: self.u64(at + 32),
            atim: self.u64(at + 40),
            mtim: self.u64(at + 48),
            ctim: self.u64(at + 56),
        }
    }

    pub fn path_stat(&mut self, dirfd: u32, path: &[u8], follow: bool) -> Result<FileStat, Errno> {
        let (p, l) = self.data(path);
        let at = self.alloc(64);
        let flags = if follow { lookupflags::SYMLINK_FOLLOW } else { 0 };
        match self.call(|h, cx, m| path_filestat_get(h, cx, m, dirfd, flags, p, l, at)) {
            errno::SUCCESS => Ok(self.filestat_at(at)),
            e => Err(e),
        }
    }

    /// Runs a one-path function (`path_create_directory` and the like).
    pub fn path1(
        &mut self,
        f: fn(&mut Fake, &mut Wasi<FakeFile>, &mut GuestMemory<'_>, u32, u32, u32) -> Errno,
        dirfd: u32,
        path: &[u8],
    ) -> Errno {
        let (p, l) = self.data(path);
        self.call(|h, cx, m| f(h, cx, m, dirfd, p, l))
    }
}

/// Read and write, as a program opening a file with `O_RDWR` asks.
const RW: u64 = rights::FD_READ | rights::FD_WRITE;
