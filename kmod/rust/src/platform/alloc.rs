//! The global allocator: every Rust allocation in the module is a
//! `kvmalloc`, so small ones come from the slab and large ones fall back to
//! vmalloc; page-aligned requests (Wasmtime's code images) always come from
//! vmalloc, whose 4 KiB PTEs `codemem` can flip to read-only+executable.
//! Allocations are charged to the caller's memory cgroup
//! (`GFP_KERNEL_ACCOUNT`) and fail quietly (`__GFP_NOWARN`): running out is
//! an error for the caller, not a warning in the kernel log. They may sleep,
//! so they leave a wasm section first (Wasmtime's libcalls allocate while
//! native code is running).

use super::{ffi, section};
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

/// Where a block comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    /// `kvmalloc(size)`
    Kvmalloc(usize),
    /// `vmalloc(size)`: page-aligned, its own pages.
    Vmalloc(usize),
}

/// The block to allocate for `layout`, or `None` if no kernel block can
/// satisfy it.
pub const fn source(layout: Layout) -> Option<Source> {
    if layout.align() == PAGE_SIZE {
        if layout.size() > MAX_SIZE {
            return None;
        }
        let pages = layout.size().div_ceil(PAGE_SIZE);
        return Some(Source::Vmalloc(if pages == 0 { PAGE_SIZE } else { pages * PAGE_SIZE }));
    }
    match kvmalloc_size(layout) {
        Some(size) => Some(Source::Kvmalloc(size)),
        None => None,
    }
}

pub struct KernelAllocator;

// SAFETY: alloc returns blocks of at least layout.size() bytes aligned to
// layout.align() (kvmalloc_size), or null; dealloc frees exactly the blocks
// alloc returned. kvmalloc/kvfree are thread-safe.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        section::suspended(|| match source(layout) {
            // SAFETY: kvmalloc/vmalloc accept any size up to INT_MAX and
            // return null on failure; we are outside any wasm section.
            Some(Source::Kvmalloc(size)) => unsafe { ffi::kwasm_kvmalloc(size) as *mut u8 },
            Some(Source::Vmalloc(size)) => unsafe { ffi::kwasm_vmalloc(size as _) as *mut u8 },
            None => null_mut(),
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: ptr came from kwasm_kvmalloc or kwasm_vmalloc (GlobalAlloc
        // contract) and kvfree frees both kinds of block. vfree may sleep,
        // so the wasm section is left first.
        section::suspended(|| unsafe { ffi::kvfree(ptr as *const c_void) })
    }
}

#[global_allocator]
static ALLOCATOR: KernelAllocator = KernelAllocator;
