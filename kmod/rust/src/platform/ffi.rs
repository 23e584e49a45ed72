//! Raw declarations of what the module calls in the kernel. Exported kernel
//! functions are called directly; inline functions and macros go through the
//! one-line `kwasm_*` wrappers in `kwasm_glue.c`.

use core::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};

/// `struct file` (opaque).
#[repr(C)]
pub struct File {
    _opaque: [u8; 0],
}

/// `struct path`: a mount and a dentry (two pointers in every kernel).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RawPath {
    pub mnt: *mut c_void,
    pub dentry: *mut c_void,
}

/// `struct kwasm_rename` of kwasm_fs_glue.c: a rename between
/// `kwasm_rename_begin` and `kwasm_rename_end`. Rust reads the two children
/// and the trap; the rest (`KWASM_RENAME_SIZE` bytes in all) is the
/// kernel's, whose layout differs between releases.
#[repr(C)]
pub struct RenameState {
    pub old: *mut c_void,
    pub new: *mut c_void,
    /// The dentry a rename must not involve (lock_rename's), or null where
    /// the kernel checked it already.
    pub trap: *mut c_void,
    _kernel: [u64; RENAME_KERNEL_WORDS],
}

/// `KWASM_RENAME_SIZE` (256 bytes) less the three pointers above.
const RENAME_KERNEL_WORDS: usize = 256 / 8 - 3;

impl RenameState {
    pub const fn new() -> RenameState {
        RenameState {
            old: core::ptr::null_mut(),
            new: core::ptr::null_mut(),
            trap: core::ptr::null_mut(),
            _kernel: [0; RENAME_KERNEL_WORDS],
        }
    }
}

/// `struct kwasm_waiter` of kwasm_net_glue.c (opaque).
#[repr(C)]
pub struct Waiter {
    _opaque: [u8; 0],
}

/// `struct wait_queue_head` (opaque).
#[repr(C)]
pub struct WaitQueueHead {
    _opaque: [u8; 0],
}

