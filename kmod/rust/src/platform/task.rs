//! Per-task state of a running instance: Wasmtime's thread-local slots
//! (`wasmtime_tls_get/set`) and whether the task is inside a wasm section
//! (FPU on, preemption off; see `section`).
//!
//! A task running wasm can be preempted and another task can run wasm on the
//! same CPU, so this state must follow the task, not the CPU. Each running
//! instance claims an entry keyed by its `task_struct` for the whole ioctl
//! ([`TaskClaim`]); lookups probe a small open-addressed table without locks
//! (a task only ever touches its own entry). The table size bounds the
//! module's `max_instances` parameter.

use super::ffi;
use core::ffi::c_void;
use core::ptr::null_mut;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// Most instances running at once.
pub const MAX_RUNNING: usize = 256;
/// Wasmtime uses slot 0 (and slot 1 with the component model's async).
const SLOTS: usize = 2;

pub struct Entry {
    task: AtomicPtr<c_void>,
    values: [AtomicPtr<u8>; SLOTS],
    /// Inside a wasm section (see `section`).
    pub in_section: AtomicBool,
    /// MSR_IA32_S_CET as it was before the section turned IBT off.
    pub saved_cet: AtomicU64,
    /// What `kwasm ps` shows about the run (see [`Status`]).
    pub status: Status,
}

/// A running program as others see it. Written only by the task that owns
/// the entry; `published` makes the fixed fields visible together.
pub struct Status {
    published: AtomicBool,
    pub pid: AtomicI32,
    pub engine: AtomicU32,
    pub state: AtomicU32,
    pub memory_bytes: AtomicU64,
    pub memory_limit: AtomicU64,
    pub cpu_ns: AtomicU64,
    pub started_ns: AtomicU64,
    name: [AtomicU8; NAME_LEN],
}

/// Bytes of the program name kept.
pub const NAME_LEN: usize = 64;

impl Status {
    const fn new() -> Status {
        Status {
            published: AtomicBool::new(false),
            pid: AtomicI32::new(0),
            engine: AtomicU32::new(0),
            state: AtomicU32::new(0),
            memory_bytes: AtomicU64::new(0),
            memory_limit: AtomicU64::new(0),
            cpu_ns: AtomicU64::new(0),
            started_ns: AtomicU64::new(0),
            name: [const { AtomicU8::new(0) }; NAME_LEN],
        }
    }

    /// Sets the name (cut to fit, NUL-padded) and makes the entry visible.
    pub fn publish(&self, name: &[u8]) {
        for (i, slot) in self.name.iter().enumerate() {
            slot.store(
                if i + 1 < NAME_LEN {
                    name.get(i).copied().unwrap_or(0)
                } else {
                    0
                },
                Ordering::Relaxed,
            );
        }
        self.published.store(true, Ordering::Release);
    }

    pub fn name(&self) -> [u8; NAME_LEN] {
        core::array::from_fn(|i| self.name[i].load(Ordering::Relaxed))
    }
}

/// Calls `f` for every published entry (a snapshot: programs may end or
/// start meanwhile).
pub fn for_each_published(mut f: impl FnMut(&Status)) {
    for e in &TABLE {
        if e.status.published.load(Ordering::Acquire) {
            f(&e.status);
        }
    }
}

impl Entry {
    const fn new() -> Entry {
        Entry {
            task: AtomicPtr::new(null_mut()),
            values: [const { AtomicPtr::new(null_mut()) }; SLOTS],
            in_section: AtomicBool::new(false),
            saved_cet: AtomicU64::new(0),
            status: Status::new(),
        }
    }
}

static TABLE: [Entry; MAX_RUNNING] = [const { Entry::new() }; MAX_RUNNING];
/// Entries claimed now.
static RUNNING: AtomicUsize = AtomicUsize::new(0);

fn current() -> *mut c_void {
    // SAFETY: reading `current` is valid in any process context.
    unsafe { ffi::kwasm_current() }
}

/// Probe order for a task: start at a hash of its address.
fn probe(task: *mut c_void) -> impl Iterator<Item = usize> {
    let start = ((task as usize) >> 6).wrapping_mul(0x9e37_79b9) % MAX_RUNNING;
    (0..MAX_RUNNING).map(move |i| (start + i) % MAX_RUNNING)
}

fn find(task: *mut c_void) -> Option<&'static Entry> {
    probe(task)
        .map(|i| &TABLE[i])
        .find(|e| e.task.load(Ordering::Acquire) == task)
}

/// The calling task's entry, if it is running an instance.
pub fn current_entry() -> Option<&'static Entry> {
    find(current())
}

/// The current task's claim on an entry; released (and cleared) on drop.
pub struct TaskClaim {
    entry: &'static Entry,
}

impl TaskClaim {
    /// Claims an entry for the current task; `None` if `limit` instances
    /// (at most [`MAX_RUNNING`]) are running already. A task claims at most
    /// one entry: an ioctl runs one instance.
    pub fn claim(limit: usize) -> Option<TaskClaim> {
        let limit = limit.min(MAX_RUNNING);
        if RUNNING.fetch_add(1, Ordering::AcqRel) >= limit {
            RUNNING.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let task = current();
        for i in probe(task) {
            let e = &TABLE[i];
            if e.task
                .compare_exchange(null_mut(), task, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                for v in &e.values {
                    v.store(null_mut(), Ordering::Relaxed);
                }
                e.in_section.store(false, Ordering::Relaxed);
                // SAFETY: reads the current task's tgid.
                e.status
                    .pid
                    .store(unsafe { ffi::kwasm_current_tgid() }, Ordering::Relaxed);
                return Some(TaskClaim { entry: e });
            }
        }
        RUNNING.fetch_sub(1, Ordering::AcqRel);
        None
    }
}

impl TaskClaim {
    /// This run's status, for the run to fill in.
    pub fn status(&self) -> &'static Status {
        &self.entry.status
    }

    /// The run is parked (suspended while its task is in user space): the
    /// entry stays claimed, with its Wasmtime slots, but belongs to no
    /// task, so nothing the task does meanwhile (even another run) finds
    /// it.
    pub fn detach(&self) {
        self.entry.task.store(PARKED, Ordering::Release);
    }

    /// The run goes on in the calling task, which runs no other instance
    /// (the one that parked it, or whoever cancels it).
    pub fn attach(&self) {
        self.entry.task.store(current(), Ordering::Release);
    }
}

/// The owner of a parked run's entry: no task has this address.
const PARKED: *mut c_void = 1 as *mut c_void;

impl Drop for TaskClaim {
    fn drop(&mut self) {
        self.entry.status.published.store(false, Ordering::Release);
        for v in &self.entry.values {
            v.store(null_mut(), Ordering::Relaxed);
        }
        self.entry.task.store(null_mut(), Ordering::Release);
        RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

#[no_mangle]
pub extern "C" fn wasmtime_tls_get(slot: usize) -> *mut u8 {
    match (find(current()), slot < SLOTS) {
        (Some(e), true) => e.values[slot].load(Ordering::Relaxed),
        _ => null_mut(),
    }
}

#[no_mangle]
pub extern "C" fn wasmtime_tls_set(slot: usize, ptr: *mut u8) {
    match (find(current()), slot < SLOTS) {
        (Some(e), true) => e.values[slot].store(ptr, Ordering::Relaxed),
        // Every Wasmtime call runs inside a RUN ioctl that holds a claim.
        _ => pr_err!("wasmtime_tls_set({slot}) outside a running instance"),
    }
}
