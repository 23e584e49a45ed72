//! Executable memory for native code, W^X.
//!
//! No exported kernel API allocates executable memory on 6.x, so: Wasmtime
//! copies the image into a page-aligned vmalloc buffer (the allocator sends
//! page-aligned requests to vmalloc), then [`KernelCodeMemory`] flips the
//! PTEs of its text pages from RW+NX to RO+X in one write each and flushes
//! the TLB on every CPU; before the buffer is freed it restores the original
//! PTEs and flushes again. A page is never writable and executable at once.
//! (Its alias in the kernel's direct map stays writable, as for any vmalloc
//! page; the vmalloc mapping is the only executable one.)

use super::ffi;
use alloc::vec::Vec;
use core::ffi::c_void;
use wasmtime::{CustomCodeMemory, Error, Result};

pub const PAGE_SIZE: usize = 4096;
/// PTE bit (x86-64 architecture): writable.
const PTE_RW: u64 = 1 << 1;

/// The no-execute PTE bit, if this CPU supports it (else the bit is
/// reserved and must stay clear).
fn pte_nx() -> u64 {
    // SAFETY: reads a kernel constant mask.
    unsafe { ffi::kwasm_pte_nx() }
}
/// `PG_LEVEL_4K` of `lookup_address`.
const PG_LEVEL_4K: u32 = 1;

pub struct KernelCodeMemory;

/// The 4 KiB PTEs of `[ptr, ptr + len)`, which must be vmalloc pages.
fn ptes(ptr: *const u8, len: usize) -> Result<Vec<*mut u64>> {
    // SAFETY: is_vmalloc_addr only compares the address with the vmalloc
    // range.
    if !unsafe { ffi::is_vmalloc_addr(ptr as *const c_void) } {
        return Err(Error::msg("code memory is not a vmalloc mapping"));
    }
    let mut out = Vec::new();
    for page in (ptr as usize..ptr as usize + len).step_by(PAGE_SIZE) {
        let mut level = 0u32;
        // SAFETY: lookup_address walks the kernel page tables for a mapped
        // vmalloc address; it returns the PTE and its level.
        let pte = unsafe { ffi::lookup_address(page as _, &mut level) } as *mut u64;
        if pte.is_null() || level != PG_LEVEL_4K {
            return Err(Error::msg("code memory is not mapped with 4 KiB pages"));
        }
        out.push(pte);
    }
    Ok(out)
}

fn set_all(ptes: &[*mut u64], update: impl Fn(u64) -> u64) {
    for &pte in ptes {
        // SAFETY: each PTE belongs to a page of a live vmalloc buffer that
        // Wasmtime owns and that no other code maps or changes.
        unsafe { ffi::kwasm_pte_write(pte as *mut c_void, update(ffi::kwasm_pte_read(pte as *mut c_void))) };
    }
    // SAFETY: flushing TLBs is always allowed in process context.
    unsafe { ffi::kwasm_flush_tlb_all_cpus() };
    // A session closing drops hundreds of modules in one go (a spec
    // script): let others run between them on a non-preemptible kernel.
    super::sched::cond_resched();
}

impl CustomCodeMemory for KernelCodeMemory {
    fn required_alignment(&self) -> usize {
        PAGE_SIZE
    }

    fn publish_executable(&self, ptr: *const u8, len: usize) -> Result<()> {
        let ptes = ptes(ptr, len)?;
        set_all(&ptes, |v| v & !PTE_RW & !pte_nx());
        Ok(())
    }

    fn unpublish_executable(&self, ptr: *const u8, len: usize) -> Result<()> {
        let ptes = ptes(ptr, len)?;
        set_all(&ptes, |v| v | PTE_RW | pte_nx());
        Ok(())
    }
}

/// Whether `addr` is mapped writable / executable now (for the self-test
/// and the W^X test).
pub fn protection(addr: *const u8) -> Option<(bool, bool)> {
    let pte = *ptes(((addr as usize) & !(PAGE_SIZE - 1)) as *const u8, PAGE_SIZE)
        .ok()?
        .first()?;
    // SAFETY: as in set_all, read only.
    let v = unsafe { ffi::kwasm_pte_read(pte as *mut c_void) };
    Some((v & PTE_RW != 0, v & pte_nx() == 0))
}