/// `struct kwasm_stat` of kwasm_fs_glue.c.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub size: u64,
    pub atime_ns: i64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub mode: u32,
    pub reserved: u32,
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

    pub fn path_put(path: *const RawPath);
    pub fn dput(dentry: *mut c_void);
    pub fn file_open_root(root: *const RawPath, name: *const c_char, flags: c_int, mode: u16) -> *mut File;
    pub fn mnt_want_write(mnt: *mut c_void) -> c_int;
    pub fn mnt_drop_write(mnt: *mut c_void);
    pub fn vfs_llseek(file: *mut File, offset: i64, whence: c_int) -> i64;
    pub fn vfs_fsync_range(file: *mut File, start: i64, end: i64, datasync: c_int) -> c_int;
    pub fn vfs_fadvise(file: *mut File, offset: i64, len: i64, advice: c_int) -> c_int;
    pub fn vfs_fallocate(file: *mut File, mode: c_int, offset: i64, len: i64) -> c_int;
    pub fn vfs_truncate(path: *const RawPath, length: i64) -> c_int;
    pub fn send_sig(sig: c_int, task: *mut c_void, private: c_int) -> c_int;

    // kwasm_fs_glue.c wrappers.
    pub fn kwasm_file_path(file: *mut File) -> *const RawPath;
    pub fn kwasm_lookup_beneath(
        dir: *const RawPath,
        name: *const c_char,
        follow: bool,
        directory: bool,
        out: *mut RawPath,
    ) -> c_int;
    pub fn kwasm_path_stat(path: *const RawPath, out: *mut Stat) -> c_int;
    pub fn kwasm_set_times(path: *const RawPath, atime_ns: i64, mtime_ns: i64) -> c_int;
    pub fn kwasm_file_pread(file: *mut File, buf: *mut c_void, len: usize, pos: i64) -> isize;
    pub fn kwasm_file_pwrite(file: *mut File, buf: *const c_void, len: usize, pos: i64) -> isize;
    pub fn kwasm_file_set_flags(file: *mut File, mask: c_uint, flags: c_uint);
    pub fn kwasm_file_writable(file: *mut File) -> bool;
    pub fn kwasm_file_append_only(file: *mut File) -> bool;
    pub fn kwasm_read_dir(dir: *mut File, data: *mut c_void) -> c_int;
    pub fn kwasm_child_begin(parent: *const RawPath, name: *const c_char, len: c_int) -> *mut c_void;
    pub fn kwasm_child_end(parent: *const RawPath, child: *mut c_void);
    pub fn kwasm_rename_begin(
        r: *mut RenameState,
        old_parent: *const RawPath,
        old_name: *const c_char,
        old_len: c_int,
        new_parent: *const RawPath,
        new_name: *const c_char,
        new_len: c_int,
    ) -> c_int;
    pub fn kwasm_rename_end(r: *mut RenameState);
    pub fn kwasm_dentry_positive(dentry: *mut c_void) -> bool;
    pub fn kwasm_dentry_is_dir(dentry: *mut c_void) -> bool;
    pub fn kwasm_dentry_is_symlink(dentry: *mut c_void) -> bool;
    pub fn kwasm_mkdir(parent: *const RawPath, dentry: *mut c_void) -> c_int;
    pub fn kwasm_rmdir(parent: *const RawPath, dentry: *mut c_void) -> c_int;
    pub fn kwasm_unlink(parent: *const RawPath, dentry: *mut c_void) -> c_int;
    pub fn kwasm_symlink(parent: *const RawPath, dentry: *mut c_void, target: *const c_char) -> c_int;
    pub fn kwasm_link(old: *mut c_void, new_parent: *const RawPath, new: *mut c_void) -> c_int;
    pub fn kwasm_rename(r: *mut RenameState) -> c_int;
    pub fn kwasm_readlink(path: *const RawPath, buf: *mut c_char, len: c_int) -> c_int;
    pub fn kwasm_same_mount(a: *const RawPath, b: *const RawPath) -> bool;
    pub fn kwasm_file_poll(file: *mut File) -> c_uint;
    pub fn kwasm_is_err(ptr: *const c_void) -> bool;
    pub fn kwasm_ptr_err(ptr: *const c_void) -> isize;

    // kwasm_net_glue.c wrappers.
    pub fn kwasm_sock_open(family: c_int, nonblock: bool) -> *mut File;
    pub fn kwasm_sock_bind(file: *mut File, addr: *const c_void, len: c_int) -> c_int;
    pub fn kwasm_sock_listen(file: *mut File, backlog: c_int) -> c_int;
    pub fn kwasm_sock_connect(file: *mut File, addr: *const c_void, len: c_int) -> c_int;
    pub fn kwasm_sock_name(file: *mut File, addr: *mut c_void, peer: bool) -> c_int;
    pub fn kwasm_sock_accept(file: *mut File, nonblock: bool) -> *mut File;
    pub fn kwasm_sock_recv(file: *mut File, buf: *mut c_void, len: usize, flags: c_int) -> c_int;
    pub fn kwasm_sock_send(file: *mut File, buf: *const c_void, len: usize, flags: c_int) -> c_int;
    pub fn kwasm_sock_shutdown(file: *mut File, how: c_int) -> c_int;
    pub fn kwasm_sock_setopt(file: *mut File, level: c_int, name: c_int, value: c_int) -> c_int;
    pub fn kwasm_sock_getopt(file: *mut File, level: c_int, name: c_int) -> c_int;
    pub fn kwasm_sock_error(file: *mut File) -> c_int;
    pub fn kwasm_file_is_socket(file: *mut File) -> bool;
    pub fn kwasm_file_get(file: *mut File) -> *mut File;
    pub fn kwasm_nofile_limit() -> c_ulong;
    pub fn kwasm_waiter_new(owner: *mut c_void) -> *mut Waiter;
    pub fn kwasm_waiter_arm(waiter: *mut Waiter, file: *mut File) -> c_uint;
    pub fn kwasm_waiter_free(waiter: *mut Waiter);
    pub fn kwasm_waitq_new() -> *mut WaitQueueHead;
    pub fn kwasm_waitq_free(wq: *mut WaitQueueHead);
    pub fn kwasm_waitq_wake(wq: *mut WaitQueueHead);
    pub fn kwasm_waitq_wait(wq: *mut WaitQueueHead, ready: *const *mut c_void, monotonic_ns: u64);

    // kwasm_glue.c wrappers.
    pub fn kwasm_kvmalloc(size: usize) -> *mut c_void;
    pub fn kwasm_vmalloc(size: c_ulong) -> *mut c_void;
    pub fn kwasm_linear_alloc(size: c_ulong) -> *mut c_void;
    pub fn kwasm_mm_grab_current() -> *mut c_void;
    pub fn kwasm_mm_drop(mm: *mut c_void);
    pub fn kwasm_mm_add_rss(mm: *mut c_void, pages: c_long);
    pub fn kwasm_mem_available_pages() -> c_ulong;
    pub fn kwasm_total_ram_pages() -> c_ulong;
    pub fn kwasm_copy_from_user(to: *mut c_void, from: *const c_void, n: c_ulong) -> c_ulong;
    pub fn kwasm_copy_to_user(to: *mut c_void, from: *const c_void, n: c_ulong) -> c_ulong;
    pub fn kwasm_bug();
    pub fn kwasm_current() -> *mut c_void;
    pub fn kwasm_current_tgid() -> c_int;
    pub fn kwasm_cond_resched();
    pub fn kwasm_signal_pending() -> bool;
    pub fn kwasm_pending_signal_kind() -> c_int;
    pub fn kwasm_task_get() -> *mut c_void;
    pub fn kwasm_task_put(task: *mut c_void);
    pub fn kwasm_clock_realtime_ns() -> u64;
    pub fn kwasm_clock_monotonic_ns() -> u64;
    pub fn kwasm_clock_task_cputime_ns() -> u64;
    pub fn kwasm_file_write(file: *mut File, buf: *const c_void, len: usize) -> isize;
    pub fn kwasm_file_read(file: *mut File, buf: *mut c_void, len: usize) -> isize;
    pub fn kwasm_file_mode(file: *mut File) -> u16;
    pub fn kwasm_file_flags(file: *mut File) -> c_uint;
    pub fn kwasm_ticker_start();
    pub fn kwasm_file_put(file: *mut File);
    pub fn kwasm_pte_read(pte: *mut c_void) -> u64;
    pub fn kwasm_pte_write(pte: *mut c_void, val: u64);
    pub fn kwasm_pte_nx() -> u64;
    pub fn kwasm_flush_tlb_all_cpus();
    pub fn kwasm_fpu_begin();
    pub fn kwasm_fpu_end();
    pub fn kwasm_cpu_has_ibt() -> bool;
    pub fn kwasm_preempt_rt() -> bool;
    pub fn kwasm_read_s_cet() -> u64;
    pub fn kwasm_write_s_cet(val: u64);

    // kwasm_guard_glue.c.
    pub fn kwasm_guard_available() -> bool;
    pub fn kwasm_guard_reserve(size: c_ulong, base: *mut *mut c_void) -> *mut c_void;
    pub fn kwasm_guard_release(area: *mut c_void);
    pub fn kwasm_guard_map(addr: c_ulong, pages: *mut *mut c_void, count: c_ulong) -> c_int;
    pub fn kwasm_guard_unmap(addr: c_ulong, count: c_ulong) -> c_int;
    pub fn kwasm_guard_page_alloc() -> *mut c_void;
    pub fn kwasm_guard_page_free(page: *mut c_void);
    pub fn kwasm_vmalloc_size() -> c_ulong;

    // kwasm_fiber.S.
    pub fn kwasm_fiber_switch(save_sp: *mut usize, load_sp: *const usize, message: usize) -> usize;
}

/// A pointer-or-errno (`ERR_PTR`) as a Result. Err(positive errno).
pub fn err_ptr<T>(ptr: *mut T) -> Result<*mut T, i32> {
    // SAFETY: IS_ERR/PTR_ERR only look at the pointer's value.
    if unsafe { kwasm_is_err(ptr.cast()) } {
        Err(-(unsafe { kwasm_ptr_err(ptr.cast()) }) as i32)
    } else {
        Ok(ptr)
    }
}

/// A kernel int return (0 or -errno) as a Result.
pub fn int_result(ret: c_int) -> Result<(), i32> {
    if ret < 0 {
        Err(-ret)
    } else {
        Ok(())
    }
}

/// Linux errno as returned negated by kernel functions.
pub fn neg_errno(ret: isize) -> Option<i32> {
    (ret < 0).then_some((-ret) as i32)
}
