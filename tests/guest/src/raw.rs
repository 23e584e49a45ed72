//! Raw access to /dev/kwasm, for requests the `kwasm` command would never
//! send: wrong versions, short structs, bad pointers, unknown commands.

use kwasm_abi::{ioctl, UserBuf, DEVICE_PATH};
use kwasm_engine::Settings;
use std::ffi::CString;
use std::process::ExitCode;

/// A buffer of the ABI over `v`.
pub fn buf<T>(v: &[T]) -> UserBuf {
    UserBuf {
        ptr: v.as_ptr() as u64,
        len: std::mem::size_of_val(v) as u64,
    }
}

/// A sealed image of the WebAssembly text `wat`, as `kwasm` would make it.
pub fn compile(settings: &Settings, wat: &str) -> Vec<u8> {
    let engine = wasmtime::Engine::new(&settings.compiler_config().unwrap()).unwrap();
    kwasm_engine::image::seal(engine.precompile_module(&wat::parse_str(wat).unwrap()).unwrap())
}

/// An open /dev/kwasm, closed on drop.
pub struct RawDevice(libc::c_int);

impl RawDevice {
    pub fn open() -> Result<RawDevice, i32> {
        let path = CString::new(DEVICE_PATH).unwrap();
        // SAFETY: path is a valid NUL-terminated string.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            Err(errno())
        } else {
            Ok(RawDevice(fd))
        }
    }

    /// ioctl(fd, cmd, arg) -> Ok(()) or Err(errno). The caller vouches that
    /// `arg` is whatever the test means to send, valid or not: the kernel
    /// must cope with either.
    pub fn ioctl(&self, cmd: u32, arg: usize) -> Result<(), i32> {
        // SAFETY: an ioctl on our own fd; the kernel validates `arg` and the
        // buffers the tests pass outlive the call.
        let rc = unsafe { libc::ioctl(self.0, cmd as _, arg) };
        if rc == 0 {
            Ok(())
        } else {
            Err(errno())
        }
    }

    /// The VERSION ioctl on a request the test has shaped.
    pub fn version(&self, request: &mut kwasm_abi::VersionInfo) -> Result<(), i32> {
        self.ioctl(ioctl::VERSION, request as *mut _ as usize)
    }
}

impl Drop for RawDevice {
    fn drop(&mut self) {
        // SAFETY: closing the fd this value owns.
        unsafe { libc::close(self.0) };
    }
}

pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `--probe-open`: print the errno open(/dev/kwasm) gives this process (0 on
/// success).
pub fn probe_open() -> ExitCode {
    match RawDevice::open() {
        Ok(_) => println!("0"),
        Err(e) => println!("{e}"),
    }
    ExitCode::SUCCESS
}

/// An anonymous mapping of two pages whose second page is inaccessible:
/// buffers placed at the end of the first page straddle into a hole.
pub struct GuardedPage {
    base: *mut u8,
}

impl GuardedPage {
    const PAGE: usize = 4096;

    pub fn new() -> GuardedPage {
        // SAFETY: a fresh private anonymous mapping; nothing else uses it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * Self::PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED, "mmap failed");
        // SAFETY: the second page lies within the mapping just made.
        let rc = unsafe { libc::mprotect((base as *mut u8).add(Self::PAGE) as *mut _, Self::PAGE, libc::PROT_NONE) };
        assert_eq!(rc, 0, "mprotect failed");
        GuardedPage { base: base as *mut u8 }
    }

    /// Address `n` bytes before the inaccessible page.
    pub fn tail(&self, n: usize) -> *mut u8 {
        // SAFETY: n <= PAGE keeps the result inside the first page (or at
        // its end).
        unsafe { self.base.add(Self::PAGE - n) }
    }
}

impl Drop for GuardedPage {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in new().
        unsafe { libc::munmap(self.base as *mut _, 2 * Self::PAGE) };
    }
}
