//! Kernel memory a program holds, counted as its process's own, and the
//! linear memories Wasmtime runs it in.
//!
//! A program's linear memories, tables and code are kernel allocations:
//! they are charged to the caller's memory cgroup (`GFP_KERNEL_ACCOUNT`),
//! but by themselves they are in no process's resident set, so the OOM
//! killer — which ranks processes by RSS — would pass over a kwasm program
//! holding gigabytes and kill an innocent process instead. A
//! [`MemoryAccount`] adds what a run holds to its process's anonymous-page
//! counter (`RssAnon` and `VmRSS` in `/proc/PID/status`, what `ps`, `top`
//! and the OOM killer's badness read), and takes it back when the memory
//! is freed; it keeps the `mm_struct` (not its mappings) so the counter is
//! balanced before the kernel checks it when the process is gone.
//!
//! Linear memory itself ([`KernelMemoryCreator`]) is zeroed kernel memory
//! that is refused rather than taken from a machine that cannot spare it:
//! `memory.grow` returns -1 to the program that asked, on either engine,
//! inside a memory cgroup or not, when the growth would leave less than
//! [`reserve`] of the machine's memory available, and when reclaim cannot
//! find the pages (`__GFP_RETRY_MAYFAIL`: no OOM killer). A memory is a
//! [`MappedLinearMemory`]: a reservation of address space with pages
//! mapped at its start as it grows, so it never moves and growth never
//! copies it. Native code without bounds checks gets a 4 GiB reservation
//! and a guard region after it (`guard`); a memory with explicit bounds
//! checks (Pulley, `--bounds-checks explicit`) reserves only what it could
//! ever hold. Only on a kernel where kwasm cannot reserve address space is
//! an explicit memory a [`VmallocLinearMemory`], one vmalloc block that
//! moves when it grows.

use super::guard::{self, Reservation};
use super::pte::PAGE_SIZE;
use super::{ffi, sched, section};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};
use wasmtime::{format_err, LinearMemory, MemoryCreator, MemoryType, Result};

/// A wasm32 memory's largest size.
const MAX_LINEAR_MEMORY: usize = 1 << 32;
/// Bytes copied between chances to reschedule when a memory moves.
const COPY_CHUNK: usize = 16 << 20;
/// Pages a guarded memory maps at a time (then lets others run).
const MAP_BATCH: usize = 512;
/// The least memory growth leaves available, and the share of RAM it is
/// at least (see [`reserve`]).
const MIN_RESERVE: usize = 32 << 20;
const RESERVE_SHARE: usize = 32;

/// Memory a linear memory's growth must leave available to the rest of
/// the machine: 1/32 of RAM, at least 32 MiB. Taking the last of it would
/// push every other allocation into direct reclaim and the OOM killer's
/// reach, and that is where the kernel is weakest (on 6.12, reclaim and a
/// pending vmalloc purge can deadlock: docs/reliability.md).
fn reserve() -> usize {
    (total_ram() / RESERVE_SHARE).max(MIN_RESERVE)
}

/// The machine's RAM in bytes.
fn total_ram() -> usize {
    // SAFETY: reads a counter.
    unsafe { ffi::kwasm_total_ram_pages() as usize * PAGE_SIZE }
}

/// Whether `len` more bytes leave the machine its reserve.
fn can_spare(len: usize) -> bool {
    // SAFETY: si_mem_available() only reads counters.
    let available = unsafe { ffi::kwasm_mem_available_pages() } as usize * PAGE_SIZE;
    available.saturating_sub(len) >= reserve()
}

fn pages(bytes: usize) -> usize {
    bytes.div_ceil(PAGE_SIZE)
}

/// What every account holds together (`/sys/class/misc/kwasm/memory_bytes`).
static HELD: AtomicUsize = AtomicUsize::new(0);

/// The kernel memory all programs hold now.
pub fn held_bytes() -> usize {
    HELD.load(Ordering::Relaxed)
}

/// The kernel memory one run (or session) holds for its process.
pub struct MemoryAccount {
    /// The process's `mm_struct`, grabbed; null for a caller with none.
    mm: *mut c_void,
    bytes: AtomicUsize,
}

// SAFETY: `mm` is only passed to the kernel's counter and mmdrop, which
// are safe from any task; the byte count is atomic.
unsafe impl Send for MemoryAccount {}
// SAFETY: as Send.
unsafe impl Sync for MemoryAccount {}

