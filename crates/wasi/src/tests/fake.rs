//! A [`Host`] over a real temporary directory (std only), with in-memory
//! streams and sockets, a fake monotonic clock and counters the tests
//! assert on. Path resolution beneath a directory is done lexically here,
//! the way `openat2(RESOLVE_BENEATH)` decides: `..` above the directory,
//! an absolute symlink, or a symlink leading out is ESCAPE.

extern crate std;

use crate::errno::{self, Errno};
use crate::{filetype, fdflags, DirEntry, FileStat, Host, OpenOptions, Readiness, SetTime, Whence};
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub type Shared<T> = Rc<RefCell<T>>;

/// A socket's two directions, shared with the test.
#[derive(Default)]
pub struct SockState {
    pub rx: VecDeque<u8>,
    pub tx: Vec<u8>,
    pub pending: u32,
    pub shut: Option<(bool, bool)>,
    pub peer_closed: bool,
}

pub enum FakeFile {
    Real { file: fs::File, flags: Cell<u16> },
    Dir { path: PathBuf },
    /// A stream end: reads drain `data`, writes append to it.
    Pipe { data: Shared<VecDeque<u8>>, closed: bool },
    Sock { state: Shared<SockState>, listener: bool, nonblock: bool },
}

pub struct Fake {
    pub mono: u64,
    pub random_calls: usize,
    pub yields: usize,
    pub raised: Vec<u8>,
    pub readdir_calls: usize,
    /// Entries the platform produced over all `readdir` calls.
    pub readdir_visited: usize,
    pub polls: usize,
    /// Wake this many times before a deadline (a platform's rounding).
    pub early_wakeups: u32,
    /// Most bytes one `write` accepts.
    pub write_limit: Option<usize>,
    pub last_open: Option<OpenOptions>,
}

impl Default for Fake {
    fn default() -> Self {
        Fake {
            mono: 1_000,
            random_calls: 0,
            yields: 0,
            raised: Vec::new(),
            readdir_calls: 0,
            readdir_visited: 0,
            polls: 0,
            early_wakeups: 0,
            write_limit: None,
            last_open: None,
        }
    }
}

pub const REALTIME_BASE: u64 = 1_700_000_000_000_000_000;

fn io(e: std::io::Error) -> Errno {
    e.raw_os_error().map_or(errno::IO, errno::from_linux)
}

fn file_type(ft: fs::FileType) -> u8 {
    if ft.is_dir() {
        filetype::DIRECTORY
    } else if ft.is_file() {
        filetype::REGULAR_FILE
    } else if ft.is_symlink() {
        filetype::SYMBOLIC_LINK
    } else if ft.is_char_device() {
        filetype::CHARACTER_DEVICE
    } else if ft.is_block_device() {
        filetype::BLOCK_DEVICE
    } else if ft.is_socket() {
        filetype::SOCKET_STREAM
    } else {
        filetype::UNKNOWN
    }
}

fn stat_of(m: &fs::Metadata) -> FileStat {
    let ns = |s: i64, n: i64| (s as u64).wrapping_mul(1_000_000_000).wrapping_add(n as u64);
    FileStat {
        dev: m.dev(),
        ino: m.ino(),
        filetype: file_type(m.file_type()),
        nlink: m.nlink(),
        size: m.size(),
        atim: ns(m.atime(), m.atime_nsec()),
        mtim: ns(m.mtime(), m.mtime_nsec()),
        ctim: ns(m.ctime(), m.ctime_nsec()),
    }
}

fn system_time(t: SetTime) -> Option<SystemTime> {
    match t {
        SetTime::Omit => None,
        SetTime::Now => Some(SystemTime::now()),
        SetTime::At(ns) => Some(UNIX_EPOCH + Duration::from_nanos(ns)),
    }
}

