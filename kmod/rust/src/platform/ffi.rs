//! Raw declarations of what the module calls in the kernel. Exported kernel
//! functions are called directly; inline functions and macros go through the
//! one-line `kwasm_*` wrappers in `kwasm_glue.c`.

use core::ffi::{c_char, c_int, c_ulong, c_void};

extern "C" {
    // Kernel exports.
    pub fn _printk(fmt: *const c_char, ...) -> c_int;
    pub fn kvfree(ptr: *const c_void);
    pub fn capable(cap: c_int) -> bool;

    // kwasm_glue.c wrappers.
    pub fn kwasm_kvmalloc(size: usize) -> *mut c_void;
    pub fn kwasm_copy_from_user(to: *mut c_void, from: *const c_void, n: c_ulong) -> c_ulong;
    pub fn kwasm_copy_to_user(to: *mut c_void, from: *const c_void, n: c_ulong) -> c_ulong;
    pub fn kwasm_bug();
}
