//! Running a closure on a private, large stack.
//!
//! The task's kernel stack is 16 KiB and kernel code around an ioctl already
//! uses part of it; Wasmtime's own Rust code and the wasm frames it runs need
//! far more. Each run gets a vmalloc'd stack, which a [`super::fiber`] runs
//! on.
//!
//! Guard pages: vmalloc leaves an unmapped page after every area, which is
//! above a stack; below it lies whatever area comes before, which need not
//! end in a guard (vm_map_ram blocks do not). So the lowest page of each
//! stack is made read-only: an overflow faults there instead of writing
//! into a neighbour. A fault while pushing is a double fault; the kernel's
//! own handler then only knows its task stacks, so every live private stack
//! is registered, and when the kernel dies kwasm says whether the stack
//! pointer was in one, in its guard page, or in the task's own stack.
//!
//! How deep: each stack is painted when made and looked at when freed; the
//! deepest use since the module loaded is in
//! `/sys/class/misc/kwasm/stack_high_water_bytes`, which the soak and the
//! hostile corpus check against the stack's size.

use super::{ffi, pte};
use core::ffi::c_void;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Size of a run's private stack, its guard page included.
pub const STACK_SIZE: usize = 1 << 20;
/// The read-only page at the bottom of each stack.
const GUARD: usize = pte::PAGE_SIZE;

/// What a new stack is filled with: the first word above the guard page
/// that no longer holds it marks the deepest point a run reached.
const PAINT: u64 = u64::from_le_bytes(*b"kwasmstk");

/// The most of a private stack any run or session used (guard excluded).
static HIGH_WATER: AtomicUsize = AtomicUsize::new(0);

/// Bases of the live private stacks (0: free), for the report on a kernel
/// death. Runs and open sessions each have one; beyond this many the rest
/// go unregistered (only the report misses them).
static LIVE: [AtomicUsize; 1024] = [const { AtomicUsize::new(0) }; 1024];

/// One private stack, freed on drop.
pub struct Stack {
    base: *mut u8,
}

impl Stack {
    pub fn new() -> Option<Stack> {
        // SAFETY: plain allocation; null on failure.
        let base = unsafe { ffi::kwasm_vmalloc(STACK_SIZE as _) } as *mut u8;
        if base.is_null() {
            return None;
        }
        let mut stack = Stack { base };
        stack.usable().fill(PAINT);
        let guard = pte::ptes(base, GUARD).ok()?;
        pte::set_all(&guard, |v| v & !pte::RW);
        // Registered in the first free slot, if there is one.
        let _ = LIVE.iter().any(|s| {
            s.compare_exchange(0, base as usize, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        Some(stack)
    }

    /// The lowest address of the stack (its guard page).
    pub fn base(&self) -> *const u8 {
        self.base
    }

    /// One past the highest address of the stack.
    pub fn top(&self) -> *mut u8 {
        self.base.wrapping_add(STACK_SIZE)
    }

    /// The stack above its guard page, as words. Only while nothing runs on
    /// it: when made, and when freed.
    fn usable(&mut self) -> &mut [u64] {
        // SAFETY: `[base + GUARD, base + STACK_SIZE)` is this stack's own
        // writable, page-aligned part, allocated in `new` and freed only by
        // `drop`; callers hold it while no code runs on it.
        unsafe { core::slice::from_raw_parts_mut(self.base.add(GUARD) as *mut u64, (STACK_SIZE - GUARD) / 8) }
    }
}

/// How much of a painted stack was used: what lies above the lowest word
/// that is no longer paint.
fn used(words: &[u64]) -> usize {
    (words.len() - words.iter().take_while(|&&w| w == PAINT).count()) * 8
}

/// The deepest use of any private stack since the module loaded, in bytes.
#[no_mangle]
pub extern "C" fn kwasm_rust_stack_high_water() -> u64 {
    HIGH_WATER.load(Ordering::Relaxed) as u64
}

/// The usable size of a private stack (its guard page excluded), in bytes.
#[no_mangle]
pub extern "C" fn kwasm_rust_stack_size() -> u64 {
    (STACK_SIZE - GUARD) as u64
}

impl Drop for Stack {
    fn drop(&mut self) {
        HIGH_WATER.fetch_max(used(self.usable()), Ordering::Relaxed);
        if let Some(slot) = LIVE.iter().find(|s| s.load(Ordering::Acquire) == self.base as usize) {
            slot.store(0, Ordering::Release);
        }
        // SAFETY: base came from vmalloc and nothing runs on it any more
        // (vfree unmaps the read-only guard page like any other).
        unsafe { ffi::vfree(self.base as *const c_void) }
    }
}

/// Where a stack pointer lies, for the report when the kernel dies.
enum Place {
    /// In a private stack: how far above its guard page.
    Private {
        base: usize,
        used: usize,
    },
    /// In the guard page of a private stack: it overflowed.
    Guard {
        base: usize,
    },
    /// In the calling task's own kernel stack.
    TaskStack,
    Elsewhere,
}

/// Classifies `sp` against the private stacks with these bases and the task
/// stack `[task_lo, task_hi)`.
fn place(sp: usize, bases: impl Iterator<Item = usize>, task_lo: usize, task_hi: usize) -> Place {
    for base in bases.filter(|&b| b != 0) {
        if (base..base + GUARD).contains(&sp) {
            return Place::Guard { base };
        }
        if (base + GUARD..=base + STACK_SIZE).contains(&sp) {
            return Place::Private {
                base,
                used: base + STACK_SIZE - sp,
            };
        }
    }
    if (task_lo..task_hi).contains(&sp) {
        Place::TaskStack
    } else {
        Place::Elsewhere
    }
}

/// The kernel is dying (an oops, a double fault, ...), with `sp` the stack
/// pointer of the context that died: say where that was, so a trace with an
/// empty call trace (the unwinder knows only the kernel's own stacks) can
/// still be placed. Reads atomics and prints; nothing else.
#[no_mangle]
pub extern "C" fn kwasm_rust_die(sp: usize, task_stack_lo: usize, task_stack_hi: usize) {
    let bases = LIVE.iter().map(|s| s.load(Ordering::Acquire));
    match place(sp, bases, task_stack_lo, task_stack_hi) {
        Place::Private { base, used } => pr_emerg!(
            "the dying context's stack pointer {sp:#x} is in a kwasm private stack [{base:#x}, {:#x}), {} KiB of {} used",
            base + STACK_SIZE,
            used / 1024,
            (STACK_SIZE - GUARD) / 1024
        ),
        Place::Guard { base } => pr_emerg!(
            "the dying context's stack pointer {sp:#x} is in the guard page of the kwasm private stack at {base:#x}: it overflowed"
        ),
        Place::TaskStack => pr_emerg!("the dying context's stack pointer {sp:#x} is in the task's own kernel stack"),
        Place::Elsewhere => pr_emerg!("the dying context's stack pointer {sp:#x} is in no kwasm private stack nor the task's stack"),
    }
}
