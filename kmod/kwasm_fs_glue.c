// SPDX-License-Identifier: GPL-2.0-only
/*
 * kwasm.ko C glue for WASI's files and directories: one-line
 * wrappers around kernel inline functions and macros, and the few calls
 * whose arguments differ between kernel releases (id-mapped mounts became
 * `struct mnt_idmap` in 6.3) or live in structs Rust cannot lay out
 * (kstat, iattr, renamedata). Every decision — which path, which
 * checks, which errno — is made in rust/src/platform/fs.rs.
 *
 * Kernel differences absorbed here (docs/kernels.md has the table):
 * - 6.3: id-mapped mounts are `struct mnt_idmap`, no longer a user_namespace.
 * - 6.15: vfs_mkdir() returns the dentry it made (dput()ing ours if it
 *   differs, or on failure).
 * - 6.19: directory operations begin with start_creating()/start_renaming()
 *   and end with end_creating()/end_renaming() (lock + lookup in one,
 *   lookup_one_len() and lock_rename() no longer exported); vfs_mkdir()
 *   also unlocks the parent on failure; vfs_rmdir()/vfs_symlink() take a
 *   `struct delegated_inode *`; renamedata holds parent dentries and one idmap.
 * The Rust side sees one protocol everywhere: kwasm_child_begin/end around
 * one child of a locked parent, kwasm_rename_begin/end around a rename.
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

/* 6.19: start_creating()/end_creating(), start_renaming()/end_renaming(). */
#define KWASM_DIROPS (LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0))
/* 6.19: the last argument of vfs_rmdir()/vfs_symlink(), delegations. */
#if KWASM_DIROPS
#define KWASM_NO_DELEGATION , NULL
#else
#define KWASM_NO_DELEGATION
#endif

/*
 * A rename in progress (kwasm_rename_begin .. kwasm_rename_end). Rust reads
 * the first three fields and reserves KWASM_RENAME_SIZE bytes for the rest
 * (rust/src/platform/ffi.rs, RenameState).
 */
struct kwasm_rename {
	struct dentry *old;
	struct dentry *new;
	/* lock_rename()'s trap, for Rust's checks; NULL where the kernel's
	 * start_renaming() checks it itself. */
	struct dentry *trap;
#if KWASM_DIROPS
	struct renamedata rd;
#else
	struct dentry *old_parent;
	struct dentry *new_parent;
	const struct path *old_path;
	const struct path *new_path;
#endif
};
#define KWASM_RENAME_SIZE 256

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
struct dentry *kwasm_child_begin(const struct path *parent, const char *name, int len);
void kwasm_child_end(const struct path *parent, struct dentry *child);
int kwasm_rename_begin(struct kwasm_rename *r, const struct path *old_parent, const char *old_name, int old_len,
		       const struct path *new_parent, const char *new_name, int new_len);
void kwasm_rename_end(struct kwasm_rename *r);
bool kwasm_dentry_positive(struct dentry *dentry);
bool kwasm_dentry_is_dir(struct dentry *dentry);
bool kwasm_dentry_is_symlink(struct dentry *dentry);
int kwasm_mkdir(const struct path *parent, struct dentry *dentry);
int kwasm_rmdir(const struct path *parent, struct dentry *dentry);
int kwasm_unlink(const struct path *parent, struct dentry *dentry);
int kwasm_symlink(const struct path *parent, struct dentry *dentry, const char *target);
int kwasm_link(struct dentry *old, const struct path *new_parent, struct dentry *new);
int kwasm_rename(struct kwasm_rename *r);
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

/* The parent locked and its child `name` looked up (negative if absent), as
 * the *at(2) system calls do before creating or removing; ERR_PTR with
 * nothing held on failure. */
struct dentry *kwasm_child_begin(const struct path *parent, const char *name, int len)
{
#if KWASM_DIROPS
	return start_creating(mnt_idmap(parent->mnt), parent->dentry, &QSTR_LEN(name, len));
#else
	struct dentry *child;

	inode_lock_nested(d_inode(parent->dentry), I_MUTEX_PARENT);
	child = lookup_one_len(name, parent->dentry, len);
	if (IS_ERR(child))
		inode_unlock(d_inode(parent->dentry));
	return child;
#endif
}

