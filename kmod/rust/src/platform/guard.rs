//! Guard regions: native code's linear memories without bounds checks.
//!
//! Like Wasmtime in user space, each such memory is a 4 GiB reservation of
//! address space plus a guard region (`kwasm_engine::GUARD_*`); pages are
//! mapped into it as the memory grows, and an access anywhere past them
//! faults. Cranelift then emits no bounds checks, and relies on hardware
//! faults for the other traps too (`ud2` for `unreachable` and stack
//! overflow, `#DE` for division by zero, loads through null for null
//! function references).
//!
//! In ring 0 a fault is an oops unless someone claims it. The glue
//! (`kwasm_guard_glue.c`) shows kwasm every #UD and #DE (a die notifier)
//! and every kernel page fault that is about to become an oops (a kprobe on
//! `page_fault_oops`); [`kwasm_rust_wasm_fault`] claims it only when the
//! faulting task is running native wasm (inside its wasm section) and the
//! instruction is in vmalloc memory, where only kwasm's code memory is
//! executable. The glue then makes the faulting context call
//! [`kwasm_rust_wasm_trap`] when the exception returns: in task context
//! again, where Wasmtime's trap handler checks the instruction is a trap
//! site of loaded wasm code and unwinds to the wasm entry, exactly as a
//! trap raised by a libcall does. Why a kprobe on `page_fault_oops`:
//! docs/design.md ("Guard regions").

use super::ffi;
use super::task;
use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Wasmtime's trap handler (`wasmtime_init_traps`).
type TrapHandler = extern "C" fn(pc: usize, fp: usize, has_faulting_addr: bool, faulting_addr: usize);

static HANDLER: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// Wasmtime's custom-platform hook: remembers the handler to call on a
/// wasm fault. Called when the first engine with signals-based traps is
/// built.
#[no_mangle]
pub extern "C" fn wasmtime_init_traps(handler: TrapHandler) -> i32 {
    HANDLER.store(handler as *mut c_void, Ordering::Release);
    0
}

/// Whether this kernel lets kwasm catch native code's faults (the glue
/// found everything it needs at load).
pub fn available() -> bool {
    // SAFETY: reads flags set once at module load.
    unsafe { ffi::kwasm_guard_available() }
}

/// Whether a fault at `ip` is native wasm code's: the current task is
/// inside its wasm section and `ip` is in vmalloc memory. Called by the
/// glue in exception context: no locks, no allocation.
#[no_mangle]
pub extern "C" fn kwasm_rust_wasm_fault(ip: usize) -> bool {
    if HANDLER.load(Ordering::Acquire).is_null() {
        return false;
    }
    let Some(entry) = task::current_entry() else {
        return false;
    };
    // SAFETY: is_vmalloc_addr only compares the address with the range.
    entry.in_section.load(Ordering::Relaxed) && unsafe { ffi::is_vmalloc_addr(ip as *const c_void) }
}

/// Where a claimed fault resumes, in the faulting task, on its stack:
/// Wasmtime unwinds to the wasm entry and reports the trap. Never returns.
#[no_mangle]
pub extern "C" fn kwasm_rust_wasm_trap(pc: usize, fp: usize, addr: usize, has_addr: bool) -> ! {
    let handler = HANDLER.load(Ordering::Acquire);
    // SAFETY: only wasmtime_init_traps stores it, from a TrapHandler, and
    // a fault is only claimed once it is set.
    let handler: TrapHandler = unsafe { core::mem::transmute(handler) };
    handler(pc, fp, has_addr, addr);
    // Wasmtime returned: the instruction is not a trap site of wasm code
    // it knows. The kernel would have oopsed at the fault; so do we.
    panic!("fault in native code at {pc:#x} (address {addr:#x}) that is not a wasm trap site");
}

/// Address space all linear memories may reserve together: a quarter of
/// the vmalloc space, so kwasm never starves the rest of the kernel
/// (32 TiB of vmalloc space on 4-level paging: 8 TiB, about 2000 guarded
/// memories; explicit-bounds memories reserve only what they may hold).
fn budget() -> usize {
    // SAFETY: reads two constants.
    (unsafe { ffi::kwasm_vmalloc_size() } as usize) / 4
}