/// Resolves `path` beneath `dir`; `follow`: follow a symlink in the last
/// component. A trailing slash requires a directory (checked by callers
/// through the returned flag).
pub fn resolve(dir: &Path, path: &[u8], follow: bool) -> Result<(PathBuf, bool), Errno> {
    let trailing = path.ends_with(b"/");
    let mut todo: VecDeque<Vec<u8>> =
        path.split(|&b| b == b'/').filter(|c| !c.is_empty()).map(<[u8]>::to_vec).collect();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        match &c[..] {
            b"." => continue,
            b".." => {
                stack.pop().ok_or(errno::ESCAPE)?;
                continue;
            }
            _ => {}
        }
        let last = todo.is_empty();
        let mut here = dir.to_path_buf();
        for s in &stack {
            here.push(OsStr::from_bytes(s));
        }
        here.push(OsStr::from_bytes(&c));
        let is_link = fs::symlink_metadata(&here).map(|m| m.file_type().is_symlink()).unwrap_or(false);
        if is_link && (!last || follow || trailing) {
            links += 1;
            if links > 40 {
                return Err(errno::LOOP);
            }
            let target = fs::read_link(&here).map_err(io)?;
            let t = target.as_os_str().as_bytes();
            if t.starts_with(b"/") {
                return Err(errno::ESCAPE);
            }
            for part in t.split(|&b| b == b'/').filter(|c| !c.is_empty()).rev() {
                todo.push_front(part.to_vec());
            }
            continue;
        }
        stack.push(c);
    }
    let mut out = dir.to_path_buf();
    for s in &stack {
        out.push(OsStr::from_bytes(s));
    }
    Ok((out, trailing))
}

impl Fake {
    fn dir_path<'f>(&self, f: &'f FakeFile) -> Result<&'f Path, Errno> {
        match f {
            FakeFile::Dir { path } => Ok(path),
            _ => Err(errno::NOTDIR),
        }
    }

    fn real<'f>(&self, f: &'f FakeFile) -> Result<&'f fs::File, Errno> {
        match f {
            FakeFile::Real { file, .. } => Ok(file),
            FakeFile::Dir { .. } => Err(errno::ISDIR),
            _ => Err(errno::SPIPE),
        }
    }

    fn at(&self, dir: &FakeFile, path: &[u8], follow: bool) -> Result<PathBuf, Errno> {
        let (p, trailing) = resolve(self.dir_path(dir)?, path, follow)?;
        if trailing && fs::metadata(&p).is_ok_and(|m| !m.is_dir()) {
            return Err(errno::NOTDIR);
        }
        Ok(p)
    }
}

impl Host for Fake {
    type File = FakeFile;

    fn read(&mut self, f: &FakeFile, buf: &mut [u8]) -> Result<usize, Errno> {
        match f {
            FakeFile::Real { file, .. } => (&*file).read(buf).map_err(io),
            FakeFile::Pipe { data, .. } => {
                let mut d = data.borrow_mut();
                let n = buf.len().min(d.len());
                for (b, x) in buf.iter_mut().zip(d.drain(..n)) {
                    *b = x;
                }
                Ok(n)
            }
            FakeFile::Sock { .. } => self.sock_recv(f, buf, false, false),
            FakeFile::Dir { .. } => Err(errno::ISDIR),
        }
    }

    fn write(&mut self, f: &FakeFile, data: &[u8]) -> Result<usize, Errno> {
        let data = &data[..self.write_limit.map_or(data.len(), |l| l.min(data.len()))];
        match f {
            FakeFile::Real { file, flags } => {
                if flags.get() & fdflags::APPEND != 0 {
                    // O_APPEND: at the end, then the position after it; a
                    // refused write (read-only file) moves nothing.
                    let end = file.metadata().map_err(io)?.len();
                    let n = file.write_at(data, end).map_err(io)?;
                    (&*file).seek(SeekFrom::Start(end + n as u64)).map_err(io)?;
                    return Ok(n);
                }
                (&*file).write(data).map_err(io)
            }
            FakeFile::Pipe { data: d, .. } => {
                d.borrow_mut().extend(data);
                Ok(data.len())
            }
            FakeFile::Sock { .. } => self.sock_send(f, data),
            FakeFile::Dir { .. } => Err(errno::ISDIR),
        }
    }

    fn pread(&mut self, f: &FakeFile, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.real(f)?.read_at(buf, offset).map_err(io)
    }

    fn pwrite(&mut self, f: &FakeFile, data: &[u8], offset: u64) -> Result<usize, Errno> {
        let file = self.real(f)?;
        // Linux: pwrite on an O_APPEND file appends (the position stays).
        let at = match f {
            FakeFile::Real { flags, .. } if flags.get() & fdflags::APPEND != 0 => file.metadata().map_err(io)?.len(),
            _ => offset,
        };
        file.write_at(data, at).map_err(io)
    }

    fn seek(&mut self, f: &FakeFile, offset: i64, whence: Whence) -> Result<u64, Errno> {
        let to = match whence {
            Whence::Set => SeekFrom::Start(u64::try_from(offset).map_err(|_| errno::INVAL)?),
            Whence::Cur => SeekFrom::Current(offset),
            Whence::End => SeekFrom::End(offset),
        };
        let mut file = self.real(f)?;
        file.seek(to).map_err(io)
    }

