// SPDX-License-Identifier: GPL-2.0-only
/*
 * kwasm.ko C glue for native code's guard regions. Rust decides
 * (rust/src/platform/guard.rs); this file only does what must be C:
 *
 * - A linear memory's reservation in the vmalloc space: get_vm_area(), pages
 *   mapped into it with apply_to_page_range(&init_mm, ...), all of it
 *   released with free_vm_area(), which unmaps the range as vfree() does.
 *   Neither get_vm_area nor init_mm is exported: kallsyms_lookup_name()
 *   finds them, itself found through a kprobe's symbol lookup, and the two
 *   functions are reached through kprobes on stubs of the same type, which
 *   send the call on by changing the IP (as livepatch does) instead of by
 *   an indirect call: an IBT kernel seals the functions nothing calls
 *   indirectly, and an indirect call to one would fault.
 * - Faults of native wasm code: a die notifier sees #UD and #DE first
 *   (notify_die(DIE_TRAP) runs before the kernel handles a trap), and a
 *   kprobe on page_fault_oops() sees every kernel-mode page fault that
 *   nothing else could fix (the exception tables, KFENCE, a spurious fault)
 *   before anything is printed. Where Rust claims the fault, the faulting
 *   context is made to call Rust's trap entry when the exception returns,
 *   as if the faulting instruction had been a call; every other fault goes
 *   on exactly as it would without kwasm.
 */
#include <linux/kdebug.h>
#include <linux/kprobes.h>
#include <linux/mm.h>
#include <linux/vmalloc.h>
#include <asm/pgtable.h>
#include <asm/ptrace.h>
#include <asm/trapnr.h>

/* Implemented in Rust (rust/src/platform/guard.rs). */
bool kwasm_rust_wasm_fault(unsigned long ip);
void kwasm_rust_wasm_trap(unsigned long pc, unsigned long fp, unsigned long addr, bool has_addr);

/* Called from Rust (platform/ffi.rs) and kwasm_glue.c. */
struct vm_struct *kwasm_guard_reserve(unsigned long size, void **addr);
void kwasm_guard_release(struct vm_struct *area);
struct page *kwasm_guard_page_alloc(void);
void kwasm_guard_page_free(struct page *page);
int kwasm_guard_map(unsigned long addr, struct page **pages, unsigned long count);
int kwasm_guard_unmap(unsigned long addr, unsigned long count);
unsigned long kwasm_vmalloc_size(void);
bool kwasm_guard_available(void);
void kwasm_guard_init(void);
void kwasm_guard_exit(void);

static struct mm_struct *kwasm_init_mm;
static bool kwasm_oops_probed, kwasm_trap_notified;

/* A kernel symbol's address (0 if it has none or cannot be probed). */
static unsigned long kwasm_symbol(const char *name)
{
	struct kprobe kp = { .symbol_name = name };
	unsigned long addr;

	if (register_kprobe(&kp))
		return 0;
	addr = (unsigned long)kp.addr;
	unregister_kprobe(&kp);
	return addr;
}

/* A kernel function called through a probe on a stub of its type. */
struct kwasm_forward {
	struct kprobe probe;
	unsigned long target;
};

static int kwasm_forward_pre(struct kprobe *p, struct pt_regs *regs)
{
	regs->ip = container_of(p, struct kwasm_forward, probe)->target;
	return 1;
}

/* Makes calls of `stub` calls of the kernel function at `target`. */
static bool kwasm_forward_arm(struct kwasm_forward *f, void *stub, unsigned long target)
{
	if (!target)
		return false;
	f->target = target;
	f->probe.addr = stub;
	f->probe.pre_handler = kwasm_forward_pre;
	if (register_kprobe(&f->probe)) {
		f->target = 0;
		return false;
	}
	return true;
}

static void kwasm_forward_disarm(struct kwasm_forward *f)
{
	if (f->target)
		unregister_kprobe(&f->probe);
	f->target = 0;
}

/* The stubs: never run (their probes move the IP at entry); noipa so the
 * compiler assumes nothing about what they return. */
static __attribute__((__noipa__)) unsigned long kwasm_kallsyms_lookup_name(const char *name)
{
	return 0;
}

static __attribute__((__noipa__)) struct vm_struct *kwasm_get_vm_area(unsigned long size, unsigned long flags)
{
	return NULL;
}

static struct kwasm_forward kwasm_kallsyms_forward, kwasm_get_vm_area_forward;

struct vm_struct *kwasm_guard_reserve(unsigned long size, void **addr)
{
	struct vm_struct *area = kwasm_get_vm_area(size, VM_ALLOC);

	if (area)
		*addr = area->addr;
	return area;
}

void kwasm_guard_release(struct vm_struct *area)
{
	free_vm_area(area);
}

struct page *kwasm_guard_page_alloc(void)
{
	return alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_RETRY_MAYFAIL | __GFP_NOWARN);
}

void kwasm_guard_page_free(struct page *page)
{
	__free_page(page);
}

struct kwasm_guard_pages {
	struct page **pages;
	unsigned long next;
};

static int kwasm_guard_set_pte(pte_t *pte, unsigned long addr, void *data)
{
	struct kwasm_guard_pages *p = data;

	if (!pte_none(ptep_get(pte)))
		return -EBUSY;
	set_pte(pte, pfn_pte(page_to_pfn(p->pages[p->next++]), PAGE_KERNEL));
	return 0;
}