impl MemoryAccount {
    /// An account charging the calling process.
    pub fn for_current() -> Arc<MemoryAccount> {
        // SAFETY: reads and grabs current->mm; no other effect.
        let mm = unsafe { ffi::kwasm_mm_grab_current() };
        Arc::new(MemoryAccount {
            mm,
            bytes: AtomicUsize::new(0),
        })
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn charge(&self, bytes: usize) {
        HELD.fetch_add(bytes, Ordering::Relaxed);
        let old = self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.count_pages(pages(old.saturating_add(bytes)) as isize - pages(old) as isize);
    }

    pub fn uncharge(&self, bytes: usize) {
        HELD.fetch_sub(bytes, Ordering::Relaxed);
        let old = self.bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.count_pages(pages(old.saturating_sub(bytes)) as isize - pages(old) as isize);
    }

    fn count_pages(&self, delta: isize) {
        if delta != 0 && !self.mm.is_null() {
            // SAFETY: mm is grabbed until drop; the counter takes any task.
            unsafe { ffi::kwasm_mm_add_rss(self.mm, delta as _) };
        }
    }
}

impl Drop for MemoryAccount {
    fn drop(&mut self) {
        // Everything charged is given back before the process's counters
        // may be checked (when the last reference to its mm goes).
        self.uncharge(self.bytes());
        if !self.mm.is_null() {
            // SAFETY: grabbed in for_current, dropped once here.
            unsafe { ffi::kwasm_mm_drop(self.mm) };
        }
    }
}

/// Bytes charged to an account for as long as this lives.
pub struct Charge {
    account: Arc<MemoryAccount>,
    bytes: usize,
}

impl Charge {
    pub fn new(account: &Arc<MemoryAccount>, bytes: usize) -> Charge {
        account.charge(bytes);
        Charge {
            account: account.clone(),
            bytes,
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.account.uncharge(self.bytes);
    }
}

/// A zeroed, page-aligned block of `kwasm_linear_alloc`, charged to an
/// account.
struct Block {
    ptr: NonNull<u8>,
    len: usize,
    _charge: Charge,
}

impl Block {
    fn new(len: usize, account: &Arc<MemoryAccount>) -> Option<Block> {
        if !can_spare(len) {
            return None;
        }
        // SAFETY: vmalloc of any size; null on failure. It may sleep, so
        // the wasm section is left first (growth runs from wasm).
        let ptr = section::suspended(|| unsafe { ffi::kwasm_linear_alloc(len as _) });
        Some(Block {
            ptr: NonNull::new(ptr.cast())?,
            len,
            _charge: Charge::new(account, len),
        })
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: ptr came from kwasm_linear_alloc (vmalloc) and is freed
        // once; vfree may sleep, so outside the wasm section.
        section::suspended(|| unsafe { ffi::kvfree(self.ptr.as_ptr() as *const c_void) });
    }
}

/// Makes the linear memories of one run's engine.
pub struct KernelMemoryCreator {
    account: Arc<MemoryAccount>,
    /// The run's cap on each memory, if any: capacity never goes beyond it.
    cap: Option<usize>,
}

impl KernelMemoryCreator {
    pub fn new(account: Arc<MemoryAccount>, cap: Option<usize>) -> KernelMemoryCreator {
        KernelMemoryCreator { account, cap }
    }
}

// SAFETY: every memory is zero-filled and at least `minimum` bytes, owned
// by its Wasmtime memory. A mapped memory never moves, and everything from
// its base to its reservation + guard is ours: mapped pages up to the
// memory's size, unmapped (faulting) address space after them. Wasmtime
// asks for a guard region only with a reservation (refused otherwise).
unsafe impl MemoryCreator for KernelMemoryCreator {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let reservation = reserved_size_in_bytes.unwrap_or(0);
        let maximum = [maximum, self.cap, (reservation != 0).then_some(reservation)]
            .into_iter()
            .flatten()
            .fold(MAX_LINEAR_MEMORY, usize::min);
        if minimum > maximum {
            return Err(alloc::format!("a linear memory of {minimum} bytes is over its limit of {maximum}"));
        }
        if reservation == 0 && guard_size_in_bytes != 0 {
            return Err("a guard region needs a reservation".into());
        }
        if reservation != 0 {
            let memory = MappedLinearMemory::new(reservation, guard_size_in_bytes, self.account.clone(), maximum)?;
            return finish(memory, minimum);
        }
        // Explicit bounds checks: no guard region, and a reservation of what
        // the memory could ever hold — its maximum, and never more than the
        // machine's RAM, past which growth is refused anyway (`can_spare`).
        // Growing in place needs no second copy of the memory beside the
        // first, and no time copying it.
        let ceiling = maximum.min(pages(total_ram()) * PAGE_SIZE);
        if guard::available() {
            // At least a page: a memory whose maximum is 0 still has a base.
            let reserved = ceiling.max(PAGE_SIZE);
            let memory = MappedLinearMemory::new(reserved, 0, self.account.clone(), ceiling)?;
            return finish(memory, minimum);
        }
        let memory = VmallocLinearMemory {
            block: None,
            size: 0,
            maximum,
            account: self.account.clone(),
        };
        finish(memory, minimum)
    }
}

/// `memory` grown to its first `minimum` bytes.
fn finish(mut memory: impl LinearMemory + 'static, minimum: usize) -> Result<Box<dyn LinearMemory>, String> {
    memory
        .grow_to(minimum)
        .map_err(|_| alloc::format!("cannot allocate {minimum} bytes of linear memory"))?;
    Ok(Box::new(memory))
}

/// A linear memory at a fixed address: a reservation of address space
/// (its largest size, plus the guard region if it has one), with zeroed
/// pages mapped at its start as it grows. It never moves, and nothing is
/// copied.
pub struct MappedLinearMemory {
    reservation: Reservation,
    /// The pages mapped, in order from the base.
    pages: Vec<*mut c_void>,
    size: usize,
    /// At most the reservation (see `new_memory`).
    maximum: usize,
    account: Arc<MemoryAccount>,
}

// SAFETY: the reservation and pages are owned by this memory, which
// Wasmtime uses from one thread at a time.
unsafe impl Send for MappedLinearMemory {}
// SAFETY: as Send; shared references only read sizes and the base.
unsafe impl Sync for MappedLinearMemory {}

impl MappedLinearMemory {
    fn new(
        reservation: usize,
        guard: usize,
        account: Arc<MemoryAccount>,
        maximum: usize,
    ) -> Result<MappedLinearMemory, String> {
        let len = pages(reservation.saturating_add(guard)) * PAGE_SIZE;
        let reservation = section::suspended(|| Reservation::new(len))
            .map_err(|why| alloc::format!("cannot reserve address space for a linear memory: {why}"))?;
        Ok(MappedLinearMemory {
            reservation,
            pages: Vec::new(),
            size: 0,
            maximum,
            account,
        })
    }

