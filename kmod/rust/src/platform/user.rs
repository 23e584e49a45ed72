//! Copies between kernel memory and user-space pointers.

use super::ffi;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::mem::{size_of, MaybeUninit};
use kwasm_abi::run::VALUE_SIZE;
use kwasm_abi::{
    Error, InstanceInfo, InstanceRequest, InstantiateRequest, ListRequest, Request, RequestHeader, RunRequest,
    SessionRequest, UserBuf, Value, VersionInfo,
};
use kwasm_wasi::StringList;

/// Types that may be copied from and to user space byte for byte: every bit
/// pattern is a valid value and there is no padding a copy could leak.
///
/// # Safety
/// Implement only for `#[repr(C)]` types made of integers and arrays of
/// integers, laid out without padding (the ABI crate pins each layout).
pub unsafe trait Plain: Copy {}

// SAFETY: #[repr(C)] structs of u32 fields only (pinned by the ABI tests).
unsafe impl Plain for RequestHeader {}
// SAFETY: #[repr(C)], u32 fields and a u8 array, no padding (48 bytes,
// pinned by the ABI tests).
unsafe impl Plain for VersionInfo {}

// SAFETY: the requests are #[repr(C)] structs of u32/i32/u64 fields and
// nested structs of them, laid out without padding (sizes and offsets
// pinned by the ABI tests).
unsafe impl Plain for RunRequest {}
// SAFETY: as above.
unsafe impl Plain for SessionRequest {}
// SAFETY: as above.
unsafe impl Plain for InstantiateRequest {}
// SAFETY: as above.
unsafe impl Plain for InstanceRequest {}
// SAFETY: #[repr(C)] u32, u32, u64, u64: no padding (pinned by the ABI tests).
unsafe impl Plain for Value {}
// SAFETY: #[repr(C)], integer fields and a u8 array, no padding (112 bytes,
// pinned by the ABI tests).
unsafe impl Plain for InstanceInfo {}
// SAFETY: #[repr(C)], header, UserBuf and two u32s, no padding (32 bytes,
// pinned by the ABI tests).
unsafe impl Plain for ListRequest {}

/// An address in the calling process's memory, as an ioctl argument gives it.
/// Only meaningful in that process's context.
#[derive(Clone, Copy)]
pub struct UserPtr(usize);

impl UserPtr {
    pub const fn new(addr: usize) -> UserPtr {
        UserPtr(addr)
    }

    /// The address, as user space passed it.
    pub const fn addr(self) -> usize {
        self.0
    }

    /// Reads a `T` from user memory.
    pub fn read<T: Plain>(self) -> Result<T, Error> {
        let mut value = MaybeUninit::<T>::uninit();
        // SAFETY: `value` is a writable kernel buffer of size_of::<T>()
        // bytes; copy_from_user checks the user range itself (access_ok)
        // and returns how many bytes it could NOT copy.
        let left = unsafe {
            ffi::kwasm_copy_from_user(
                value.as_mut_ptr() as *mut c_void,
                self.0 as *const c_void,
                size_of::<T>() as _,
            )
        };
        if left != 0 {
            return Err(Error::BadAddress);
        }
        // SAFETY: all bytes were written and any bit pattern is a valid T
        // (T: Plain).
        Ok(unsafe { value.assume_init() })
    }

    /// Reads `len` bytes from user memory into a new buffer.
    pub fn read_bytes(self, len: usize) -> Result<Vec<u8>, Error> {
        let mut buf = Vec::new();
        buf.try_reserve_exact(len).map_err(|_| Error::OutOfMemory)?;
        // SAFETY: the buffer has capacity for `len` bytes; copy_from_user
        // checks the user range itself.
        let left =
            unsafe { ffi::kwasm_copy_from_user(buf.as_mut_ptr() as *mut c_void, self.0 as *const c_void, len as _) };
        if left != 0 {
            return Err(Error::BadAddress);
        }
        // SAFETY: all `len` bytes were written by the copy.
        unsafe { buf.set_len(len) };
        Ok(buf)
    }

    /// Writes `data` to user memory.
    pub fn write_bytes(self, data: &[u8]) -> Result<(), Error> {
        // SAFETY: `data` is a readable kernel buffer; copy_to_user checks
        // the user range itself.
        let left =
            unsafe { ffi::kwasm_copy_to_user(self.0 as *mut c_void, data.as_ptr() as *const c_void, data.len() as _) };
        if left == 0 {
            Ok(())
        } else {
            Err(Error::BadAddress)
        }
    }

    /// The address `offset` bytes further on.
    pub fn offset(self, offset: usize) -> UserPtr {
        UserPtr(self.0.wrapping_add(offset))
    }

    /// Writes `value` to user memory.
    pub fn write<T: Plain>(self, value: &T) -> Result<(), Error> {
        // SAFETY: `value` is a readable kernel object of size_of::<T>()
        // bytes with no padding (T: Plain), so nothing uninitialised leaks;
        // copy_to_user checks the user range itself.
        let left = unsafe {
            ffi::kwasm_copy_to_user(
                self.0 as *mut c_void,
                value as *const T as *const c_void,
                size_of::<T>() as _,
            )
        };
        if left == 0 {
            Ok(())
        } else {
            Err(Error::BadAddress)
        }
    }
}

/// Reads a request struct and checks it as the ABI says
/// ([`Request::validate`]), before any buffer it points to is read.
pub fn read_request<T: Plain + Request>(arg: UserPtr) -> Result<T, Error> {
    let req: T = arg.read()?;
    req.validate()?;
    Ok(req)
}

/// Reads `count` NUL-terminated strings packed back to back.
pub fn read_strings(buf: UserBuf, count: u32) -> Result<StringList, Error> {
    let bytes = UserPtr::new(buf.ptr as usize).read_bytes(buf.len as usize)?;
    StringList::from_packed(bytes, count).ok_or(Error::Malformed)
}

/// Reads an array of [`Value`]s (the ABI has checked its length).
pub fn read_values(buf: UserBuf) -> Result<Vec<Value>, Error> {
    let count = (buf.len / VALUE_SIZE) as usize;
    let mut values = Vec::new();
    values.try_reserve_exact(count).map_err(|_| Error::OutOfMemory)?;
    let base = UserPtr::new(buf.ptr as usize);
    for i in 0..count {
        values.push(base.offset(i * size_of::<Value>()).read::<Value>()?);
    }
    Ok(values)
}

/// Writes as many of `values` as `buf` has room for.
pub fn write_values(buf: UserBuf, values: &[Value]) -> Result<(), Error> {
    let room = (buf.len / VALUE_SIZE) as usize;
    let base = UserPtr::new(buf.ptr as usize);
    for (i, v) in values.iter().take(room).enumerate() {
        base.offset(i * size_of::<Value>()).write(v)?;
    }
    Ok(())
}

/// Reads a UTF-8 name.
pub fn read_name(buf: UserBuf) -> Result<alloc::string::String, Error> {
    let bytes = UserPtr::new(buf.ptr as usize).read_bytes(buf.len as usize)?;
    alloc::string::String::from_utf8(bytes).map_err(|_| Error::Malformed)
}
