//! Raw declarations of what the module calls in the kernel. Exported kernel
//! functions are called directly; inline functions and macros go through the
//! one-line `kwasm_*` wrappers in `kwasm_glue.c`.

use core::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

/// `struct file` (opaque).
#[repr(C)]
pub struct File {
    _opaque: [u8; 0],
}

extern "C" {
    // kwasm_glue.c module parameters (written by the kernel's sysfs code).
    pub static kwasm_param_max_instances: c_uint;
    pub static kwasm_param_max_memory_mib: c_ulong;
    pub static kwasm_param_max_timeout_ms: c_ulong;

    // Kernel exports.
    pub fn _printk(fmt: *const c_char, ...) -> c_int;
    pub fn kvfree(ptr: *const c_void);
    pub fn vfree(ptr: *const c_void);
    pub fn capable(cap: c_int) -> bool;
    pub fn fget(fd: c_uint) -> *mut File;
    pub fn fput(file: *mut File);
    pub fn get_random_bytes(buf: *mut c_void, len: usize);
    pub fn lookup_address(address: c_ulong, level: *mut c_uint) -> *mut c_void;
    pub fn is_vmalloc_addr(addr: *const c_void) -> bool;

    // kwasm_glue.c wrappers.
    pub fn kwasm_kvmalloc(size: usize) -> *mut c_void;
    pub fn kwasm_vmalloc(size: c_ulong) -> *mut c_void;
    pub fn kwasm_copy_from_user(to: *mut c_void, from: *const c_void, n: c_ulong) -> c_ulong;
    pub fn kwasm_copy_to_user(to: *mut c_void, from: *const c_void, n: c_ulong) -> c_ulong;
    pub fn kwasm_bug();
    pub fn kwasm_call_on_stack(stack_top: *mut c_void, arg: *mut c_void);
    pub fn kwasm_current() -> *mut c_void;
    pub fn kwasm_current_tgid() -> c_int;
    pub fn kwasm_cond_resched();
    pub fn kwasm_signal_pending() -> bool;
    pub fn kwasm_clock_realtime_ns() -> u64;
    pub fn kwasm_clock_monotonic_ns() -> u64;
    pub fn kwasm_clock_task_cputime_ns() -> u64;
    pub fn kwasm_file_write(file: *mut File, buf: *const c_void, len: usize) -> isize;
    pub fn kwasm_file_read(file: *mut File, buf: *mut c_void, len: usize) -> isize;
    pub fn kwasm_file_mode(file: *mut File) -> u16;
    pub fn kwasm_file_flags(file: *mut File) -> c_uint;
    pub fn kwasm_ticker_new(data: *mut c_void) -> *mut c_void;
    pub fn kwasm_ticker_start(ticker: *mut c_void);
    pub fn kwasm_ticker_free(ticker: *mut c_void);
    pub fn kwasm_pte_read(pte: *mut c_void) -> u64;
    pub fn kwasm_pte_write(pte: *mut c_void, val: u64);
    pub fn kwasm_pte_nx() -> u64;
    pub fn kwasm_flush_tlb_all_cpus();
    pub fn kwasm_fpu_begin();
    pub fn kwasm_fpu_end();
    pub fn kwasm_cpu_has_ibt() -> bool;
    pub fn kwasm_read_s_cet() -> u64;
    pub fn kwasm_write_s_cet(val: u64);
}

/// Linux errno as returned negated by kernel functions.
pub fn neg_errno(ret: isize) -> Option<i32> {
    (ret < 0).then_some((-ret) as i32)
}