    fn mapped(&self) -> usize {
        self.pages.len() * PAGE_SIZE
    }

    /// Maps zeroed pages until `len` bytes are mapped (a batch at a time,
    /// letting others run between batches); false, with nothing more
    /// mapped than before, if the machine cannot spare them. (A page
    /// mapped past the memory's size would let wasm reach it: every byte
    /// past the size must fault.)
    fn map_to(&mut self, len: usize) -> bool {
        let before = self.pages.len();
        // Reserved up front: the pushes below never allocate.
        if !can_spare(len - self.mapped()) || self.pages.try_reserve(len / PAGE_SIZE - before).is_err() {
            return false;
        }
        while self.pages.len() < len / PAGE_SIZE {
            // A batch joins `pages` (and the account) before it is mapped,
            // so a failure anywhere is undone by one unmap_from.
            let first = self.pages.len();
            let n = (len / PAGE_SIZE - first).min(MAP_BATCH);
            let mut complete = true;
            for _ in 0..n {
                let page = guard::page_alloc();
                if page.is_null() {
                    complete = false;
                    break;
                }
                self.pages.push(page);
            }
            self.account.charge((self.pages.len() - first) * PAGE_SIZE);
            if !complete || !can_spare(0) || self.reservation.map(first * PAGE_SIZE, &self.pages[first..]).is_err() {
                self.unmap_from(before);
                return false;
            }
            sched::cond_resched();
        }
        true
    }

