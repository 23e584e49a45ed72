// SPDX-License-Identifier: GPL-2.0-only
/*
 * kwasm.ko C glue: only what must be C. Module init/exit, the misc device
 * and its file_operations, module metadata, and one-line wrappers around
 * kernel inline functions and macros that Rust cannot call. No logic here:
 * every decision is made in the Rust half (rust/src).
 *
 * Kernel differences absorbed here (docs/kernels.md has the table):
 * - 6.2: mm rss counters are per-CPU.
 * - 6.13: hrtimer_setup() sets the callback with the timer (hrtimer_init()
 *   is gone by 7.x).
 * - 6.16: rdmsrl()/wrmsrl() renamed rdmsrq()/wrmsrq().
 * - 6.17: WQ_PERCPU names the default (per-CPU) workqueue; 7.x warns at
 *   alloc_workqueue() when neither WQ_PERCPU nor WQ_UNBOUND is given.
 * - 7.x: __flush_tlb_all() exported to KVM only: the pv_ops TLB flush.
 */
#include <linux/capability.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/device.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/mm.h>
#include <linux/mm.h>
#include <linux/version.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/uio.h>
#include <linux/hrtimer.h>
#include <linux/kdebug.h>
#include <linux/sched/task_stack.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <asm/fpu/api.h>
#include <asm/msr.h>
#include <asm/pgtable.h>
#include <asm/tlbflush.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define KWASM_WQ_PERCPU WQ_PERCPU
#else
#define KWASM_WQ_PERCPU 0
#endif

#ifndef rdmsrq
#define rdmsrq(msr, val) rdmsrl(msr, val)
#define wrmsrq(msr, val) wrmsrl(msr, val)
#endif

/* Implemented in Rust (rust/src/lib.rs). */
int kwasm_rust_init(bool selftest);
void kwasm_rust_exit(void);
int kwasm_rust_open(void **private_data);
long kwasm_rust_ioctl(void **private_data, unsigned int cmd, unsigned long arg);
void kwasm_rust_release(void **private_data);
bool kwasm_rust_tick(void);
void kwasm_rust_die(unsigned long sp, unsigned long task_stack_lo, unsigned long task_stack_hi);
u64 kwasm_rust_memory_bytes(void);
u64 kwasm_rust_reserved_bytes(void);
u64 kwasm_rust_stack_high_water(void);
u64 kwasm_rust_stack_size(void);

/* kwasm_guard_glue.c */
void kwasm_guard_init(void);
void kwasm_guard_exit(void);

/* One-line wrappers, called from rust/src/platform/ffi.rs only. */
void *kwasm_kvmalloc(size_t size);
unsigned long kwasm_copy_from_user(void *to, const void __user *from, unsigned long n);
unsigned long kwasm_copy_to_user(void __user *to, const void *from, unsigned long n);
void __noreturn kwasm_bug(void);
void *kwasm_vmalloc(unsigned long size);
void *kwasm_linear_alloc(unsigned long size);
struct mm_struct *kwasm_mm_grab_current(void);
void kwasm_mm_drop(struct mm_struct *mm);
void kwasm_mm_add_rss(struct mm_struct *mm, long pages);
unsigned long kwasm_mem_available_pages(void);
unsigned long kwasm_total_ram_pages(void);
void *kwasm_current(void);
int kwasm_current_tgid(void);
void kwasm_cond_resched(void);
bool kwasm_signal_pending(void);
int kwasm_pending_signal_kind(void);
struct task_struct *kwasm_task_get(void);
void kwasm_task_put(struct task_struct *task);
u64 kwasm_clock_realtime_ns(void);
u64 kwasm_clock_monotonic_ns(void);
u64 kwasm_clock_task_cputime_ns(void);
ssize_t kwasm_file_write(struct file *file, const void *buf, size_t len);
ssize_t kwasm_file_read(struct file *file, void *buf, size_t len);
umode_t kwasm_file_mode(struct file *file);
unsigned int kwasm_file_flags(struct file *file);
void kwasm_ticker_start(void);
void kwasm_file_put(struct file *file);
u64 kwasm_pte_read(pte_t *pte);
void kwasm_pte_write(pte_t *pte, u64 val);
u64 kwasm_pte_nx(void);
void kwasm_flush_tlb_all_cpus(void);
void kwasm_fpu_begin(void);
void kwasm_fpu_end(void);
bool kwasm_cpu_has_ibt(void);
bool kwasm_preempt_rt(void);
u64 kwasm_read_s_cet(void);
void kwasm_write_s_cet(u64 val);

