/* What the C corpus programs share: printing a call's result as
 * `label: ok [detail]` or `label: err ENAME`, so that the kernel and the
 * reference must agree on the exact errno. Built with clang for
 * wasm32-wasi against wasi-libc (see ../README.md). */
#ifndef CORPUS_H
#define CORPUS_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ROOT "/sandbox"

static inline const char *errno_name(int e)
{
	switch (e) {
#define E(x) case x: return #x;
	E(E2BIG) E(EACCES) E(EAGAIN) E(EBADF) E(EBUSY) E(EEXIST) E(EFAULT)
	E(EFBIG) E(EILSEQ) E(EINTR) E(EINVAL) E(EIO) E(EISDIR) E(ELOOP)
	E(EMFILE) E(EMLINK) E(ENAMETOOLONG) E(ENOENT) E(ENOMEM) E(ENOSPC)
	E(ENOSYS) E(ENOTDIR) E(ENOTEMPTY) E(ENOTSUP) E(ENOTTY) E(ENXIO)
	E(EOVERFLOW) E(EPERM) E(EPIPE) E(EROFS) E(ESPIPE) E(EXDEV)
	E(ENOTCAPABLE) E(ETIMEDOUT)
#undef E
	default: return "E?";
	}
}

/* `label: ok` if rc >= 0, else `label: err ENAME (n)`; returns rc. */
static inline long check(const char *label, long rc)
{
	if (rc >= 0)
		printf("%s: ok\n", label);
	else
		printf("%s: err %s (%d)\n", label, errno_name(errno), errno);
	return rc;
}

/* Like check(), printing the value when it worked. */
static inline long value(const char *label, long rc)
{
	if (rc >= 0)
		printf("%s: ok %ld\n", label, rc);
	else
		printf("%s: err %s (%d)\n", label, errno_name(errno), errno);
	return rc;
}

/* FNV-1a, 64 bits. */
static inline unsigned long long fnv(const void *data, size_t len)
{
	const unsigned char *p = data;
	unsigned long long h = 0xcbf29ce484222325ULL;
	while (len--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

#endif
