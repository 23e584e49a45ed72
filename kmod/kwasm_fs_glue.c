// SPDX-License-Identifier: GPL-2.0-only
/*
 * kwasm.ko C glue for WASI's files and directories: one-line
 * wrappers around kernel inline functions and macros, and the few calls
 * whose arguments differ between kernel releases (id-mapped mounts became
 * `struct mnt_idmap` in 6.3) or live in structs Rust cannot lay out
 * (kstat, iattr, renamedata). Every decision — which path, which
 * checks, which errno — is made in rust/src/platform/fs.rs.
 */
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/stat.h>
#include <linux/uio.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define KWASM_IDMAP(mnt) mnt_idmap(mnt)
#else
#define KWASM_IDMAP(mnt) mnt_user_ns(mnt)
#endif

/* Exported since 2.6 but declared only in fs/internal.h before 6.2. */
int vfs_path_lookup(struct dentry *dentry, struct vfsmount *mnt, const char *name,
		    unsigned int flags, struct path *path);

/* What rust/src/platform/fs.rs reads of a kstat. */
struct kwasm_stat {
	u64 dev;
	u64 ino;
	u64 nlink;
	u64 size;
	s64 atime_ns;
	s64 mtime_ns;
	s64 ctime_ns;
	u32 mode;
	u32 reserved;
};

/* A directory read in progress; `data` belongs to Rust. */
struct kwasm_dir_reader {
	struct dir_context ctx;
	void *data;
};

/* Implemented in Rust (rust/src/platform/fs.rs). */
bool kwasm_rust_dirent(void *data, const char *name, int len, loff_t pos, u64 ino, unsigned int type);

const struct path *kwasm_file_path(struct file *file);
int kwasm_lookup_beneath(const struct path *dir, const char *name, bool follow, bool directory, struct path *out);
int kwasm_path_stat(const struct path *path, struct kwasm_stat *out);
int kwasm_set_times(const struct path *path, s64 atime_ns, s64 mtime_ns);
ssize_t kwasm_file_pread(struct file *file, void *buf, size_t len, loff_t pos);
ssize_t kwasm_file_pwrite(struct file *file, const void *buf, size_t len, loff_t pos);
void kwasm_file_set_flags(struct file *file, unsigned int mask, unsigned int flags);
bool kwasm_file_writable(struct file *file);
bool kwasm_file_append_only(struct file *file);
int kwasm_read_dir(struct file *dir, void *data);
struct dentry *kwasm_dentry_of(const struct path *path);
void kwasm_lock_parent(const struct path *parent);
void kwasm_unlock_parent(const struct path *parent);
bool kwasm_dentry_positive(struct dentry *dentry);
bool kwasm_dentry_is_dir(struct dentry *dentry);
bool kwasm_dentry_is_symlink(struct dentry *dentry);
int kwasm_mkdir(const struct path *parent, struct dentry *dentry);
int kwasm_rmdir(const struct path *parent, struct dentry *dentry);
int kwasm_unlink(const struct path *parent, struct dentry *dentry);
int kwasm_symlink(const struct path *parent, struct dentry *dentry, const char *target);
int kwasm_link(struct dentry *old, const struct path *new_parent, struct dentry *new);
int kwasm_rename(const struct path *old_parent, struct dentry *old, const struct path *new_parent, struct dentry *new);
int kwasm_readlink(const struct path *path, char *buf, int len);
bool kwasm_same_mount(const struct path *a, const struct path *b);
unsigned int kwasm_file_poll(struct file *file);
bool kwasm_is_err(const void *ptr);
long kwasm_ptr_err(const void *ptr);

const struct path *kwasm_file_path(struct file *file)
{
	return &file->f_path;
}

int kwasm_lookup_beneath(const struct path *dir, const char *name, bool follow, bool directory, struct path *out)
{
	return vfs_path_lookup(dir->dentry, dir->mnt, name,
			       LOOKUP_BENEATH | (follow ? LOOKUP_FOLLOW : 0) | (directory ? LOOKUP_DIRECTORY : 0), out);
}

