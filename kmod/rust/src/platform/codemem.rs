//! Executable memory for native code, W^X.
//!
//! No exported kernel API allocates executable memory on 6.x, so: Wasmtime
//! copies the image into a page-aligned vmalloc buffer (the allocator sends
//! page-aligned requests to vmalloc), then [`KernelCodeMemory`] flips the
//! PTEs of its text pages from RW+NX to RO+X in one write each and flushes
//! the TLB on every CPU (`pte`); before the buffer is freed it restores the
//! original PTEs and flushes again. A page is never writable and executable
//! at once. (Its alias in the kernel's direct map stays writable, as for
//! any vmalloc page; the vmalloc mapping is the only executable one.)

use super::pte::{self, PAGE_SIZE};
use wasmtime::{CustomCodeMemory, Error, Result};

pub struct KernelCodeMemory;

fn set_all(ptr: *const u8, len: usize, update: impl Fn(u64) -> u64) -> Result<()> {
    let ptes = pte::ptes(ptr, len).map_err(|why| Error::msg(alloc::format!("code memory is {why}")))?;
    pte::set_all(&ptes, update);
    // A session closing drops hundreds of modules in one go (a spec
    // script): let others run between them on a non-preemptible kernel.
    super::sched::cond_resched();
    Ok(())
}

impl CustomCodeMemory for KernelCodeMemory {
    fn required_alignment(&self) -> usize {
        PAGE_SIZE
    }

    fn publish_executable(&self, ptr: *const u8, len: usize) -> Result<()> {
        set_all(ptr, len, |v| v & !pte::RW & !pte::nx())
    }

    fn unpublish_executable(&self, ptr: *const u8, len: usize) -> Result<()> {
        set_all(ptr, len, |v| v | pte::RW | pte::nx())
    }
}
