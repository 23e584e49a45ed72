//! kwasm_net's pollers: epoll for a wasm program, built the way epoll is.
//!
//! Registering a socket hooks an [`Item`] onto its wait queues
//! (`platform::waiter`). When the socket wakes its waiters, the item's
//! callback pushes it onto the poller's ready stack (lock-free: callbacks
//! run in interrupt context, and only the owning task ever pops) and wakes
//! the task if it sleeps in a wait (on the poller's wait queue, as epoll). A wait takes the whole stack, asks each
//! item's socket for its readiness now, and reports those that are ready:
//! its work is O(ready), whatever the number registered. Level-triggered
//! items that were reported are looked at again by the next wait (they may
//! still be ready without a new wake-up), as epoll does.
//!
//! Everything but the callback runs in calls of the program, one at a time
//! (as everything on a store does), so the item map and the "look again"
//! list need no locks. An item removed while it sits on the ready stack is
//! kept until a wait has popped it. A run's pollers live in its
//! [`NetState`], part of the store's data.

use super::parking::Parking;
use crate::platform::clock;
use crate::platform::file::FileRef;
use crate::platform::sched;
use crate::platform::waiter::{WaitQueue, WakeTarget, Waiter};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::Cell;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use kwasm_wasi::net::events;
use kwasm_wasi::{errno, Errno};

/// What the callbacks share with the task: the ready stack and the queue
/// the task sleeps on.
struct Shared {
    ready: AtomicPtr<Item>,
    sleepers: WaitQueue,
}

/// One registered fd.
#[repr(C)]
struct Item {
    /// First: the wait-queue callback finds the item from it.
    target: WakeTarget,
    shared: *const Shared,
    /// Link of the ready stack.
    next: AtomicPtr<Item>,
    /// On the ready stack (set by callbacks, cleared by the popping wait).
    queued: AtomicBool,
    /// Interest bits and flags; readiness bits cleared once a ONESHOT
    /// item has fired.
    events: AtomicU32,
    user_data: Cell<u64>,
    /// Generation of the wait that last took the item (no double report).
    seen: Cell<u64>,
    /// Removed while queued: freed once a wait has popped it.
    removed: Cell<bool>,
    /// Unhooked before `file` goes (field order).
    waiter: Option<Waiter>,
    /// Our own reference: the socket outlives its wait-queue hooks.
    file: FileRef,
}

impl Item {
    /// The wait-queue callback (any context, wait-queue lock held).
    ///
    /// # Safety
    /// `target` is the `target` field of a live Item whose waiter is armed.
    unsafe fn wake(target: *const WakeTarget, mask: u32) {
        // SAFETY: per the contract, `target` is the first field of an Item.
        let item = unsafe { &*target.cast::<Item>() };
        let wanted = item.events.load(Ordering::Relaxed);
        if wanted & events::READINESS == 0 || (mask != 0 && mask & (wanted | events::ALWAYS) == 0) {
            return;
        }
        // SAFETY: the poller (and its Shared) outlives its armed items.
        let shared = unsafe { &*item.shared };
        if !item.queued.swap(true, Ordering::AcqRel) {
            let me = (item as *const Item).cast_mut();
            let mut head = shared.ready.load(Ordering::Acquire);
            loop {
                item.next.store(head, Ordering::Relaxed);
                match shared.ready.compare_exchange_weak(head, me, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => break,
                    Err(now) => head = now,
                }
            }
        }
        shared.sleepers.wake();
    }
}

pub struct Poller {
    items: BTreeMap<u32, Box<Item>>,
    /// Removed items still on the ready stack.
    removed: Vec<Box<Item>>,
    /// Level-triggered items the last wait reported: looked at again.
    again: Vec<*const Item>,
    /// The previous `again`, kept for its capacity (a wait with many
    /// ready connections must not reallocate the list every time).
    spare: Vec<*const Item>,
    /// Scratch list of one wait's candidates (kept for its capacity).
    candidates: Vec<*const Item>,
    generation: u64,
    /// Last: items (and their hooks) go before what their callbacks use.
    shared: Box<Shared>,
}