void *kwasm_kvmalloc(size_t size)
{
	return kvmalloc(size, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
}

unsigned long kwasm_copy_from_user(void *to, const void __user *from, unsigned long n)
{
	return copy_from_user(to, from, n);
}

unsigned long kwasm_copy_to_user(void __user *to, const void *from, unsigned long n)
{
	return copy_to_user(to, from, n);
}

void kwasm_bug(void)
{
	BUG();
}

void *kwasm_vmalloc(unsigned long size)
{
	return __vmalloc(size, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
}

/*
 * Linear memory: zeroed, charged to the memory cgroup, and refused (the
 * program sees memory.grow return -1) when reclaim cannot find the pages,
 * rather than invoking the OOM killer or logging an allocation failure.
 */
void *kwasm_linear_alloc(unsigned long size)
{
	return __vmalloc(size, GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_RETRY_MAYFAIL | __GFP_NOWARN);
}

/* What /proc/meminfo calls MemAvailable and MemTotal, in pages. */
unsigned long kwasm_mem_available_pages(void)
{
	return si_mem_available();
}

unsigned long kwasm_total_ram_pages(void)
{
	return totalram_pages();
}

/* The calling process's address space, kept (not its mappings) until kwasm_mm_drop. */
struct mm_struct *kwasm_mm_grab_current(void)
{
	struct mm_struct *mm = current->mm;

	if (mm)
		mmgrab(mm);
	return mm;
}

void kwasm_mm_drop(struct mm_struct *mm)
{
	mmdrop(mm);
}

/*
 * add_mm_counter(mm, MM_ANONPAGES, pages) without its rss_stat tracepoint,
 * which modules cannot reach (mm_trace_rss_stat is not exported on 6.1,
 * __tracepoint_rss_stat on 6.2+). The counter became per-CPU in 6.2.
 */
void kwasm_mm_add_rss(struct mm_struct *mm, long pages)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
	percpu_counter_add(&mm->rss_stat[MM_ANONPAGES], pages);
#else
	atomic_long_add(pages, &mm->rss_stat.count[MM_ANONPAGES]);
#endif
}

void *kwasm_current(void)
{
	return current;
}

int kwasm_current_tgid(void)
{
	return task_tgid_nr(current);
}

void kwasm_cond_resched(void)
{
	cond_resched();
}

bool kwasm_signal_pending(void)
{
	return signal_pending(current);
}

/*
 * What the current task's pending signals will do when it returns to user
 * space: 0 nothing pending, 1 end the process (SIGKILL, which a group exit
 * also queues to every thread, or
 * an unblocked signal whose action is the default one and that default is
 * to terminate or dump core), 2 something the task survives (a stop, the
 * freezer, a handler, an ignored signal; and anything at all while traced,
 * since the tracer decides). The same tests get_signal() makes.
 */
int kwasm_pending_signal_kind(void)
{
	struct task_struct *t = current;
	sigset_t pending;
	int sig, kind = 2;

	if (!signal_pending(t))
		return 0;
	if (fatal_signal_pending(t))
		return 1;
	if (t->ptrace)
		return 2;
	spin_lock_irq(&t->sighand->siglock);
	sigorsets(&pending, &t->pending.signal, &t->signal->shared_pending.signal);
	sigandnsets(&pending, &pending, &t->blocked);
	for (sig = 1; sig <= _NSIG; sig++) {
		if (sigismember(&pending, sig) &&
		    t->sighand->action[sig - 1].sa.sa_handler == SIG_DFL &&
		    !sig_kernel_ignore(sig) && !sig_kernel_stop(sig)) {
			kind = 1;
			break;
		}
	}
	spin_unlock_irq(&t->sighand->siglock);
	return kind;
}

/* A reference on the current task, so a parked run can tell its owner
 * (the pointer stays unique while the reference is held). */
struct task_struct *kwasm_task_get(void)
{
	return get_task_struct(current);
}

void kwasm_task_put(struct task_struct *task)
{
	put_task_struct(task);
}

u64 kwasm_clock_realtime_ns(void)
{
	return ktime_get_real_ns();
}

u64 kwasm_clock_monotonic_ns(void)
{
	return ktime_get_ns();
}

u64 kwasm_clock_task_cputime_ns(void)
{
	return current->se.sum_exec_runtime;
}

/* Reads and writes through ->read_iter/->write_iter with a kernel buffer.
 * kernel_read/kernel_write refuse files that also have ->read/->write
 * (/dev/null, /dev/zero, ...); the vfs_iter_* calls do not. */
ssize_t kwasm_file_write(struct file *file, const void *buf, size_t len)
{
	struct kvec kvec = { .iov_base = (void *)buf, .iov_len = len };
	struct iov_iter iter;

	iov_iter_kvec(&iter, ITER_SOURCE, &kvec, 1, len);
	return vfs_iter_write(file, &iter, &file->f_pos, 0);
}

ssize_t kwasm_file_read(struct file *file, void *buf, size_t len)
{
	struct kvec kvec = { .iov_base = buf, .iov_len = len };
	struct iov_iter iter;

	iov_iter_kvec(&iter, ITER_DEST, &kvec, 1, len);
	return vfs_iter_read(file, &iter, &file->f_pos, 0);
}

umode_t kwasm_file_mode(struct file *file)
{
	return file_inode(file)->i_mode;
}

unsigned int kwasm_file_flags(struct file *file)
{
	return file->f_flags;
}

/* The module's epoch ticker (rust/src/platform/ticker.rs): a hard-irq
 * timer every KWASM_TICK_NS while kwasm_rust_tick() asks for more. Hard irq,
 * not a timer_list: softirqs can be deferred to ksoftirqd, which cannot run
 * while wasm holds a CPU on a non-preemptible kernel, and the tick is what
 * makes wasm yield. */
#define KWASM_TICK_NS (1000 * 1000)

static struct hrtimer kwasm_tick_timer;

static enum hrtimer_restart kwasm_tick(struct hrtimer *timer)
{
	if (!kwasm_rust_tick())
		return HRTIMER_NORESTART;
	hrtimer_forward_now(timer, ns_to_ktime(KWASM_TICK_NS));
	return HRTIMER_RESTART;
}

void kwasm_ticker_start(void)
{
	hrtimer_start(&kwasm_tick_timer, ns_to_ktime(KWASM_TICK_NS), HRTIMER_MODE_REL_HARD);
}

/*
 * fput() from a task defers the final release (__fput: for a socket, the
 * FIN; for a file, the last close) to task_work, which runs only when the
 * task returns to user space — and a program's task does not, until its
 * run ends. So the reference is dropped from a worker instead, where the
 * release runs within a jiffy, as it would after a close(2). Without
 * memory for the work item, plain fput (released at the run's end).
 */
static struct workqueue_struct *kwasm_put_wq;

struct kwasm_put_work {
	struct work_struct work;
	struct file *file;
};

static void kwasm_put_worker(struct work_struct *work)
{
	struct kwasm_put_work *w = container_of(work, struct kwasm_put_work, work);

	fput(w->file);
	kfree(w);
}

void kwasm_file_put(struct file *file)
{
	struct kwasm_put_work *w = kmalloc(sizeof(*w), GFP_KERNEL);

	if (!w) {
		fput(file);
		return;
	}
	INIT_WORK(&w->work, kwasm_put_worker);
	w->file = file;
	queue_work(kwasm_put_wq, &w->work);
}

u64 kwasm_pte_read(pte_t *pte)
{
	return pte_val(*pte);
}

void kwasm_pte_write(pte_t *pte, u64 val)
{
	set_pte(pte, __pte(val));
}

u64 kwasm_pte_nx(void)
{
	return _PAGE_NX & __supported_pte_mask;
}

/* The whole TLB of this CPU, global entries included. __flush_tlb_all() is
 * exported to KVM only in 7.x; from 6.13 on, the paravirt operation it
 * calls (pv_ops is exported) does the same where PGE is on, always on
 * x86-64. */
static void kwasm_flush_tlb_local(void *unused)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0) && defined(CONFIG_PARAVIRT)
	__flush_tlb_global();
