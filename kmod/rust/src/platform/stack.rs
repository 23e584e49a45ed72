//! Running a closure on a private, large stack.
//!
//! The task's kernel stack is 16 KiB and kernel code around an ioctl already
//! uses part of it; Wasmtime's own Rust code and the wasm frames it runs need
//! far more. Each run gets a vmalloc'd stack (guard pages around it, like the
//! kernel's own VMAP stacks) and the C glue switches to it the way the
//! kernel switches to its IRQ stacks (`call_on_stack`).

use super::ffi;
use core::ffi::c_void;

/// Size of a run's private stack.
pub const STACK_SIZE: usize = 1 << 20;

/// One private stack, freed on drop.
pub struct Stack {
    base: *mut u8,
}

impl Stack {
    pub fn new() -> Option<Stack> {
        // SAFETY: plain allocation; null on failure.
        let base = unsafe { ffi::kwasm_vmalloc(STACK_SIZE as _) } as *mut u8;
        (!base.is_null()).then_some(Stack { base })
    }

    /// Runs `f` on this stack and returns its result.
    pub fn run<F: FnOnce() -> R, R>(&mut self, f: F) -> R {
        let mut call = Call {
            f: Some(f),
            result: None,
        };
        let mut entry = Entry {
            trampoline: trampoline::<F, R>,
            arg: &mut call as *mut Call<F, R> as *mut c_void,
        };
        // The top slot holds the saved rsp; the call pushes its return
        // address below it, so the callee starts 16-byte aligned.
        let top = (self.base as usize + STACK_SIZE - 16) & !15;
        // SAFETY: `top` lies inside this live stack with 16 bytes above it;
        // kwasm_call_on_stack calls kwasm_rust_stack_entry(&mut entry) on it
        // and returns to this stack afterwards; `entry` and `call` outlive
        // the call.
        unsafe {
            ffi::kwasm_call_on_stack(top as *mut c_void, &mut entry as *mut Entry as *mut c_void);
        }
        call.result.expect("the closure ran on the private stack")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: base came from vmalloc and nothing runs on it any more.
        unsafe { ffi::vfree(self.base as *const c_void) }
    }
}

struct Call<F, R> {
    f: Option<F>,
    result: Option<R>,
}

/// The type-erased trampoline target: the glue calls the one C-ABI entry
/// below, which dispatches through this function pointer.
type Trampoline = unsafe fn(*mut c_void);

unsafe fn trampoline<F: FnOnce() -> R, R>(arg: *mut c_void) {
    // SAFETY: `arg` is the &mut Call<F, R> Stack::run passed.
    let call = unsafe { &mut *(arg as *mut Call<F, R>) };
    if let Some(f) = call.f.take() {
        call.result = Some(f());
    }
}

/// What `kwasm_rust_stack_entry` receives: the trampoline and its argument.
#[repr(C)]
struct Entry {
    trampoline: Trampoline,
    arg: *mut c_void,
}

/// Called by `kwasm_call_on_stack` on the private stack.
#[no_mangle]
pub unsafe extern "C" fn kwasm_rust_stack_entry(entry: *mut c_void) {
    // SAFETY: the glue passes back the Entry that Stack::run built.
    let entry = unsafe { &*(entry as *const Entry) };
    // SAFETY: the trampoline matches its argument (built together).
    unsafe { (entry.trampoline)(entry.arg) }
}