/// A ready registration, as `poller_wait` reports it.
pub struct Ready {
    pub user_data: u64,
    pub events: u32,
}

impl Poller {
    /// None if out of memory.
    pub fn new() -> Option<Poller> {
        Some(Poller {
            items: BTreeMap::new(),
            removed: Vec::new(),
            again: Vec::new(),
            spare: Vec::new(),
            candidates: Vec::new(),
            generation: 0,
            shared: Box::new(Shared {
                ready: AtomicPtr::new(ptr::null_mut()),
                sleepers: WaitQueue::new()?,
            }),
        })
    }

    /// Registers `fd` (whose file is `file`). EXIST if it already is.
    pub fn add(&mut self, fd: u32, file: &FileRef, interest: u32, user_data: u64) -> Result<(), Errno> {
        if self.items.contains_key(&fd) {
            return Err(errno::EXIST);
        }
        let mut item = Box::new(Item {
            target: WakeTarget::new(Item::wake),
            shared: &*self.shared,
            next: AtomicPtr::new(ptr::null_mut()),
            queued: AtomicBool::new(false),
            events: AtomicU32::new(interest),
            user_data: Cell::new(user_data),
            seen: Cell::new(0),
            removed: Cell::new(false),
            waiter: None,
            file: file.share(),
        });
        // SAFETY: the target lives in the boxed item, which does not move
        // and is freed only after its waiter is dropped (field order, and
        // `remove` drops the waiter first).
        let (w, now) = unsafe { Waiter::arm(&item.file, &item.target) }.map_err(|_| errno::NOMEM)?;
        item.waiter = Some(w);
        let ptr: *const Item = &*item;
        self.items.insert(fd, item);
        if now & (interest | events::ALWAYS) != 0 {
            // Ready already: the next wait looks at it (as epoll's insert).
            self.again.push(ptr);
        }
        Ok(())
    }

    /// Changes `fd`'s interest (and re-arms a ONESHOT that fired). NOENT
    /// if it is not registered.
    pub fn modify(&mut self, fd: u32, interest: u32, user_data: u64) -> Result<(), Errno> {
        let item = self.items.get(&fd).ok_or(errno::NOENT)?;
        item.user_data.set(user_data);
        item.events.store(interest, Ordering::Relaxed);
        if item.file.poll_mask() & (interest | events::ALWAYS) != 0 {
            let ptr: *const Item = &**item;
            self.again.push(ptr);
        }
        Ok(())
    }

    /// Unregisters `fd`. NOENT if it is not registered.
    pub fn remove(&mut self, fd: u32) -> Result<(), Errno> {
        let mut item = self.items.remove(&fd).ok_or(errno::NOENT)?;
        // Unhook first: from here no callback touches the item.
        item.waiter = None;
        let ptr: *const Item = &*item;
        self.again.retain(|&p| p != ptr);
        if item.queued.load(Ordering::Acquire) {
            item.removed.set(true);
            self.removed.push(item);
        }
        Ok(())
    }