#else
	__flush_tlb_all();
#endif
}

void kwasm_flush_tlb_all_cpus(void)
{
	on_each_cpu(kwasm_flush_tlb_local, NULL, 1);
}

void kwasm_fpu_begin(void)
{
	kernel_fpu_begin();
}

void kwasm_fpu_end(void)
{
	kernel_fpu_end();
}

bool kwasm_cpu_has_ibt(void)
{
	return cpu_feature_enabled(X86_FEATURE_IBT);
}

bool kwasm_preempt_rt(void)
{
	return IS_ENABLED(CONFIG_PREEMPT_RT);
}

u64 kwasm_read_s_cet(void)
{
	u64 val;

	rdmsrq(MSR_IA32_S_CET, val);
	return val;
}

void kwasm_write_s_cet(u64 val)
{
	wrmsrq(MSR_IA32_S_CET, val);
}

/* When the kernel dies, Rust says where the dying context's stack pointer
 * was (platform/stack.rs): the kernel's unwinder knows only its own stacks. */
static int kwasm_die_notify(struct notifier_block *nb, unsigned long val, void *data)
{
	struct die_args *args = data;
	unsigned long stack = (unsigned long)task_stack_page(current);

	if (val == DIE_OOPS && args->regs)
		kwasm_rust_die(args->regs->sp, stack, stack + THREAD_SIZE);
	return NOTIFY_DONE;
}

static struct notifier_block kwasm_die_nb = {
	.notifier_call = kwasm_die_notify,
};

