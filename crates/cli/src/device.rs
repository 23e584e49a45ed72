//! `/dev/kwasm`: opening it and speaking the ABI, with errors that tell the
//! user what to do.

use kwasm_abi::{
    ioctl, Error as AbiError, InstanceInfo, ListRequest, RunRequest, UserBuf, VersionInfo, ABI_VERSION, DEVICE_PATH,
};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;

/// What the module reports about itself.
pub struct ModuleVersion {
    pub version: String,
    pub abi_version: u32,
}

#[derive(Debug)]
pub enum DeviceError {
    /// /dev/kwasm does not exist.
    NotLoaded,
    /// The node exists but its mode keeps us out.
    AccessDenied,
    /// Opening or calling was refused by the module (no CAP_SYS_ADMIN).
    NotPermitted,
    /// A signal arrived before the module started the run.
    Interrupted,
    /// The module speaks another ABI version.
    AbiMismatch { module: u32 },
    /// The module refused a request for another reason.
    Refused { request: &'static str, error: AbiError },
    /// Any other I/O error.
    Io { what: &'static str, error: io::Error },
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceError::NotLoaded => write!(
                f,
                "kwasm.ko is not loaded: {DEVICE_PATH} does not exist (load it with `insmod kwasm.ko` or `modprobe kwasm`)"
            ),
            DeviceError::AccessDenied => write!(
                f,
                "permission denied opening {DEVICE_PATH}: the device is root-only (mode 0600); run as root"
            ),
            DeviceError::NotPermitted => write!(
                f,
                "kwasm.ko refused: running code in the kernel needs CAP_SYS_ADMIN; run as root"
            ),
            DeviceError::Interrupted => write!(f, "interrupted by a signal before kwasm.ko started the program"),
            DeviceError::AbiMismatch { module } => write!(
                f,
                "kwasm.ko speaks ABI {module} but this kwasm speaks ABI {ABI_VERSION}: install a kwasm command and module from the same release"
            ),
            DeviceError::Refused { request, error } => write!(f, "kwasm.ko refused {request}: {error}"),
            DeviceError::Io { what, error } => write!(f, "{what}: {error}"),
        }
    }
}

impl std::error::Error for DeviceError {}

pub struct Device {
    file: File,
}

impl Device {
    /// The error for a failed ioctl, with the module's words for it.
    fn refused(&self, request: &'static str, error: io::Error) -> DeviceError {
        match error.raw_os_error() {
            Some(libc::EINTR) => DeviceError::Interrupted,
            Some(errno) => match AbiError::from_errno(errno) {
                // Only the handshake reports the module's ABI: ask it.
                Some(AbiError::AbiMismatch) => match self.version() {
                    Err(e @ DeviceError::AbiMismatch { .. }) => e,
                    _ => DeviceError::Refused {
                        request,
                        error: AbiError::AbiMismatch,
                    },
                },
                Some(AbiError::NotPermitted) => DeviceError::NotPermitted,
                Some(error) => DeviceError::Refused { request, error },
                None => DeviceError::Io { what: request, error },
            },
            None => DeviceError::Io { what: request, error },
        }
    }