int kwasm_path_stat(const struct path *path, struct kwasm_stat *out)
{
	struct kstat st;
	int err = vfs_getattr(path, &st, STATX_BASIC_STATS, AT_STATX_SYNC_AS_STAT);

	if (err)
		return err;
	out->dev = new_encode_dev(st.dev);
	out->ino = st.ino;
	out->nlink = st.nlink;
	out->size = st.size;
	out->atime_ns = timespec64_to_ns(&st.atime);
	out->mtime_ns = timespec64_to_ns(&st.mtime);
	out->ctime_ns = timespec64_to_ns(&st.ctime);
	out->mode = st.mode;
	return 0;
}

/* vfs_utimes() is not exported; this is its body for kernel callers.
 * A time is nanoseconds, or UTIME_NOW / UTIME_OMIT (as utimensat takes). */
int kwasm_set_times(const struct path *path, s64 atime_ns, s64 mtime_ns)
{
	struct inode *inode = path->dentry->d_inode;
	struct iattr attr = { .ia_valid = ATTR_CTIME | ATTR_ATIME | ATTR_MTIME };
	int err;

	if (atime_ns == UTIME_OMIT && mtime_ns == UTIME_OMIT)
		return 0;
	if (atime_ns == UTIME_OMIT)
		attr.ia_valid &= ~ATTR_ATIME;
	else if (atime_ns != UTIME_NOW) {
		attr.ia_atime = ns_to_timespec64(atime_ns);
		attr.ia_valid |= ATTR_ATIME_SET;
	}
	if (mtime_ns == UTIME_OMIT)
		attr.ia_valid &= ~ATTR_MTIME;
	else if (mtime_ns != UTIME_NOW) {
		attr.ia_mtime = ns_to_timespec64(mtime_ns);
		attr.ia_valid |= ATTR_MTIME_SET;
	}
	/* Both "now": any writer may touch the file, as utimensat allows. */
	if (atime_ns == UTIME_NOW && mtime_ns == UTIME_NOW)
		attr.ia_valid |= ATTR_TOUCH;
	err = mnt_want_write(path->mnt);
	if (err)
		return err;
	inode_lock(inode);
	/* No delegation breaking: an NFS-exported file with a lease answers
	 * -EWOULDBLOCK, as utimensat with O_NONBLOCK semantics would. */
	err = notify_change(KWASM_IDMAP(path->mnt), path->dentry, &attr, NULL);
	inode_unlock(inode);
	mnt_drop_write(path->mnt);
	return err;
}

ssize_t kwasm_file_pread(struct file *file, void *buf, size_t len, loff_t pos)
{
	struct kvec kvec = { .iov_base = buf, .iov_len = len };
	struct iov_iter iter;

	iov_iter_kvec(&iter, ITER_DEST, &kvec, 1, len);
	return vfs_iter_read(file, &iter, &pos, 0);
}

ssize_t kwasm_file_pwrite(struct file *file, const void *buf, size_t len, loff_t pos)
{
	struct kvec kvec = { .iov_base = (void *)buf, .iov_len = len };
	struct iov_iter iter;

	iov_iter_kvec(&iter, ITER_SOURCE, &kvec, 1, len);
	return vfs_iter_write(file, &iter, &pos, 0);
}

/* fcntl(F_SETFL)'s store (setfl() is not exported). */
/* As fcntl(F_SETFL) does: the I/O paths read the flags from f_iocb_flags,
 * computed from f_flags at open, so it follows every change (without it a
 * cleared O_APPEND kept appending). */
void kwasm_file_set_flags(struct file *file, unsigned int mask, unsigned int flags)
{
	spin_lock(&file->f_lock);
	file->f_flags = (file->f_flags & ~mask) | (flags & mask);
	file->f_iocb_flags = iocb_flags(file);
	spin_unlock(&file->f_lock);
}

bool kwasm_file_writable(struct file *file)
{
	return file->f_mode & FMODE_WRITE;
}

/* An append-only inode (chattr +a): fcntl(F_SETFL) may not clear O_APPEND. */
bool kwasm_file_append_only(struct file *file)
{
	return IS_APPEND(file_inode(file));
}

