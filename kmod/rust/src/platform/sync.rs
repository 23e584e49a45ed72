//! Wasmtime's locks (`custom-sync-primitives`): a word each, zero when
//! unlocked. Critical sections inside Wasmtime are short (registries, type
//! tables); a waiter spins briefly, then yields the CPU with
//! `cond_resched()` so the holder can run even on a non-preemptible kernel.
//! Every caller is in process context with preemption enabled: wasm code and
//! the host calls it makes never run Wasmtime with preemption off.

use super::sched;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Rwlock word: the writer bit, or the number of readers.
const WRITER: usize = 1 << (usize::BITS - 1);

/// # Safety
/// `lock` points to a live, word-aligned lock word owned by Wasmtime.
unsafe fn word<'a>(lock: *mut usize) -> &'a AtomicUsize {
    // SAFETY: per this function's contract; AtomicUsize has usize's layout.
    unsafe { AtomicUsize::from_ptr(lock) }
}

fn wait(spins: &mut u32) {
    *spins += 1;
    if (*spins).is_multiple_of(64) {
        sched::cond_resched();
    } else {
        core::hint::spin_loop();
    }
}

#[no_mangle]
pub unsafe extern "C" fn wasmtime_sync_lock_acquire(lock: *mut usize) {
    // SAFETY: Wasmtime passes its own lock word.
    let w = unsafe { word(lock) };
    let mut spins = 0;
    while w
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        wait(&mut spins);
    }
}

#[no_mangle]
pub unsafe extern "C" fn wasmtime_sync_lock_release(lock: *mut usize) {
    // SAFETY: as above.
    unsafe { word(lock) }.store(0, Ordering::Release);
}

/// Nothing to free: the lock is just its word.
#[no_mangle]
pub unsafe extern "C" fn wasmtime_sync_lock_free(_lock: *mut usize) {}

#[no_mangle]
pub unsafe extern "C" fn wasmtime_sync_rwlock_read(lock: *mut usize) {
    // SAFETY: as above.
    let w = unsafe { word(lock) };
    let mut spins = 0;
    loop {
        let v = w.load(Ordering::Relaxed);
        if v & WRITER == 0
            && w.compare_exchange_weak(v, v + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            return;
        }
        wait(&mut spins);
    }
}

#[no_mangle]
pub unsafe extern "C" fn wasmtime_sync_rwlock_read_release(lock: *mut usize) {
    // SAFETY: as above.
    unsafe { word(lock) }.fetch_sub(1, Ordering::Release);
}

#[no_mangle]
pub unsafe extern "C" fn wasmtime_sync_rwlock_write(lock: *mut usize) {
    // SAFETY: as above.
    let w = unsafe { word(lock) };
    let mut spins = 0;
    while w
        .compare_exchange_weak(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        wait(&mut spins);
    }
}

#[no_mangle]
pub unsafe extern "C" fn wasmtime_sync_rwlock_write_release(lock: *mut usize) {
    // SAFETY: as above.
    unsafe { word(lock) }.store(0, Ordering::Release);
}

#[no_mangle]
pub unsafe extern "C" fn wasmtime_sync_rwlock_free(_lock: *mut usize) {}

/// kwasm's own lock around a `T`, on the same word and waiting as
/// Wasmtime's: for short sections in process context (which may allocate).
pub struct Lock<T> {
    word: AtomicUsize,
    value: core::cell::UnsafeCell<T>,
}

// SAFETY: the word serialises every access to `value`.
unsafe impl<T: Send> Sync for Lock<T> {}

impl<T> Lock<T> {
    pub const fn new(value: T) -> Lock<T> {
        Lock {
            word: AtomicUsize::new(0),
            value: core::cell::UnsafeCell::new(value),
        }
    }

    /// Runs `f` with the value, holding the lock.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let lock = self.word.as_ptr();
        // SAFETY: our own lock word, alive as long as self.
        unsafe { wasmtime_sync_lock_acquire(lock) };
        // SAFETY: the lock is held: no other reference to the value exists.
        let r = f(unsafe { &mut *self.value.get() });
        // SAFETY: acquired above.
        unsafe { wasmtime_sync_lock_release(lock) };
        r
    }
}