    /// Unmaps and frees every page from the `first`th on (including any
    /// that were never mapped).
    fn unmap_from(&mut self, first: usize) {
        let count = self.pages.len() - first;
        if count == 0 {
            return;
        }
        self.reservation.unmap(first * PAGE_SIZE, count);
        free_pages(self.pages.drain(first..));
        self.account.uncharge(count * PAGE_SIZE);
    }
}

/// Frees pages nothing maps any more, letting others run between batches.
fn free_pages(pages: impl Iterator<Item = *mut c_void>) {
    for (i, page) in pages.enumerate() {
        guard::page_free(page);
        if i % MAP_BATCH == MAP_BATCH - 1 {
            sched::cond_resched();
        }
    }
}

impl Drop for MappedLinearMemory {
    fn drop(&mut self) {
        let mapped = self.mapped();
        let pages = core::mem::take(&mut self.pages);
        let reservation = core::mem::replace(&mut self.reservation, Reservation::EMPTY);
        section::suspended(|| {
            // Unmapped first, then freed (as vfree does).
            drop(reservation);
            free_pages(pages.into_iter());
        });
        self.account.uncharge(mapped);
    }
}

// SAFETY: as_ptr is the reservation's base, which never moves; the first
// byte_size() bytes are mapped zeroed pages owned by this memory, and
// everything after them up to the end of the reservation faults.
unsafe impl LinearMemory for MappedLinearMemory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        pages(self.maximum) * PAGE_SIZE
    }

    fn grow_to(&mut self, new_size: usize) -> Result<()> {
        if new_size > self.maximum {
            return Err(format_err!("linear memory cannot grow beyond {} bytes", self.maximum));
        }
        let want = pages(new_size) * PAGE_SIZE;
        if want > self.mapped() && !section::suspended(|| self.map_to(want)) {
            return Err(format_err!("no kernel memory for {new_size} bytes of linear memory"));
        }
        self.size = self.size.max(new_size);
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.reservation.base()
    }
}

/// A linear memory in one vmalloc block, moved to a bigger block (double
/// the capacity while that fits the memory's maximum, else just enough)
/// when it outgrows its own: explicit bounds checks on a kernel where
/// kwasm cannot reserve address space (see `guard::available`). Growth
/// near the machine's limit needs the old block and the new one at once.
pub struct VmallocLinearMemory {
    block: Option<Block>,
    size: usize,
    maximum: usize,
    account: Arc<MemoryAccount>,
}

// SAFETY: the block is owned by this memory, which Wasmtime uses from one
// thread at a time.
unsafe impl Send for VmallocLinearMemory {}
// SAFETY: as Send; shared references only read sizes and the pointer.
unsafe impl Sync for VmallocLinearMemory {}

impl VmallocLinearMemory {
    fn capacity(&self) -> usize {
        self.block.as_ref().map_or(0, |b| b.len)
    }
}

// SAFETY: as_ptr points at byte_capacity() zeroed bytes owned by this
// memory (or is dangling with capacity 0); growth within the capacity does
// not move it.
unsafe impl LinearMemory for VmallocLinearMemory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        self.capacity()
    }

    fn grow_to(&mut self, new_size: usize) -> Result<()> {
        if new_size <= self.capacity() {
            self.size = self.size.max(new_size);
            return Ok(());
        }
        if new_size > self.maximum {
            return Err(format_err!("linear memory cannot grow beyond {} bytes", self.maximum));
        }
        let exact = pages(new_size) * PAGE_SIZE;
        let roomy = (self.capacity().saturating_mul(2)).clamp(exact, pages(self.maximum) * PAGE_SIZE);
        let block = Block::new(roomy, &self.account)
            .or_else(|| (roomy > exact).then(|| Block::new(exact, &self.account)).flatten())
            .ok_or_else(|| format_err!("no kernel memory for {new_size} bytes of linear memory"))?;
        if let Some(old) = &self.block {
            copy(old, &block, self.size);
        }
        self.block = Some(block);
        self.size = new_size;
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.block
            .as_ref()
            .map_or(NonNull::<u128>::dangling().cast(), |b| b.ptr)
            .as_ptr()
    }
}

/// Copies the first `len` bytes of `from` into `to`, outside the wasm
/// section and in chunks (a memory can be gigabytes: let others run
/// between them on a non-preemptible kernel).
fn copy(from: &Block, to: &Block, len: usize) {
    section::suspended(|| {
        let mut done = 0;
        while done < len {
            let n = (len - done).min(COPY_CHUNK);
            // SAFETY: both blocks hold at least len bytes (to is bigger
            // than from, which holds the memory's size) and are distinct
            // allocations.
            unsafe {
                core::ptr::copy_nonoverlapping(from.ptr.as_ptr().add(done), to.ptr.as_ptr().add(done), n);
            }
            done += n;
            sched::cond_resched();
        }
    });
}