static bool selftest;
module_param(selftest, bool, 0444);
MODULE_PARM_DESC(selftest, "Run the module's self-tests (allocator, W^X code memory) at load and refuse to load if one fails");

/* Module-wide limits, read by the Rust half at every run (platform/params.rs). */
unsigned int kwasm_param_max_instances = 64;
module_param_named(max_instances, kwasm_param_max_instances, uint, 0644);
MODULE_PARM_DESC(max_instances, "Most programs running at once, up to 256; a run beyond it gets EBUSY (default 64)");

unsigned long kwasm_param_max_memory_mib;
module_param_named(max_memory_mib, kwasm_param_max_memory_mib, ulong, 0644);
MODULE_PARM_DESC(max_memory_mib, "Cap on a program's linear memory in MiB, whatever it asks for (0: no cap beyond the program's own and --max-memory)");

unsigned long kwasm_param_max_timeout_ms;
module_param_named(max_timeout_ms, kwasm_param_max_timeout_ms, ulong, 0644);
MODULE_PARM_DESC(max_timeout_ms, "Cap on a program's run time in ms, whatever --timeout asks for (0: no cap)");

/* private_data belongs to the Rust side (a session, once it is one). */
static int kwasm_open(struct inode *inode, struct file *file)
{
	return kwasm_rust_open(&file->private_data);
}

static long kwasm_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return kwasm_rust_ioctl(&file->private_data, cmd, arg);
}

static int kwasm_release(struct inode *inode, struct file *file)
{
	kwasm_rust_release(&file->private_data);
	return 0;
}

static const struct file_operations kwasm_fops = {
	.owner = THIS_MODULE,
	.open = kwasm_open,
	.release = kwasm_release,
	.unlocked_ioctl = kwasm_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/* /sys/class/misc/kwasm/memory_bytes: the kernel memory programs hold now. */
static ssize_t memory_bytes_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", kwasm_rust_memory_bytes());
}
static DEVICE_ATTR_RO(memory_bytes);

/* .../reserved_bytes: address space linear memories reserve now. */
static ssize_t reserved_bytes_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", kwasm_rust_reserved_bytes());
}
static DEVICE_ATTR_RO(reserved_bytes);

/* .../stack_high_water_bytes: the most of a private stack any run used. */
static ssize_t stack_high_water_bytes_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", kwasm_rust_stack_high_water());
}
static DEVICE_ATTR_RO(stack_high_water_bytes);

/* .../stack_size_bytes: a private stack's usable size. */
static ssize_t stack_size_bytes_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", kwasm_rust_stack_size());
}
static DEVICE_ATTR_RO(stack_size_bytes);

static struct attribute *kwasm_attrs[] = {
	&dev_attr_memory_bytes.attr,
	&dev_attr_reserved_bytes.attr,
	&dev_attr_stack_high_water_bytes.attr,
	&dev_attr_stack_size_bytes.attr,
	NULL,
};
ATTRIBUTE_GROUPS(kwasm);

static struct miscdevice kwasm_device = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kwasm",
	.fops = &kwasm_fops,
	.mode = 0600,
	.groups = kwasm_groups,
};

static int __init kwasm_init(void)
{
	int err;

	kwasm_put_wq = alloc_workqueue("kwasm_put", KWASM_WQ_PERCPU, 0);
	if (!kwasm_put_wq)
		return -ENOMEM;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
	hrtimer_setup(&kwasm_tick_timer, kwasm_tick, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
#else
	hrtimer_init(&kwasm_tick_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	kwasm_tick_timer.function = kwasm_tick;
#endif
	/* Before the device exists, so every run sees guard regions as they
	 * will stay. */
	kwasm_guard_init();
	err = kwasm_rust_init(selftest);
	if (err)
		goto out_guard;
	err = misc_register(&kwasm_device);
	if (err)
		goto out_rust;
	register_die_notifier(&kwasm_die_nb);
	return 0;
out_rust:
	kwasm_rust_exit();
out_guard:
	kwasm_guard_exit();
	destroy_workqueue(kwasm_put_wq);
	return err;
}

static void __exit kwasm_exit(void)
{
	unregister_die_notifier(&kwasm_die_nb);
	misc_deregister(&kwasm_device);
	/* No run is left to fault (open files pin the module). */
	kwasm_guard_exit();
	kwasm_rust_exit();
	/* No run is left to register an engine (open files pin the module). */
	hrtimer_cancel(&kwasm_tick_timer);
	/* Drains the file releases still queued. */
	destroy_workqueue(kwasm_put_wq);
}

module_init(kwasm_init);
module_exit(kwasm_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kwasm developers");
MODULE_DESCRIPTION("kwasm: run WebAssembly programs inside the kernel");
MODULE_VERSION(KWASM_VERSION);