static RESERVED: AtomicUsize = AtomicUsize::new(0);

/// The address space linear memories hold now.
pub fn reserved_bytes() -> usize {
    RESERVED.load(Ordering::Relaxed)
}

/// A range of vmalloc address space, mapped only where pages were added.
pub struct Reservation {
    area: *mut c_void,
    base: *mut u8,
    len: usize,
}

impl Reservation {
    /// Holds nothing (what a memory leaves behind while it is dropped).
    pub const EMPTY: Reservation = Reservation {
        area: core::ptr::null_mut(),
        base: core::ptr::null_mut(),
        len: 0,
    };

    /// Reserves `len` bytes (page-aligned), or says why not.
    pub fn new(len: usize) -> Result<Reservation, &'static str> {
        if !available() {
            return Err("this kernel does not let kwasm catch faults of native code");
        }
        if RESERVED.fetch_add(len, Ordering::Relaxed).saturating_add(len) > budget() {
            RESERVED.fetch_sub(len, Ordering::Relaxed);
            return Err("the address space kwasm may reserve is all in use");
        }
        let mut base = core::ptr::null_mut();
        // SAFETY: process context; on success the area is ours until
        // kwasm_guard_release.
        let area = unsafe { ffi::kwasm_guard_reserve(len as _, &mut base) };
        if area.is_null() {
            RESERVED.fetch_sub(len, Ordering::Relaxed);
            return Err("the kernel has no address space left to reserve");
        }
        Ok(Reservation {
            area,
            base: base.cast(),
            len,
        })
    }

    pub fn base(&self) -> *mut u8 {
        self.base
    }

    /// Maps `pages` (from [`page_alloc`]) at `offset`, which must be
    /// page-aligned and not mapped yet. On failure nothing new is mapped
    /// that [`Drop`] would not unmap; the caller still owns the pages.
    pub fn map(&mut self, offset: usize, pages: &[*mut c_void]) -> Result<(), i32> {
        assert!(offset + pages.len() * super::pte::PAGE_SIZE <= self.len);
        // SAFETY: the range lies in our reservation and is unmapped; the
        // pages are ours and now also mapped here until release.
        ffi::int_result(unsafe {
            ffi::kwasm_guard_map((self.base as usize + offset) as _, pages.as_ptr() as *mut *mut c_void, pages.len() as _)
        })
    }

    /// Unmaps `count` pages at `offset` (mapped by [`Reservation::map`],
    /// or never mapped) and flushes every CPU's TLB: the caller may free
    /// the pages afterwards.
    pub fn unmap(&mut self, offset: usize, count: usize) {
        if count == 0 {
            return;
        }
        assert!(offset + count * super::pte::PAGE_SIZE <= self.len);
        // SAFETY: the range lies in our reservation; its page tables exist
        // where pages were mapped (clearing an absent PTE is a no-op after
        // the walk allocates its table, which the kernel keeps as for any
        // vmalloc range).
        let _ = unsafe { ffi::kwasm_guard_unmap((self.base as usize + offset) as _, count as _) };
        // SAFETY: flushing TLBs is always allowed in process context.
        unsafe { ffi::kwasm_flush_tlb_all_cpus() };
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.area.is_null() {
            return;
        }
        // SAFETY: the area is ours and nothing runs in it any more; the
        // kernel unmaps it as vfree does (TLBs flushed before the range is
        // reused). The caller frees the pages afterwards.
        unsafe { ffi::kwasm_guard_release(self.area) };
        RESERVED.fetch_sub(self.len, Ordering::Relaxed);
    }
}

// SAFETY: the reservation is plain address space owned by one memory.
unsafe impl Send for Reservation {}
// SAFETY: shared references only read the base.
unsafe impl Sync for Reservation {}

/// A zeroed page charged to the memory cgroup, or null (no OOM killer).
pub fn page_alloc() -> *mut c_void {
    // SAFETY: may sleep: process context outside the wasm section.
    unsafe { ffi::kwasm_guard_page_alloc() }
}

/// Frees a page of [`page_alloc`] that nothing maps any more.
pub fn page_free(page: *mut c_void) {
    // SAFETY: the caller's contract.
    unsafe { ffi::kwasm_guard_page_free(page) }
}