/* Maps count pages at addr, an unmapped page-aligned part of a reservation. */
int kwasm_guard_map(unsigned long addr, struct page **pages, unsigned long count)
{
	struct kwasm_guard_pages p = { .pages = pages };

	return apply_to_page_range(kwasm_init_mm, addr, count << PAGE_SHIFT, kwasm_guard_set_pte, &p);
}

static int kwasm_guard_clear_pte(pte_t *pte, unsigned long addr, void *data)
{
	set_pte(pte, __pte(0));
	return 0;
}

/* Unmaps count pages at addr, mapped by kwasm_guard_map; the caller
 * flushes the TLBs before it frees them. */
int kwasm_guard_unmap(unsigned long addr, unsigned long count)
{
	return apply_to_page_range(kwasm_init_mm, addr, count << PAGE_SHIFT, kwasm_guard_clear_pte, NULL);
}

unsigned long kwasm_vmalloc_size(void)
{
	return VMALLOC_END - VMALLOC_START;
}

bool kwasm_guard_available(void)
{
	return kwasm_init_mm && kwasm_get_vm_area_forward.target && kwasm_oops_probed && kwasm_trap_notified;
}

/*
 * Makes the faulting context call kwasm_rust_wasm_trap(pc, fp, addr,
 * has_addr) when the exception returns: on its own stack, below where it
 * faulted, aligned as a call leaves it. Nothing is written there now: the
 * exception's own frames are still in use below the faulting stack
 * pointer (no stack switch in ring 0); they are gone when it returns, and
 * the trap entry never returns to the slot its return address would be.
 */
static void kwasm_call_trap_entry(struct pt_regs *regs, unsigned long addr, bool has_addr)
{
	unsigned long sp = (regs->sp - 256) & ~15UL;

	regs->di = regs->ip;
	regs->si = regs->bp;
	regs->dx = addr;
	regs->cx = has_addr;
	regs->sp = sp - 8;
	regs->ip = (unsigned long)kwasm_rust_wasm_trap;
}

/* Where the page_fault_oops probe sends the kernel instead: straight back. */
static noinline void kwasm_oops_skipped(void)
{
}

static int kwasm_oops_pre(struct kprobe *p, struct pt_regs *regs)
{
	/* page_fault_oops(struct pt_regs *regs, unsigned long error_code, unsigned long address) */
	struct pt_regs *fault = (struct pt_regs *)regs->di;

	if (user_mode(fault) || !kwasm_rust_wasm_fault(fault->ip))
		return 0;
	kwasm_call_trap_entry(fault, regs->dx, true);
	regs->ip = (unsigned long)kwasm_oops_skipped;
	return 1;
}

/* Never called (the pre-handler either declines or moves the IP); its
 * presence asks for an IP-modifying probe, which is what this is. */
static void kwasm_oops_post(struct kprobe *p, struct pt_regs *regs, unsigned long flags)
{
}

static struct kprobe kwasm_oops_probe = {
	.symbol_name = "page_fault_oops",
	.pre_handler = kwasm_oops_pre,
	.post_handler = kwasm_oops_post,
};

static int kwasm_trap_notify(struct notifier_block *nb, unsigned long val, void *data)
{
	struct die_args *args = data;

	if (val != DIE_TRAP || !args->regs || user_mode(args->regs))
		return NOTIFY_DONE;
	if (args->trapnr != X86_TRAP_UD && args->trapnr != X86_TRAP_DE)
		return NOTIFY_DONE;
	if (!kwasm_rust_wasm_fault(args->regs->ip))
		return NOTIFY_DONE;
	kwasm_call_trap_entry(args->regs, 0, false);
	return NOTIFY_STOP;
}

static struct notifier_block kwasm_trap_nb = {
	.notifier_call = kwasm_trap_notify,
	.priority = INT_MAX,
};

/*
 * Sets up what guard regions need; a kernel that lacks any of it still
 * loads the module, which then refuses guard-region images and says why
 * (kwasm_guard_available).
 */
void kwasm_guard_init(void)
{
	if (!kwasm_forward_arm(&kwasm_kallsyms_forward, kwasm_kallsyms_lookup_name,
			       kwasm_symbol("kallsyms_lookup_name"))) {
		pr_info("kwasm: kallsyms_lookup_name cannot be reached: no guard regions\n");
		return;
	}
	kwasm_init_mm = (struct mm_struct *)kwasm_kallsyms_lookup_name("init_mm");
	if (!kwasm_init_mm || !kwasm_forward_arm(&kwasm_get_vm_area_forward, kwasm_get_vm_area,
						 kwasm_kallsyms_lookup_name("get_vm_area"))) {
		pr_info("kwasm: init_mm or get_vm_area cannot be reached: no guard regions\n");
		return;
	}
	kwasm_oops_probed = !register_kprobe(&kwasm_oops_probe);
	if (!kwasm_oops_probed)
		pr_info("kwasm: page_fault_oops cannot be probed: no guard regions\n");
	kwasm_trap_notified = !register_die_notifier(&kwasm_trap_nb);
}

void kwasm_guard_exit(void)
{
	if (kwasm_trap_notified)
		unregister_die_notifier(&kwasm_trap_nb);
	if (kwasm_oops_probed)
		unregister_kprobe(&kwasm_oops_probe);
	kwasm_forward_disarm(&kwasm_get_vm_area_forward);
	kwasm_forward_disarm(&kwasm_kallsyms_forward);
}