/* Undoes kwasm_child_begin: the child put, the parent unlocked. */
void kwasm_child_end(const struct path *parent, struct dentry *child)
{
#if KWASM_DIROPS
	end_creating(child);
#else
	dput(child);
	inode_unlock(d_inode(parent->dentry));
#endif
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

/* Between kwasm_child_begin and _end, which still own `dentry` and the
 * parent's lock afterwards, on every kernel: since 6.15 vfs_mkdir() puts
 * the dentry it is given when it fails or makes another (hence the extra
 * reference), and since 6.19 it also unlocks the parent when it fails
 * (hence the lock taken again for kwasm_child_end to release). */
int kwasm_mkdir(const struct path *parent, struct dentry *dentry)
{
	struct inode *dir = d_inode(parent->dentry);
	umode_t mode = IS_POSIXACL(dir) ? 0777 : 0777 & ~current_umask();
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
	struct dentry *made = vfs_mkdir(KWASM_IDMAP(parent->mnt), dir, dget(dentry), mode KWASM_NO_DELEGATION);

	if (IS_ERR(made)) {
		if (KWASM_DIROPS)
			inode_lock_nested(dir, I_MUTEX_PARENT);
		return PTR_ERR(made);
	}
	dput(made);
	return 0;
#else
	return vfs_mkdir(KWASM_IDMAP(parent->mnt), dir, dentry, mode);
#endif
}

int kwasm_rmdir(const struct path *parent, struct dentry *dentry)
{
	return vfs_rmdir(KWASM_IDMAP(parent->mnt), d_inode(parent->dentry), dentry KWASM_NO_DELEGATION);
}

int kwasm_unlink(const struct path *parent, struct dentry *dentry)
{
	return vfs_unlink(KWASM_IDMAP(parent->mnt), d_inode(parent->dentry), dentry, NULL);
}

int kwasm_symlink(const struct path *parent, struct dentry *dentry, const char *target)
{
	return vfs_symlink(KWASM_IDMAP(parent->mnt), d_inode(parent->dentry), dentry, target KWASM_NO_DELEGATION);
}

int kwasm_link(struct dentry *old, const struct path *new_parent, struct dentry *new)
{
	return vfs_link(old, KWASM_IDMAP(new_parent->mnt), d_inode(new_parent->dentry), new, NULL);
}

/* Both parents locked (lock_rename's order and trap) and both names looked
 * up, as renameat(2) does; on failure nothing is held. Since 6.19 the
 * kernel does all of it, trap checks included, in start_renaming(). */
int kwasm_rename_begin(struct kwasm_rename *r, const struct path *old_parent, const char *old_name, int old_len,
		       const struct path *new_parent, const char *new_name, int new_len)
{
#if KWASM_DIROPS
	int err;

	BUILD_BUG_ON(sizeof(*r) > KWASM_RENAME_SIZE);
	memset(r, 0, sizeof(*r));
	r->rd.mnt_idmap = mnt_idmap(old_parent->mnt);
	r->rd.old_parent = old_parent->dentry;
	r->rd.new_parent = new_parent->dentry;
	err = start_renaming(&r->rd, 0, &QSTR_LEN(old_name, old_len), &QSTR_LEN(new_name, new_len));
	if (err)
		return err;
	r->old = r->rd.old_dentry;
	r->new = r->rd.new_dentry;
	return 0;
#else
	BUILD_BUG_ON(sizeof(*r) > KWASM_RENAME_SIZE);
	memset(r, 0, sizeof(*r));
	r->old_path = old_parent;
	r->new_path = new_parent;
	r->old_parent = old_parent->dentry;
	r->new_parent = new_parent->dentry;
	r->trap = lock_rename(r->old_parent, r->new_parent);
	if (IS_ERR(r->trap))
		return PTR_ERR(r->trap);
	r->old = lookup_one_len(old_name, r->old_parent, old_len);
	if (IS_ERR(r->old))
		goto unlock;
	r->new = lookup_one_len(new_name, r->new_parent, new_len);
	if (IS_ERR(r->new)) {
		dput(r->old);
		r->old = r->new;
		goto unlock;
	}
	return 0;
unlock:
	unlock_rename(r->old_parent, r->new_parent);
	return PTR_ERR(r->old);
#endif
}

void kwasm_rename_end(struct kwasm_rename *r)
{
#if KWASM_DIROPS
	end_renaming(&r->rd);
#else
	dput(r->new);
	dput(r->old);
	unlock_rename(r->old_parent, r->new_parent);
#endif
}

int kwasm_rename(struct kwasm_rename *r)
{
#if KWASM_DIROPS
	return vfs_rename(&r->rd);
#else
	struct renamedata rd = {
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
		.old_mnt_idmap = mnt_idmap(r->old_path->mnt),
		.new_mnt_idmap = mnt_idmap(r->new_path->mnt),
#else
		.old_mnt_userns = mnt_user_ns(r->old_path->mnt),
		.new_mnt_userns = mnt_user_ns(r->new_path->mnt),
#endif
		.old_dir = d_inode(r->old_parent),
		.old_dentry = r->old,
		.new_dir = d_inode(r->new_parent),
		.new_dentry = r->new,
	};

	return vfs_rename(&rd);
#endif
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
