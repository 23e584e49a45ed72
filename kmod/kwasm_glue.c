// SPDX-License-Identifier: GPL-2.0-only
/*
 * kwasm.ko C glue: only what must be C. Module init/exit, the misc device
 * and its file_operations, module metadata, and one-line wrappers around
 * kernel inline functions and macros that Rust cannot call. No logic here:
 * every decision is made in the Rust half (rust/src).
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

/* Implemented in Rust (rust/src/lib.rs). */
int kwasm_rust_init(bool selftest);
void kwasm_rust_exit(void);
int kwasm_rust_open(void);
long kwasm_rust_ioctl(unsigned int cmd, unsigned long arg);

/* One-line wrappers, called from rust/src/platform/ffi.rs only. */
void *kwasm_kvmalloc(size_t size);
unsigned long kwasm_copy_from_user(void *to, const void __user *from, unsigned long n);
unsigned long kwasm_copy_to_user(void __user *to, const void *from, unsigned long n);
void __noreturn kwasm_bug(void);

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

static bool selftest;
module_param(selftest, bool, 0444);
MODULE_PARM_DESC(selftest, "Run the module's self-tests (allocator) at load and refuse to load if one fails");

static int kwasm_open(struct inode *inode, struct file *file)
{
	return kwasm_rust_open();
}

static long kwasm_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return kwasm_rust_ioctl(cmd, arg);
}

static const struct file_operations kwasm_fops = {
	.owner = THIS_MODULE,
	.open = kwasm_open,
	.unlocked_ioctl = kwasm_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice kwasm_device = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kwasm",
	.fops = &kwasm_fops,
	.mode = 0600,
};

static int __init kwasm_init(void)
{
	int err = kwasm_rust_init(selftest);

	if (err)
		return err;
	err = misc_register(&kwasm_device);
	if (err)
		kwasm_rust_exit();
	return err;
}

static void __exit kwasm_exit(void)
{
	misc_deregister(&kwasm_device);
	kwasm_rust_exit();
}

module_init(kwasm_init);
module_exit(kwasm_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kwasm developers");
MODULE_DESCRIPTION("kwasm: run WebAssembly programs inside the kernel");
MODULE_VERSION(KWASM_VERSION);