    fn sync(&mut self, f: &FakeFile, data_only: bool) -> Result<(), Errno> {
        let file = self.real(f)?;
        if data_only { file.sync_data() } else { file.sync_all() }.map_err(io)
    }

    fn advise(&mut self, f: &FakeFile, _offset: u64, _len: u64, _advice: u8) -> Result<(), Errno> {
        self.real(f).map(drop)
    }

    fn allocate(&mut self, f: &FakeFile, offset: u64, len: u64) -> Result<(), Errno> {
        let file = self.real(f)?;
        if len == 0 {
            return Err(errno::INVAL);
        }
        let end = offset.checked_add(len).ok_or(errno::FBIG)?;
        if file.metadata().map_err(io)?.len() < end {
            file.set_len(end).map_err(io)?;
        }
        Ok(())
    }

    fn stat(&mut self, f: &FakeFile) -> Result<FileStat, Errno> {
        match f {
            FakeFile::Real { file, .. } => Ok(stat_of(&file.metadata().map_err(io)?)),
            FakeFile::Dir { path } => Ok(stat_of(&fs::metadata(path).map_err(io)?)),
            FakeFile::Pipe { .. } => Ok(FileStat { filetype: filetype::UNKNOWN, nlink: 1, ..Default::default() }),
            FakeFile::Sock { .. } => Ok(FileStat { filetype: filetype::SOCKET_STREAM, nlink: 1, ..Default::default() }),
        }
    }

    fn set_size(&mut self, f: &FakeFile, size: u64) -> Result<(), Errno> {
        self.real(f)?.set_len(size).map_err(io)
    }

    fn set_times(&mut self, f: &FakeFile, atim: SetTime, mtim: SetTime) -> Result<(), Errno> {
        let opened;
        let file = match f {
            FakeFile::Dir { path } => {
                opened = fs::File::open(path).map_err(io)?;
                &opened
            }
            _ => self.real(f)?,
        };
        let mut t = fs::FileTimes::new();
        if let Some(a) = system_time(atim) {
            t = t.set_accessed(a);
        }
        if let Some(m) = system_time(mtim) {
            t = t.set_modified(m);
        }
        file.set_times(t).map_err(io)
    }

    fn fdflags(&mut self, f: &FakeFile) -> Result<u16, Errno> {
        match f {
            FakeFile::Real { flags, .. } => Ok(flags.get()),
            FakeFile::Sock { nonblock: true, .. } => Ok(fdflags::NONBLOCK),
            _ => Ok(0),
        }
    }

