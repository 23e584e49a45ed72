//! Request and reply layouts.

use crate::{Error, ABI_VERSION, VERSION_STRING_LEN};
use core::mem::size_of;

/// Largest request struct the module will read; anything claiming more is
/// refused with [`Error::Oversized`] before a byte of it is copied.
pub const MAX_REQUEST_SIZE: u32 = 4096;

/// First field of every request.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestHeader {
    /// The caller's [`ABI_VERSION`].
    pub abi_version: u32,
    /// `size_of` the whole request struct as the caller knows it.
    pub size: u32,
}

impl RequestHeader {
    /// A header for a request of type `T` at this crate's ABI version.
    pub const fn for_request<T>() -> RequestHeader {
        RequestHeader {
            abi_version: ABI_VERSION,
            size: size_of::<T>() as u32,
        }
    }

    /// Checks the size the caller claims: at least `need` bytes (this ABI's
    /// layout of the request), at most [`MAX_REQUEST_SIZE`].
    pub const fn check_size(&self, need: usize) -> Result<(), Error> {
        if (self.size as usize) < need {
            Err(Error::Truncated)
        } else if self.size > MAX_REQUEST_SIZE {
            Err(Error::Oversized)
        } else {
            Ok(())
        }
    }

    /// Checks the caller speaks this module's ABI version.
    pub const fn check_version(&self) -> Result<(), Error> {
        if self.abi_version == ABI_VERSION {
            Ok(())
        } else {
            Err(Error::AbiMismatch)
        }
    }
}

/// A request struct the module reads whole from the caller: it starts with
/// a [`RequestHeader`] and has field rules of its own.
pub trait Request: Sized {
    fn header(&self) -> &RequestHeader;

    /// The request's own field rules (sizes, flags, limits).
    fn check_fields(&self) -> Result<(), Error>;

    /// Everything the module checks before it reads a request's buffers, in
    /// order: the size the caller states, its ABI version, the fields.
    fn validate(&self) -> Result<(), Error> {
        self.header().check_size(size_of::<Self>())?;
        self.header().check_version()?;
        self.check_fields()
    }
}

/// No flag is defined yet; the field is reserved and always 0.
pub const VERSION_INFO_FLAGS_NONE: u32 = 0;

/// Reply of the [`crate::ioctl::VERSION`] handshake.
///
/// The module checks the header's size first (it must hold this struct),
/// writes every `module_*` field, and only then checks the ABI version, so a
/// caller of any version learns which version the module speaks.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionInfo {
    /// In: the caller's header. Echoed back unchanged.
    pub header: RequestHeader,
    /// Out: the module's [`ABI_VERSION`].
    pub module_abi_version: u32,
    /// Out: reserved, [`VERSION_INFO_FLAGS_NONE`].
    pub flags: u32,
    /// Out: the module's release (`MODULE_VERSION`), NUL-padded.
    pub module_version: [u8; VERSION_STRING_LEN],
}

impl VersionInfo {
    /// A request as user space sends it: header filled, outputs zeroed.
    pub const fn request() -> VersionInfo {
        VersionInfo {
            header: RequestHeader::for_request::<VersionInfo>(),
            module_abi_version: 0,
            flags: 0,
            module_version: [0; VERSION_STRING_LEN],
        }
    }

    /// The reply the module writes back for `header`.
    pub const fn reply(header: RequestHeader, module_version: &str) -> VersionInfo {
        VersionInfo {
            header,
            module_abi_version: ABI_VERSION,
            flags: VERSION_INFO_FLAGS_NONE,
            module_version: crate::fixed_str(module_version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{align_of, offset_of};

    #[test]
    fn header_layout_is_pinned() {
        assert_eq!(size_of::<RequestHeader>(), 8);
        assert_eq!(align_of::<RequestHeader>(), 4);
        assert_eq!(offset_of!(RequestHeader, abi_version), 0);
        assert_eq!(offset_of!(RequestHeader, size), 4);
    }

    #[test]
    fn version_info_layout_is_pinned() {
        assert_eq!(size_of::<VersionInfo>(), 48);
        assert_eq!(offset_of!(VersionInfo, header), 0);
        assert_eq!(offset_of!(VersionInfo, module_abi_version), 8);
        assert_eq!(offset_of!(VersionInfo, flags), 12);
        assert_eq!(offset_of!(VersionInfo, module_version), 16);
    }

    #[test]
    fn request_states_its_own_size_and_version() {
        let r = VersionInfo::request();
        assert_eq!(r.header.abi_version, ABI_VERSION);
        assert_eq!(r.header.size as usize, size_of::<VersionInfo>());
        assert_eq!(r.header.check_size(size_of::<VersionInfo>()), Ok(()));
        assert_eq!(r.header.check_version(), Ok(()));
    }

    #[test]
    fn size_checks() {
        let need = size_of::<VersionInfo>();
        let h = |size| RequestHeader {
            abi_version: ABI_VERSION,
            size,
        };
        assert_eq!(h(0).check_size(need), Err(Error::Truncated));
        assert_eq!(h(8).check_size(need), Err(Error::Truncated));
        assert_eq!(h(need as u32 - 1).check_size(need), Err(Error::Truncated));
        assert_eq!(h(need as u32).check_size(need), Ok(()));
        // A newer caller's bigger struct is fine up to the cap.
        assert_eq!(h(MAX_REQUEST_SIZE).check_size(need), Ok(()));
        assert_eq!(h(MAX_REQUEST_SIZE + 1).check_size(need), Err(Error::Oversized));
        assert_eq!(h(u32::MAX).check_size(need), Err(Error::Oversized));
    }

    #[test]
    fn version_check() {
        let h = |abi_version| RequestHeader { abi_version, size: 48 };
        assert_eq!(h(ABI_VERSION).check_version(), Ok(()));
        assert_eq!(h(0).check_version(), Err(Error::AbiMismatch));
        assert_eq!(h(ABI_VERSION + 1).check_version(), Err(Error::AbiMismatch));
    }

    #[test]
    fn reply_carries_module_identity() {
        let caller = RequestHeader {
            abi_version: 7,
            size: 64,
        };
        let r = VersionInfo::reply(caller, "0.1.0");
        assert_eq!(r.header, caller);
        assert_eq!(r.module_abi_version, ABI_VERSION);
        assert_eq!(r.flags, VERSION_INFO_FLAGS_NONE);
        assert_eq!(crate::str_from_fixed(&r.module_version), Some("0.1.0"));
    }

    #[test]
    fn fixed_strings_truncate_and_stay_terminated() {
        let long = "x".repeat(100);
        let f: [u8; 8] = crate::fixed_str(&long);
        assert_eq!(f[7], 0);
        assert_eq!(crate::str_from_fixed(&f), Some("xxxxxxx"));
        assert_eq!(crate::str_from_fixed(&[0xff, 0]), None);
    }
}
