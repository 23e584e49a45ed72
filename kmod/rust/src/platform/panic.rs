//! What a Rust panic in the module does: report where, then `BUG()`.
//!
//! The crate is built with panic=abort and cannot unwind; continuing after a
//! broken invariant in ring 0 would be worse than the oops `BUG()` gives,
//! which kills the calling task and leaves the kernel running.

use super::ffi;
use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    match info.location() {
        Some(at) => pr_emerg!("panic at {}:{}: {}", at.file(), at.line(), info.message()),
        None => pr_emerg!("panic: {}", info.message()),
    }
    // SAFETY: BUG() is valid in any context.
    unsafe { ffi::kwasm_bug() };
    // BUG() does not return. objtool checks this object apart from the C
    // glue, so it cannot see that; the trailing ud2 says it.
    // SAFETY: ud2 raises #UD, which is what BUG() itself executes.
    unsafe { core::arch::asm!("ud2", options(noreturn)) }
}