    fn set_fdflags(&mut self, f: &FakeFile, new: u16) -> Result<(), Errno> {
        match f {
            FakeFile::Real { flags, .. } => {
                flags.set(new & (fdflags::APPEND | fdflags::NONBLOCK));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn readdir(
        &mut self,
        dir: &FakeFile,
        cookie: u64,
        each: &mut dyn FnMut(DirEntry<'_>, u64) -> bool,
    ) -> Result<(), Errno> {
        self.readdir_calls += 1;
        let path = self.dir_path(dir)?;
        let mut names: Vec<(Vec<u8>, u64, u8)> = Vec::new();
        let me = fs::metadata(path).map_err(io)?;
        names.push((b".".to_vec(), me.ino(), filetype::DIRECTORY));
        names.push((b"..".to_vec(), 1, filetype::DIRECTORY));
        let mut rest: Vec<_> = fs::read_dir(path)
            .map_err(io)?
            .map(|e| {
                let e = e.unwrap();
                let m = fs::symlink_metadata(e.path()).unwrap();
                (e.file_name().as_bytes().to_vec(), m.ino(), file_type(m.file_type()))
            })
            .collect();
        rest.sort();
        names.extend(rest);
        for (i, (name, ino, ft)) in names.iter().enumerate().skip(cookie as usize) {
            self.readdir_visited += 1;
            if !each(DirEntry { ino: *ino, filetype: *ft, name }, i as u64 + 1) {
                break;
            }
        }
        Ok(())
    }

    fn open_at(&mut self, dir: &FakeFile, path: &[u8], how: OpenOptions) -> Result<FakeFile, Errno> {
        self.last_open = Some(how);
        let p = self.at(dir, path, how.follow)?;
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                // O_NOFOLLOW on a symlink (with O_CREAT|O_EXCL: it exists).
                return Err(if how.create && how.exclusive { errno::EXIST } else { errno::LOOP });
            }
            Ok(m) if m.is_dir() => {
                if how.create && how.exclusive {
                    return Err(errno::EXIST);
                }
                if how.write {
                    return Err(errno::ISDIR);
                }
                return Ok(FakeFile::Dir { path: p });
            }
            Ok(_) if how.directory => return Err(errno::NOTDIR),
            _ => {}
        }
        let mut o = fs::OpenOptions::new();
        o.read(how.read).write(how.write).truncate(how.truncate);
        if how.create {
            if how.exclusive { o.create_new(true) } else { o.create(true) };
        }
        // APPEND stays the fake's own flag (write() honours it), so that
        // clearing it with set_fdflags really stops appending, as it does
        // on the kernel's file.
        let file = o.open(&p).map_err(io)?;
        let mut flags = 0;
        if how.append {
            flags |= fdflags::APPEND;
        }
        if how.nonblock {
            flags |= fdflags::NONBLOCK;
        }
        Ok(FakeFile::Real { file, flags: Cell::new(flags) })
    }

    fn stat_at(&mut self, dir: &FakeFile, path: &[u8], follow: bool) -> Result<FileStat, Errno> {
        let p = self.at(dir, path, follow)?;
        let m = if follow { fs::metadata(&p) } else { fs::symlink_metadata(&p) };
        Ok(stat_of(&m.map_err(io)?))
    }

    fn set_times_at(
        &mut self,
        dir: &FakeFile,
        path: &[u8],
        follow: bool,
        atim: SetTime,
        mtim: SetTime,
    ) -> Result<(), Errno> {
        let p = self.at(dir, path, follow)?;
        let f = fs::File::open(&p).map_err(io)?;
        let file = if fs::metadata(&p).map_err(io)?.is_dir() {
            FakeFile::Dir { path: p }
        } else {
            FakeFile::Real { file: f, flags: Cell::new(0) }
        };
        self.set_times(&file, atim, mtim)
    }

    fn mkdir_at(&mut self, dir: &FakeFile, path: &[u8]) -> Result<(), Errno> {
        let (p, _) = resolve(self.dir_path(dir)?, path, false)?;
        fs::create_dir(p).map_err(io)
    }

    fn unlink_at(&mut self, dir: &FakeFile, path: &[u8]) -> Result<(), Errno> {
        let p = self.at(dir, path, false)?;
        fs::remove_file(p).map_err(io)
    }

    fn rmdir_at(&mut self, dir: &FakeFile, path: &[u8]) -> Result<(), Errno> {
        let (p, _) = resolve(self.dir_path(dir)?, path, false)?;
        fs::remove_dir(p).map_err(io)
    }

    fn symlink_at(&mut self, target: &[u8], dir: &FakeFile, path: &[u8]) -> Result<(), Errno> {
        let p = self.at(dir, path, false)?;
        std::os::unix::fs::symlink(OsStr::from_bytes(target), p).map_err(io)
    }

    fn readlink_at(&mut self, dir: &FakeFile, path: &[u8], buf: &mut [u8]) -> Result<usize, Errno> {
        let p = self.at(dir, path, false)?;
        let t = fs::read_link(p).map_err(io)?;
        let t = t.as_os_str().as_bytes();
        let n = t.len().min(buf.len());
        buf[..n].copy_from_slice(&t[..n]);
        Ok(t.len())
    }

    fn link_at(&mut self, old_dir: &FakeFile, old: &[u8], follow: bool, new_dir: &FakeFile, new: &[u8]) -> Result<(), Errno> {
        let o = self.at(old_dir, old, follow)?;
        let n = self.at(new_dir, new, false)?;
        fs::hard_link(o, n).map_err(io)
    }

    fn rename_at(&mut self, old_dir: &FakeFile, old: &[u8], new_dir: &FakeFile, new: &[u8]) -> Result<(), Errno> {
        let o = self.at(old_dir, old, false)?;
        let n = self.at(new_dir, new, false)?;
        fs::rename(o, n).map_err(io)
    }

    fn poll(
        &mut self,
        files: &[&FakeFile],
        want: &[Readiness],
        deadline_ns: Option<u64>,
        ready: &mut [Readiness],
    ) -> Result<(), Errno> {
        self.polls += 1;
        let mut any = false;
        for ((f, w), r) in files.iter().zip(want).zip(ready.iter_mut()) {
            let (readable, writable, hangup) = match f {
                FakeFile::Real { .. } | FakeFile::Dir { .. } => (true, true, false),
                FakeFile::Pipe { data, closed } => (!data.borrow().is_empty() || *closed, true, *closed),
                FakeFile::Sock { state, listener, .. } => {
                    let s = state.borrow();
                    let r = if *listener { s.pending > 0 } else { !s.rx.is_empty() || s.peer_closed };
                    (r, !*listener, s.peer_closed)
                }
            };
            *r = Readiness { read: w.read && readable, write: w.write && writable, hangup };
            any |= r.read || r.write || r.hangup;
        }
        if any {
            return Ok(());
        }
        match deadline_ns {
            Some(d) if self.early_wakeups > 0 => {
                self.early_wakeups -= 1;
                self.mono = self.mono.max(d.saturating_sub(1));
                Ok(())
            }
            Some(d) => {
                self.mono = self.mono.max(d);
                Ok(())
            }
            // Would wait forever: a test's mistake, answered like a signal.
            None => Err(errno::INTR),
        }
    }

    fn readable_bytes(&mut self, f: &FakeFile) -> u64 {
        match f {
            FakeFile::Real { file, .. } => {
                let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                let pos = (&*file).stream_position().unwrap_or(0);
                size.saturating_sub(pos)
            }
            FakeFile::Pipe { data, .. } => data.borrow().len() as u64,
            FakeFile::Sock { state, .. } => state.borrow().rx.len() as u64,
            FakeFile::Dir { .. } => 0,
        }
    }

    fn sock_accept(&mut self, f: &FakeFile, nonblock: bool) -> Result<FakeFile, Errno> {
        match f {
            FakeFile::Sock { state, listener: true, .. } => {
                let mut s = state.borrow_mut();
                if s.pending == 0 {
                    return Err(errno::AGAIN);
                }
                s.pending -= 1;
                Ok(FakeFile::Sock { state: Rc::default(), listener: false, nonblock })
            }
            _ => Err(errno::INVAL),
        }
    }

    fn sock_recv(&mut self, f: &FakeFile, buf: &mut [u8], peek: bool, _waitall: bool) -> Result<usize, Errno> {
        let FakeFile::Sock { state, listener: false, .. } = f else {
            return Err(errno::NOTCONN);
        };
        let mut s = state.borrow_mut();
        let n = buf.len().min(s.rx.len());
        for (b, x) in buf.iter_mut().zip(s.rx.iter()) {
            *b = *x;
        }
        if !peek {
            s.rx.drain(..n);
        }
        Ok(n)
    }

    fn sock_send(&mut self, f: &FakeFile, data: &[u8]) -> Result<usize, Errno> {
        let FakeFile::Sock { state, listener: false, .. } = f else {
            return Err(errno::NOTCONN);
        };
        state.borrow_mut().tx.extend_from_slice(data);
        Ok(data.len())
    }

    fn sock_shutdown(&mut self, f: &FakeFile, read: bool, write: bool) -> Result<(), Errno> {
        let FakeFile::Sock { state, .. } = f else {
            return Err(errno::NOTSOCK);
        };
        state.borrow_mut().shut = Some((read, write));
        Ok(())
    }

    fn clock_time(&mut self, id: u32) -> Result<u64, Errno> {
        match id {
            crate::clock::REALTIME => Ok(REALTIME_BASE + self.mono),
            crate::clock::MONOTONIC => Ok(self.mono),
            crate::clock::PROCESS_CPUTIME | crate::clock::THREAD_CPUTIME => Ok(7),
            _ => Err(errno::INVAL),
        }
    }

    fn clock_res(&mut self, _id: u32) -> Result<u64, Errno> {
        Ok(1)
    }

    fn random(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        self.random_calls += 1;
        buf.fill(0xab);
        Ok(())
    }

    fn sched_yield(&mut self) -> Result<(), Errno> {
        self.yields += 1;
        Ok(())
    }

    fn raise(&mut self, sig: u8) -> Result<(), Errno> {
        self.raised.push(sig);
        Ok(())
    }
}

/// A directory under the system's temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(std::format!("kwasm-wasi-test-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }

    pub fn write(&self, rel: &str, data: &[u8]) {
        fs::write(self.path(rel), data).unwrap();
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap()
    }

    pub fn mkdir(&self, rel: &str) {
        fs::create_dir_all(self.path(rel)).unwrap();
    }

    pub fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.path(rel)).is_ok()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[allow(dead_code)]
pub fn s(x: &str) -> String {
    String::from(x)
}
