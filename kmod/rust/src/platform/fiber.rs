//! Fibers: a closure running on a private [`Stack`] that can stop in the
//! middle ([`Suspender::suspend`]) and be resumed later — by another call
//! from another kernel stack frame, even another ioctl of the same task.
//!
//! This is what lets a run leave the kernel for a stop signal, the freezer
//! or a tracer and carry on where it was: the wasm frames, Wasmtime's and
//! the host call's stay on the private stack while the task returns to user
//! space (see `crate::run`). Without suspension it is simply a way to run a
//! closure on a big stack, which is all sessions use.
//!
//! One switch routine (`kwasm_fiber.S`, the kernel's own `__switch_to_asm`
//! save/load) goes both ways: it pushes the callee-saved registers, saves
//! rsp in `save`, loads rsp from `load` and pops the other side's. A fresh
//! fiber's stack is laid out so that the first switch "returns" into
//! [`kwasm_rust_fiber_main`] with the fiber's header in %rdi; that function
//! runs the closure and switches back for good. Every switch out of the
//! fiber goes to whoever resumed it last (`parent_sp` is saved on every
//! resume), so it does not matter which ioctl's frame that is.

use super::ffi;
use super::stack::Stack;
use alloc::boxed::Box;
use core::ffi::c_void;

/// What a suspended fiber is resumed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Carry on.
    Continue = 1,
    /// End: the code that suspended unwinds and the closure returns.
    Cancel = 2,
}

/// How far [`Fiber::resume`] got.
pub enum Step<R> {
    /// The closure returned this.
    Done(R),
    /// The closure suspended itself; resume it again to go on.
    Suspended,
}

/// What the switch routine and the fiber's first frame share. `repr(C)`
/// and first in [`Body`], so the entry function can find the closure from
/// it.
#[repr(C)]
struct Header {
    /// The fiber's rsp while it is switched out.
    fiber_sp: usize,
    /// The resumer's rsp while the fiber runs.
    parent_sp: usize,
    /// Runs the closure and stores its result (typed by [`Fiber::new`]).
    body: unsafe fn(*mut Header),
}

#[repr(C)]
struct Body<'a, R> {
    header: Header,
    f: Option<Box<dyn FnOnce(Suspender) -> R + 'a>>,
    result: Option<R>,
}

/// A closure on its own stack. Dropping a fiber that is suspended frees its
/// stack without unwinding it: owners cancel first (`resume(Cancel)`) so
/// the frames on it release what they hold.
pub struct Fiber<'a, R> {
    /// Boxed: the fiber's stack and the switch routine hold its address.
    body: Box<Body<'a, R>>,
    /// The stack, when the fiber owns it (see [`run_on`] for one that
    /// borrows it).
    _stack: Option<Stack>,
    started: bool,
}

/// The handle code on the fiber suspends it with. Only the closure gets
/// one, so only code running on that fiber can use it.
pub struct Suspender(*mut Header);

// SAFETY: a Suspender is used only by code running on its fiber; it moves
// between tasks only with the whole fiber (a parked run resumed by
// whoever cancels it).
unsafe impl Send for Suspender {}

impl Suspender {
    /// Switches back to whoever resumed the fiber (whose `resume` returns
    /// [`Step::Suspended`]) and returns what the next `resume` passes.
    /// The caller must hold no lock and be outside any wasm section: the
    /// task may return to user space before it comes back here, on another
    /// CPU.
    pub fn suspend(&self) -> Resume {
        let header = self.0;
        // SAFETY: a Suspender exists only inside its fiber's closure, so
        // this runs on that fiber and `header` is alive (the Fiber owns
        // it). The switch saves this side's registers and rsp in
        // fiber_sp and continues the resumer, which saved parent_sp.
        let message =
            unsafe { ffi::kwasm_fiber_switch(&raw mut (*header).fiber_sp, &raw const (*header).parent_sp, 0) };
        if message == Resume::Cancel as usize {
            Resume::Cancel
        } else {
            Resume::Continue
        }
    }
}