    /// The LIST ioctl: the programs running now.
    pub fn list(&self) -> Result<Vec<InstanceInfo>, DeviceError> {
        let mut room = 64;
        loop {
            let mut entries = vec![InstanceInfo::default(); room];
            let buf = UserBuf {
                ptr: entries.as_mut_ptr() as u64,
                len: (room * std::mem::size_of::<InstanceInfo>()) as u64,
            };
            let mut req = ListRequest::new(buf);
            // SAFETY: LIST takes a pointer to a ListRequest whose `entries`
            // points to `room` writable InstanceInfo slots, all alive for
            // the call.
            let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), ioctl::LIST as _, &mut req as *mut ListRequest) };
            if rc != 0 {
                return Err(self.refused("the list request", io::Error::last_os_error()));
            }
            if req.running as usize <= room {
                entries.truncate(req.written as usize);
                return Ok(entries);
            }
            // More started meanwhile than we had room for: ask again.
            room = req.running as usize * 2;
        }
    }

    pub fn open() -> Result<Device, DeviceError> {
        match OpenOptions::new().read(true).write(true).open(DEVICE_PATH) {
            Ok(file) => Ok(Device { file }),
            Err(e) => Err(match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENXIO) | Some(libc::ENODEV) => DeviceError::NotLoaded,
                Some(libc::EACCES) => DeviceError::AccessDenied,
                Some(libc::EPERM) => DeviceError::NotPermitted,
                _ => DeviceError::Io {
                    what: "cannot open /dev/kwasm",
                    error: e,
                },
            }),
        }
    }

    /// The VERSION handshake.
    pub fn version(&self) -> Result<ModuleVersion, DeviceError> {
        let mut info = VersionInfo::request();
        // SAFETY: VERSION takes a pointer to a VersionInfo, whose size the
        // header states; `info` is valid for reads and writes of that size
        // for the whole call.
        let rc = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                ioctl::VERSION as _,
                &mut info as *mut VersionInfo,
            )
        };
        let reply = ModuleVersion {
            version: kwasm_abi::str_from_fixed(&info.module_version)
                .unwrap_or("?")
                .to_string(),
            abi_version: info.module_abi_version,
        };
        if rc == 0 {
            return Ok(reply);
        }
        let error = io::Error::last_os_error();
        Err(match error.raw_os_error().and_then(AbiError::from_errno) {
            Some(AbiError::AbiMismatch) => DeviceError::AbiMismatch {
                module: reply.abi_version,
            },
            Some(AbiError::NotPermitted) => DeviceError::NotPermitted,
            Some(error) => DeviceError::Refused {
                request: "the version handshake",
                error,
            },
            None => DeviceError::Io {
                what: "version ioctl on /dev/kwasm",
                error,
            },
        })
    }

    /// The RUN ioctl: runs the program and blocks until it ends. `Ok` means
    /// the module accepted the request; `req.reply` says how the run went.
    ///
    /// # Safety
    ///
    /// Every [`kwasm_abi::UserBuf`] in `req` must point to memory valid for
    /// its `len` for the whole call: readable for the inputs, writable for
    /// the message (the kernel writes there).
    pub unsafe fn run(&self, req: &mut RunRequest) -> Result<(), DeviceError> {
        // SAFETY: RUN takes a RunRequest; the buffers are valid by this
        // function's contract.
        unsafe { self.request(ioctl::RUN, "the run request", req) }
    }

    /// Sends one request struct `T` with ioctl `cmd` (see [`kwasm_abi::ioctl`]).
    ///
    /// # Safety
    ///
    /// `T` must be the request type `cmd` takes, and every
    /// [`kwasm_abi::UserBuf`] in `req` must point to memory valid for its
    /// `len` for the whole call: readable for inputs, writable for outputs.
    pub unsafe fn request<T>(&self, cmd: u32, what: &'static str, req: &mut T) -> Result<(), DeviceError> {
        // SAFETY: `req` is valid for reads and writes of size_of::<T>(),
        // the size its header states; its buffers are valid by this
        // function's contract.
        let rc = unsafe { libc::ioctl(self.file.as_raw_fd(), cmd as _, req as *mut T) };
        if rc == 0 {
            return Ok(());
        }
        Err(self.refused(what, io::Error::last_os_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_tell_the_user_what_to_do() {
        assert!(DeviceError::NotLoaded.to_string().contains("insmod kwasm.ko"));
        assert!(DeviceError::AccessDenied.to_string().contains("run as root"));
        assert!(DeviceError::NotPermitted.to_string().contains("CAP_SYS_ADMIN"));
        let mismatch = DeviceError::AbiMismatch {
            module: ABI_VERSION + 1,
        }
        .to_string();
        assert!(mismatch.contains(&format!("ABI {}", ABI_VERSION + 1)), "{mismatch}");
        assert!(mismatch.contains(&format!("ABI {ABI_VERSION}")), "{mismatch}");
        let refused = DeviceError::Refused {
            request: "the version handshake",
            error: AbiError::Truncated,
        };
        assert!(refused.to_string().contains("truncated"), "{refused}");
        let run = DeviceError::Refused {
            request: "the run request",
            error: AbiError::Oversized,
        };
        assert_eq!(
            run.to_string(),
            "kwasm.ko refused the run request: a size in the request is above the module's limit"
        );
        assert!(DeviceError::Interrupted.to_string().contains("interrupted"));
    }
}
