//! Argument and environment lists: NUL-terminated strings back to back, the
//! layout both the kwasm ABI and preview1's `*_get` functions use.

use crate::errno::{self, Errno};
use crate::GuestMemory;
use alloc::vec::Vec;

pub struct StringList {
    /// The strings, each with its NUL.
    bytes: Vec<u8>,
    /// Offset of each string in `bytes`.
    starts: Vec<u32>,
}

impl StringList {
    /// Parses `count` NUL-terminated strings from `bytes`; `None` if the
    /// count or the terminators do not match, or a string holds a NUL.
    pub fn from_packed(bytes: Vec<u8>, count: u32) -> Option<StringList> {
        if u32::try_from(bytes.len()).is_err() {
            return None;
        }
        let mut starts = Vec::new();
        starts.try_reserve_exact(count as usize).ok()?;
        let mut at = 0usize;
        while at < bytes.len() {
            // More strings than promised: refuse now, before `starts`
            // grows past what was reserved (a caller's 1 MiB of NULs would
            // otherwise cost 4 MiB of infallible allocation in the kernel).
            if starts.len() == count as usize {
                return None;
            }
            starts.push(at as u32);
            let nul = bytes[at..].iter().position(|&b| b == 0)?;
            at += nul + 1;
        }
        (starts.len() == count as usize).then_some(StringList { bytes, starts })
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The `index`-th string, without its NUL.
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        let start = *self.starts.get(index)? as usize;
        let end = start + self.bytes[start..].iter().position(|&b| b == 0)?;
        Some(&self.bytes[start..end])
    }

    /// `*_sizes_get`: the count and the total size with terminators.
    pub fn write_sizes(&self, mem: &mut GuestMemory<'_>, count_ptr: u32, size_ptr: u32) -> Result<(), Errno> {
        mem.check(count_ptr, 4)?;
        mem.check(size_ptr, 4)?;
        mem.write_u32(count_ptr, self.starts.len() as u32)?;
        mem.write_u32(size_ptr, self.bytes.len() as u32)
    }

    /// `*_get`: the strings at `buf`, and a pointer to each at `ptrs`.
    pub fn write(&self, mem: &mut GuestMemory<'_>, ptrs: u32, buf: u32) -> Result<(), Errno> {
        let table = (self.starts.len() as u32).checked_mul(4).ok_or(errno::OVERFLOW)?;
        mem.check(ptrs, table)?;
        mem.write_bytes(buf, &self.bytes)?;
        for (i, &start) in self.starts.iter().enumerate() {
            let p = buf.checked_add(start).ok_or(errno::FAULT)?;
            mem.write_u32(ptrs + 4 * i as u32, p)?;
        }
        Ok(())
    }
}