impl<'a, R> Fiber<'a, R> {
    /// A fiber that will run `f` on `stack` when first resumed.
    pub fn new(stack: Stack, f: impl FnOnce(Suspender) -> R + 'a) -> Fiber<'a, R> {
        // SAFETY: the fiber owns the stack, so it outlives every switch.
        let mut fiber = unsafe { Fiber::on(stack.top(), f) };
        fiber._stack = Some(stack);
        fiber
    }

    /// A fiber on a stack it does not own, which ends below `end`.
    ///
    /// # Safety
    /// The stack is at least a page, unused by anything else while the
    /// fiber lives, and outlives the fiber.
    pub unsafe fn on(end: *mut u8, f: impl FnOnce(Suspender) -> R + 'a) -> Fiber<'a, R> {
        let mut body = Box::new(Body {
            header: Header {
                fiber_sp: 0,
                parent_sp: 0,
                body: run_body::<R>,
            },
            f: Some(Box::new(f)),
            result: None,
        });
        // The first switch pops six callee-saved registers (all zero: rbp
        // 0 ends frame-pointer walks) and returns into the entry function
        // as if it had been called: its "return address" (0, never used)
        // sits 8 bytes below a 16-byte boundary, as the ABI has it after a
        // call.
        let top = (end as usize - 16) & !15;
        let frame = [0usize, 0, 0, 0, 0, 0, kwasm_rust_fiber_main as *const () as usize, 0];
        let sp = top + 16 - size_of_val(&frame);
        // SAFETY: `sp..top + 16` lies in the stack, below its end (top is
        // at least 16 below it), and nothing else uses the stack (the
        // caller's contract).
        unsafe { core::ptr::copy_nonoverlapping(frame.as_ptr(), sp as *mut usize, frame.len()) };
        body.header.fiber_sp = sp;
        Fiber {
            body,
            _stack: None,
            started: false,
        }
    }

    /// Runs the fiber until its closure returns or suspends itself. Must
    /// not be called on a fiber whose closure has returned.
    pub fn resume(&mut self, how: Resume) -> Step<R> {
        let header = &raw mut self.body.header;
        // The first switch hands the entry function its header.
        let message = if self.started { how as usize } else { header as usize };
        self.started = true;
        // SAFETY: the fiber is suspended (or fresh) with its rsp in
        // fiber_sp; the switch saves this side in parent_sp and returns
        // here when the fiber suspends or finishes. The body outlives both.
        unsafe { ffi::kwasm_fiber_switch(&raw mut (*header).parent_sp, &raw const (*header).fiber_sp, message) };
        match self.body.result.take() {
            Some(result) => Step::Done(result),
            None => Step::Suspended,
        }
    }
}

/// Runs the closure of the `Body<R>` that `header` heads.
///
/// # Safety
/// `header` is the header of a live `Body<'_, R>` (this function is stored
/// in it by `Fiber::<R>::new`).
unsafe fn run_body<R>(header: *mut Header) {
    // SAFETY: per the contract; Header is Body's first field (repr(C)).
    let body = unsafe { &mut *(header as *mut Body<'_, R>) };
    if let Some(f) = body.f.take() {
        body.result = Some(f(Suspender(header)));
    }
}

/// The first frame of every fiber, entered by the switch routine's return
/// with the header in %rdi. Runs the closure (which leaves its result in
/// the body) and switches back for the last time.
///
/// # Safety
/// Only ever entered that way, with `header` a live fiber's header.
unsafe extern "C" fn kwasm_rust_fiber_main(header: *mut c_void) -> ! {
    let header = header as *mut Header;
    // SAFETY: per the contract; `body` matches the closure's type.
    unsafe {
        ((*header).body)(header);
        ffi::kwasm_fiber_switch(&raw mut (*header).fiber_sp, &raw const (*header).parent_sp, 0);
    }
    unreachable!("a finished fiber was resumed")
}

/// Runs `f` on `stack` to completion (it cannot suspend itself: it is not
/// given the means) and returns its result.
pub fn run_on<R>(stack: &mut Stack, f: impl FnOnce() -> R) -> R {
    // SAFETY: the stack is borrowed for longer than the fiber lives, and
    // is free: fibers on it run to completion within this call.
    let mut fiber = unsafe { Fiber::on(stack.top(), |_| f()) };
    match fiber.resume(Resume::Continue) {
        Step::Done(r) => r,
        // The closure has no Suspender to suspend with.
        Step::Suspended => unreachable!("a fiber without a Suspender suspended"),
    }
}
