//! Load-time self-tests (`insmod kwasm.ko selftest=1`): checks that need the
//! real kernel underneath (the allocator, W^X code memory), run once before
//! the device appears. A failure
//! aborts the load with a log line that says which check failed.

use crate::platform::alloc::kvmalloc_size;
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::fmt;

pub struct Failure(&'static str);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

fn check(ok: bool, what: &'static str, count: &mut u32) -> Result<(), Failure> {
    *count += 1;
    if ok {
        Ok(())
    } else {
        Err(Failure(what))
    }
}

/// Runs every check; returns how many passed.
pub fn run() -> Result<u32, Failure> {
    let mut n = 0;
    allocator(&mut n)?;
    code_memory(&mut n)?;
    stack_guard(&mut n)?;
    fibers(&mut n)?;
    Ok(n)
}

/// A fiber runs on its own stack, suspends and resumes where it was (its
/// locals intact, whichever frame resumes it), and a cancelled one hears
/// so and finishes.
fn fibers(n: &mut u32) -> Result<(), Failure> {
    use crate::platform::fiber::{Fiber, Resume, Step};
    use crate::platform::stack::{Stack, STACK_SIZE};
    let count = |how: Resume| {
        let stack = Stack::new().ok_or(Failure("a private stack can be allocated"))?;
        let (lo, hi) = (stack.base() as usize, stack.base() as usize + STACK_SIZE);
        let mut fiber = Fiber::new(stack, move |suspender| {
            let mut sum = 0u64;
            let mut on_stack = true;
            for i in 1..=3u64 {
                let local = i;
                on_stack &= (lo..hi).contains(&(&local as *const u64 as usize));
                sum += local;
                if suspender.suspend() == Resume::Cancel {
                    return (sum, on_stack, true);
                }
            }
            (sum, on_stack, false)
        });
        let mut suspended = 0;
        loop {
            // Resumed from a new frame each time, as a restarted ioctl is.
            let step = core::hint::black_box(|f: &mut Fiber<'_, _>, r| f.resume(r))(&mut fiber, how);
            match step {
                Step::Suspended => suspended += 1,
                Step::Done(r) => return Ok((r, suspended)),
            }
        }
    };
    let ((sum, on_stack, cancelled), suspended) = count(Resume::Continue)?;
    check(
        sum == 6 && on_stack && !cancelled && suspended == 3,
        "a fiber suspends and resumes on its own stack",
        n,
    )?;
    let ((sum, _, cancelled), suspended) = count(Resume::Cancel)?;
    check(cancelled && sum == 1 && suspended == 1, "a cancelled fiber ends", n)
}

/// A private stack's lowest page is its read-only guard; the page above it
/// and the top page are writable.
fn stack_guard(n: &mut u32) -> Result<(), Failure> {
    use crate::platform::pte::{protection, PAGE_SIZE};
    use crate::platform::stack::{Stack, STACK_SIZE};
    let stack = Stack::new().ok_or(Failure("a private stack can be allocated"))?;
    let base = stack.base();
    check(protection(base).is_some_and(|(w, _)| !w), "a private stack's guard page is read-only", n)?;
    // SAFETY: both addresses lie inside the live stack's mapping.
    let (above, top) = unsafe { (base.add(PAGE_SIZE), base.add(STACK_SIZE - 1)) };
    check(
        protection(above).is_some_and(|(w, _)| w) && protection(top).is_some_and(|(w, _)| w),
        "a private stack above its guard page is writable",
        n,
    )
}

/// W^X code memory: a page of code is writable and not executable until
/// published, executable and not writable after, and back before it is
/// freed; and published code really runs.
fn code_memory(n: &mut u32) -> Result<(), Failure> {
    use crate::platform::codemem::KernelCodeMemory;
    use crate::platform::pte::{protection, PAGE_SIZE};
    use wasmtime::CustomCodeMemory;
    // endbr64; mov eax, 42; ret
    const CODE: [u8; 10] = [0xf3, 0x0f, 0x1e, 0xfa, 0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3];
    let layout = Layout::from_size_align(PAGE_SIZE, PAGE_SIZE).map_err(|_| Failure("valid layout"))?;
    // SAFETY: non-zero size; freed below with the same layout.
    let page = unsafe { alloc::alloc::alloc(layout) };
    check(!page.is_null(), "a code page can be allocated", n)?;
    // SAFETY: `page` is a live, writable block of PAGE_SIZE bytes.
    unsafe { core::ptr::copy_nonoverlapping(CODE.as_ptr(), page, CODE.len()) };
    check(
        protection(page) == Some((true, false)),
        "a fresh code page is writable, not executable",
        n,
    )?;
    let mem = KernelCodeMemory;
    check(
        mem.publish_executable(page, PAGE_SIZE).is_ok(),
        "publishing code succeeds",
        n,
    )?;
    check(
        protection(page) == Some((false, true)),
        "published code is executable, not writable",
        n,
    )?;
    // SAFETY: the page holds a complete function of this signature and is
    // now executable.
    let f: extern "C" fn() -> u32 = unsafe { core::mem::transmute(page) };
    check(f() == 42, "published code runs", n)?;
    check(
        mem.unpublish_executable(page, PAGE_SIZE).is_ok(),
        "unpublishing code succeeds",
        n,
    )?;
    check(
        protection(page) == Some((true, false)),
        "unpublished code is writable again, not executable",
        n,
    )?;
    // SAFETY: allocated above with this layout, no longer executable.
    unsafe { alloc::alloc::dealloc(page, layout) };
    Ok(())
}

fn allocator(n: &mut u32) -> Result<(), Failure> {
    let b = Box::new(0x5a5a_5a5a_u64);
    check(*b == 0x5a5a_5a5a, "small box holds its value", n)?;

    // Sizes either side of the slab limit, up to one that only vmalloc
    // can serve, each filled and read back.
    for &size in &[1usize, 100, 4096, 8192, 8193, 1 << 20, 32 << 20] {
        let mut v: Vec<u8> = Vec::new();
        check(
            v.try_reserve_exact(size).is_ok(),
            "allocation of up to 32 MiB succeeds",
            n,
        )?;
        v.extend((0..size).map(|i| (i % 251) as u8));
        let intact = v.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8);
        check(intact, "allocated memory keeps what was written", n)?;
    }

    // Over-aligned layouts, including page alignment, come back aligned.
    for &align in &[16usize, 64, 256, 4096] {
        for &size in &[1usize, 24, 100, 5000, 100_000] {
            let layout = Layout::from_size_align(size, align).map_err(|_| Failure("valid layout"))?;
            // SAFETY: non-zero size; the block is freed with the same layout.
            let p = unsafe { alloc::alloc::alloc(layout) };
            check(!p.is_null(), "over-aligned allocation succeeds", n)?;
            check((p as usize).is_multiple_of(align), "over-aligned allocation is aligned", n)?;
            // SAFETY: p is a live block of `size` bytes from this layout.
            unsafe {
                p.write_bytes(0xa5, size);
                alloc::alloc::dealloc(p, layout);
            }
        }
    }

    // Growing keeps the contents across the kmalloc -> vmalloc move.
    let mut v: Vec<u32> = (0..1000).collect();
    v.reserve(4 << 20);
    check(
        v.iter().enumerate().all(|(i, &x)| x == i as u32),
        "realloc keeps contents",
        n,
    )?;

    // Impossible requests fail cleanly, with no kernel warning.
    let mut huge: Vec<u8> = Vec::new();
    check(
        huge.try_reserve_exact(3 << 30).is_err(),
        "a 3 GiB request is refused",
        n,
    )?;
    let page_plus = Layout::from_size_align(8, 8192).map_err(|_| Failure("valid layout"))?;
    check(
        kvmalloc_size(page_plus).is_none(),
        "alignment above a page is refused",
        n,
    )?;
    Ok(())
}
