//! The global allocator: every Rust allocation in the module is a
//! `kvmalloc`, so small ones come from the slab and large ones fall back to
//! vmalloc. Allocations are charged to the caller's memory cgroup
//! (`GFP_KERNEL_ACCOUNT`) and fail quietly (`__GFP_NOWARN`): running out is
//! an error for the caller, not a warning in the kernel log.

use super::ffi;
use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::ptr::null_mut;

/// Alignment every kmalloc/vmalloc block has (`ARCH_KMALLOC_MINALIGN` on
/// x86-64).
const MIN_ALIGN: usize = 8;
const PAGE_SIZE: usize = 4096;
/// Largest kmalloc served from a slab (`KMALLOC_MAX_CACHE_SIZE`, SLUB): such
/// blocks are naturally aligned when their size is a power of two. Anything
/// larger comes from the page allocator or vmalloc, page aligned.
const KMALLOC_MAX_CACHE_SIZE: usize = 2 * PAGE_SIZE;
/// kvmalloc() warns (WARN_ON_ONCE) above INT_MAX; refuse before asking.
const MAX_SIZE: usize = i32::MAX as usize;

/// How many bytes to ask `kvmalloc` for so the block satisfies `layout`, or
/// `None` if no kernel block can.
pub const fn kvmalloc_size(layout: Layout) -> Option<usize> {
    let (size, align) = (layout.size(), layout.align());
    if size > MAX_SIZE || align > PAGE_SIZE {
        return None;
    }
    let size = if size == 0 { 1 } else { size };
    if align <= MIN_ALIGN || size > KMALLOC_MAX_CACHE_SIZE {
        return Some(size);
    }
    // A slab block of a power-of-two size is aligned to that size.
    let rounded = if size > align { size } else { align };
    Some(rounded.next_power_of_two())
}

pub struct KernelAllocator;

// SAFETY: alloc returns blocks of at least layout.size() bytes aligned to
// layout.align() (kvmalloc_size), or null; dealloc frees exactly the blocks
// alloc returned. kvmalloc/kvfree are thread-safe.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match kvmalloc_size(layout) {
            // SAFETY: kvmalloc accepts any size up to INT_MAX and returns
            // null on failure.
            Some(size) => unsafe { ffi::kwasm_kvmalloc(size) as *mut u8 },
            None => null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: ptr came from kwasm_kvmalloc (GlobalAlloc contract) and
        // kvfree frees both kmalloc and vmalloc blocks.
        unsafe { ffi::kvfree(ptr as *const c_void) }
    }
}

#[global_allocator]
static ALLOCATOR: KernelAllocator = KernelAllocator;
