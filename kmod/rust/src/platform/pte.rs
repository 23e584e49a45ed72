//! Protection of vmalloc pages, changed in their kernel page-table entries:
//! what W^X code memory (`codemem`) and the private stacks' guard pages
//! (`stack`) are built on. No exported kernel API changes the protection of
//! a vmalloc range on 6.x, so each 4 KiB PTE is found with
//! `lookup_address`, rewritten in one `set_pte`, and the TLBs of every CPU
//! are flushed afterwards.

use super::ffi;
use alloc::vec::Vec;
use core::ffi::c_void;

pub const PAGE_SIZE: usize = 4096;
/// PTE bit (x86-64 architecture): writable.
pub const RW: u64 = 1 << 1;

/// The no-execute PTE bit, if this CPU supports it (else the bit is
/// reserved and must stay clear).
pub fn nx() -> u64 {
    // SAFETY: reads a kernel constant mask.
    unsafe { ffi::kwasm_pte_nx() }
}

/// `PG_LEVEL_4K` of `lookup_address`.
const PG_LEVEL_4K: u32 = 1;

/// The 4 KiB PTEs of `[ptr, ptr + len)`, which must be vmalloc pages.
pub fn ptes(ptr: *const u8, len: usize) -> Result<Vec<*mut u64>, &'static str> {
    // SAFETY: is_vmalloc_addr only compares the address with the vmalloc
    // range.
    if !unsafe { ffi::is_vmalloc_addr(ptr as *const c_void) } {
        return Err("not a vmalloc mapping");
    }
    let mut out = Vec::new();
    for page in (ptr as usize..ptr as usize + len).step_by(PAGE_SIZE) {
        let mut level = 0u32;
        // SAFETY: lookup_address walks the kernel page tables for a mapped
        // vmalloc address; it returns the PTE and its level.
        let pte = unsafe { ffi::lookup_address(page as _, &mut level) } as *mut u64;
        if pte.is_null() || level != PG_LEVEL_4K {
            return Err("not mapped with 4 KiB pages");
        }
        out.push(pte);
    }
    Ok(out)
}

/// Rewrites each PTE with `update`, then flushes every CPU's TLB.
pub fn set_all(ptes: &[*mut u64], update: impl Fn(u64) -> u64) {
    for &pte in ptes {
        // SAFETY: each PTE belongs to a page of a live vmalloc buffer whose
        // owner (the caller) is the only one that maps or changes it.
        unsafe { ffi::kwasm_pte_write(pte as *mut c_void, update(ffi::kwasm_pte_read(pte as *mut c_void))) };
    }
    // SAFETY: flushing TLBs is always allowed in process context.
    unsafe { ffi::kwasm_flush_tlb_all_cpus() };
}

/// Whether the page of `addr` is mapped writable / executable now.
pub fn protection(addr: *const u8) -> Option<(bool, bool)> {
    let pte = *ptes(((addr as usize) & !(PAGE_SIZE - 1)) as *const u8, PAGE_SIZE).ok()?.first()?;
    // SAFETY: as in set_all, read only.
    let v = unsafe { ffi::kwasm_pte_read(pte as *mut c_void) };
    Some((v & RW != 0, v & nx() == 0))
}
