//! The one definition of the contract between user space and `kwasm.ko`.
//!
//! This crate plays the role `include/uapi/linux/bpf.h` plays for eBPF: the
//! kernel module and every user-space tool build against it, and nothing else
//! may define a request layout or an ioctl number.
//!
//! Rules of the contract:
//! * Every request starts with a [`RequestHeader`] carrying the caller's
//!   [`ABI_VERSION`] and the size of the struct as the caller knows it.
//! * Layouts are `#[repr(C)]`, contain no padding the kernel could leak, and
//!   only ever grow at the end. A field never changes meaning within one
//!   [`ABI_VERSION`].
//! * [`ioctl::VERSION`] is the handshake and is frozen forever: whatever the
//!   caller's ABI version, the module fills in its own identity, then refuses
//!   with [`Error::AbiMismatch`] if it cannot serve that caller.
#![no_std]

pub mod ioctl;

pub mod error;
pub mod list;
mod request;
pub mod run;
pub mod session;

pub use error::{errno, Error};
pub use list::{InstanceInfo, ListRequest};
pub use request::{Request, RequestHeader, VersionInfo, MAX_REQUEST_SIZE, VERSION_INFO_FLAGS_NONE};
pub use run::{EngineSpec, Limits, Outcome, Reply, RunRequest, UserBuf, Value, WasiArgs, ENGINE_NATIVE, ENGINE_PULLEY};
pub use session::{InstanceRequest, InstantiateRequest, SessionRequest};

/// Version of this contract. Bump it whenever a request layout or its meaning
/// changes; the module refuses callers of any other version.
pub const ABI_VERSION: u32 = 3;

/// Device node the module registers (a misc device, mode 0600).
pub const DEVICE_PATH: &str = "/dev/kwasm";

/// Name of the device and of the module.
pub const DEVICE_NAME: &str = "kwasm";

/// Length of the NUL-padded version string in [`VersionInfo`].
pub const VERSION_STRING_LEN: usize = 32;

/// Copies `s` into a NUL-padded fixed-size field, truncating if needed (the
/// last byte always stays NUL).
pub const fn fixed_str<const N: usize>(s: &str) -> [u8; N] {
    let bytes = s.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < bytes.len() && i + 1 < N {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// Reads a NUL-padded fixed-size field back as a string, up to the first NUL.
/// Invalid UTF-8 yields `None`.
pub fn str_from_fixed(field: &[u8]) -> Option<&str> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    core::str::from_utf8(&field[..end]).ok()
}