static bool kwasm_dir_actor(struct dir_context *ctx, const char *name, int len, loff_t pos, u64 ino, unsigned int type)
{
	struct kwasm_dir_reader *r = container_of(ctx, struct kwasm_dir_reader, ctx);

	return kwasm_rust_dirent(r->data, name, len, pos, ino, type);
}

/* Reads `dir` from its position, one kwasm_rust_dirent(data, ...) per
 * entry until that returns false; the position moves past what was read. */
int kwasm_read_dir(struct file *dir, void *data)
{
	struct kwasm_dir_reader r = { .ctx.actor = kwasm_dir_actor, .data = data };

	return iterate_dir(dir, &r.ctx);
}

struct dentry *kwasm_dentry_of(const struct path *path)
{
	return path->dentry;
}

void kwasm_lock_parent(const struct path *parent)
{
	inode_lock_nested(d_inode(parent->dentry), I_MUTEX_PARENT);
}

void kwasm_unlock_parent(const struct path *parent)
{
	inode_unlock(d_inode(parent->dentry));
}

bool kwasm_dentry_positive(struct dentry *dentry)
{
	return d_really_is_positive(dentry);
}

bool kwasm_dentry_is_dir(struct dentry *dentry)
{
	return d_is_dir(dentry);
}

bool kwasm_dentry_is_symlink(struct dentry *dentry)
{
	return d_is_symlink(dentry);
}

int kwasm_mkdir(const struct path *parent, struct dentry *dentry)
{
	struct inode *dir = d_inode(parent->dentry);
	umode_t mode = IS_POSIXACL(dir) ? 0777 : 0777 & ~current_umask();

	return vfs_mkdir(KWASM_IDMAP(parent->mnt), dir, dentry, mode);
}

int kwasm_rmdir(const struct path *parent, struct dentry *dentry)
{
	return vfs_rmdir(KWASM_IDMAP(parent->mnt), d_inode(parent->dentry), dentry);
}

int kwasm_unlink(const struct path *parent, struct dentry *dentry)
{
	return vfs_unlink(KWASM_IDMAP(parent->mnt), d_inode(parent->dentry), dentry, NULL);
}

int kwasm_symlink(const struct path *parent, struct dentry *dentry, const char *target)
{
	return vfs_symlink(KWASM_IDMAP(parent->mnt), d_inode(parent->dentry), dentry, target);
}

int kwasm_link(struct dentry *old, const struct path *new_parent, struct dentry *new)
{
	return vfs_link(old, KWASM_IDMAP(new_parent->mnt), d_inode(new_parent->dentry), new, NULL);
}

int kwasm_rename(const struct path *old_parent, struct dentry *old, const struct path *new_parent, struct dentry *new)
{
	struct renamedata rd = {
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
		.old_mnt_idmap = mnt_idmap(old_parent->mnt),
		.new_mnt_idmap = mnt_idmap(new_parent->mnt),
#else
		.old_mnt_userns = mnt_user_ns(old_parent->mnt),
		.new_mnt_userns = mnt_user_ns(new_parent->mnt),
#endif
		.old_dir = d_inode(old_parent->dentry),
		.old_dentry = old,
		.new_dir = d_inode(new_parent->dentry),
		.new_dentry = new,
	};

	return vfs_rename(&rd);
}

/* readlink into a kernel buffer (vfs_readlink copies to user memory):
 * the link's length, which may be more than `len`. */
int kwasm_readlink(const struct path *path, char *buf, int len)
{
	DEFINE_DELAYED_CALL(done);
	const char *link = vfs_get_link(path->dentry, &done);
	int n;

	if (IS_ERR(link))
		return PTR_ERR(link);
	n = strlen(link);
	memcpy(buf, link, min(n, len));
	do_delayed_call(&done);
	touch_atime(path);
	return n;
}

bool kwasm_same_mount(const struct path *a, const struct path *b)
{
	return a->mnt == b->mnt;
}

unsigned int kwasm_file_poll(struct file *file)
{
	return vfs_poll(file, NULL);
}

bool kwasm_is_err(const void *ptr)
{
	return IS_ERR(ptr);
}

long kwasm_ptr_err(const void *ptr)
{
	return PTR_ERR(ptr);
}