    /// Waits for ready registrations: fills `out` (up to its capacity)
    /// and returns how many. `timeout_ns`: None waits without end, 0 only
    /// looks. A signal the process survives parks the run and the wait
    /// goes on to the same deadline; it ends early with INTR on any other
    /// signal or once `run_deadline_ns` (the run's --timeout) has passed.
    pub fn wait(
        &mut self,
        out: &mut Vec<Ready>,
        max: usize,
        timeout_ns: Option<u64>,
        run_deadline_ns: Option<u64>,
        parking: &Parking,
    ) -> Result<(), Errno> {
        let deadline = timeout_ns.map(|t| clock::monotonic_ns().saturating_add(t));
        loop {
            self.collect(out, max);
            if !out.is_empty() {
                return Ok(());
            }
            let now = clock::monotonic_ns();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(());
            }
            if sched::signal_pending() {
                match parking.on_signal() {
                    Ok(_) => continue,
                    Err(_) => return Err(errno::INTR),
                }
            }
            if run_deadline_ns.is_some_and(|d| now >= d) {
                return Err(errno::INTR);
            }
            let until = match (deadline, run_deadline_ns) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.shared.sleepers.wait(&self.shared.ready, until);
        }
    }

    /// One look: pops the ready stack, adds the items to look at again,
    /// and reports those whose socket is ready now.
    fn collect(&mut self, out: &mut Vec<Ready>, max: usize) {
        self.generation += 1;
        let generation = self.generation;
        let mut candidates = core::mem::take(&mut self.candidates);
        candidates.clear();
        let mut popped = reversed(self.shared.ready.swap(ptr::null_mut(), Ordering::AcqRel));
        let mut freed_any = false;
        while !popped.is_null() {
            // SAFETY: items on the stack are alive: registered ones are
            // owned by `items`, removed ones by `removed` until popped here.
            let item = unsafe { &*popped };
            popped = item.next.load(Ordering::Relaxed);
            // Before looking at the socket: a wake-up from now on queues
            // the item again.
            item.queued.store(false, Ordering::SeqCst);
            if item.removed.get() {
                freed_any = true;
            } else if item.seen.replace(generation) != generation {
                candidates.push(item);
            }
        }
        if freed_any {
            self.removed.retain(|i| i.queued.load(Ordering::Acquire));
        }
        // What the last wait left to look at again, in the spare list; the
        // new `again` starts empty with the spare's capacity.
        core::mem::swap(&mut self.again, &mut self.spare);
        for &p in &self.spare {
            // SAFETY: `again` only holds registered items (remove() drops
            // an item's pointer from it, and removes nothing meanwhile).
            let item = unsafe { &*p };
            if item.seen.replace(generation) != generation {
                candidates.push(p);
            }
        }
        self.spare.clear();
        for &p in &candidates {
            // SAFETY: as above; nothing was removed since.
            let item = unsafe { &*p };
            if out.len() == max {
                // No room: the next wait looks at it again.
                self.again.push(p);
                continue;
            }
            let interest = item.events.load(Ordering::Relaxed);
            if interest & events::READINESS == 0 {
                continue;
            }
            let ready = item.file.poll_mask() & (interest & events::READINESS | events::ALWAYS);
            if ready == 0 {
                continue;
            }
            out.push(Ready {
                user_data: item.user_data.get(),
                events: ready,
            });
            if interest & events::ONESHOT != 0 {
                item.events.store(interest & !events::READINESS, Ordering::Relaxed);
            } else if interest & events::ET == 0 {
                self.again.push(p);
            }
        }
        self.candidates = candidates;
    }
}

/// The ready stack's list in the order its items became ready (the stack
/// pops the latest first): connections are served first come, first
/// served, as from epoll's ready list, so none waits behind later ones.
fn reversed(mut head: *mut Item) -> *mut Item {
    let mut out: *mut Item = ptr::null_mut();
    while !head.is_null() {
        // SAFETY: a popped list belongs to the popping wait alone; its
        // items are alive (see collect()).
        let item = unsafe { &*head };
        let next = item.next.load(Ordering::Relaxed);
        item.next.store(out, Ordering::Relaxed);
        out = head;
        head = next;
    }
    out
}

impl Drop for Poller {
    fn drop(&mut self) {
        // Unhook every item before anything is freed: afterwards no
        // callback runs, so the ready stack no longer matters.
        for item in self.items.values_mut() {
            item.waiter = None;
        }
    }
}

/// A run's pollers, by handle.
pub struct NetState {
    pub(super) pollers: Vec<Option<Poller>>,
    /// One wait's events before they are written out (kept for capacity).
    pub(super) ready: Vec<Ready>,
}

impl NetState {
    pub fn new() -> NetState {
        NetState {
            pollers: Vec::new(),
            ready: Vec::new(),
        }
    }

    /// `fd` was closed or replaced: it leaves every poller (registrations
    /// follow the fd, and must not keep a closed socket alive).
    pub fn forget(&mut self, fd: u32) {
        for p in self.pollers.iter_mut().flatten() {
            let _ = p.remove(fd);
        }
    }

    pub(super) fn poller(&mut self, handle: u32) -> Result<&mut Poller, Errno> {
        self.pollers
            .get_mut(handle as usize)
            .and_then(Option::as_mut)
            .ok_or(errno::BADF)
    }
}
