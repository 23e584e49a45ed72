// SPDX-License-Identifier: GPL-2.0-only
/*
 * kwasm.ko C glue for sockets (WASI's sock_* and kwasm_net): one-line
 * wrappers around what Rust cannot reach (struct socket, struct sock,
 * msghdr, sockptr_t, wait-queue entries), and the wait-queue hook a
 * kwasm_net poller registration puts on a file. Every decision — which
 * flags, which errno, when something is ready — is made in
 * rust/src/platform/net.rs and rust/src/wasm/poller.rs.
 *
 * Kernel differences absorbed here (docs/kernels.md has the table):
 * - 6.19: kernel_bind()/kernel_connect() take a `struct sockaddr_unsized *`.
 */
#include <linux/errno.h>
#include <linux/hrtimer.h>
#include <linux/in.h>
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/tcp.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
#define KWASM_SOCKADDR_IN struct sockaddr_unsized
#else
#define KWASM_SOCKADDR_IN struct sockaddr
#endif

/* Implemented in Rust (rust/src/platform/waiter.rs): a registration's file
 * signalled a change of readiness (`mask`: EPOLL* bits, 0 if unknown). */
void kwasm_rust_ready(void *owner, unsigned int mask);

/* Wait-queue hooks of one registration: sockets wait on one queue; up to
 * two are kept, as a file may poll_wait on a read and a write queue. */
struct kwasm_waiter {
	poll_table pt;
	void *owner;
	int count;
	struct {
		wait_queue_head_t *head;
		wait_queue_entry_t entry;
	} queues[2];
};

struct file *kwasm_sock_open(int family, bool nonblock);
int kwasm_sock_bind(struct file *file, const void *addr, int len);
int kwasm_sock_listen(struct file *file, int backlog);
int kwasm_sock_connect(struct file *file, const void *addr, int len);
int kwasm_sock_name(struct file *file, void *addr, bool peer);
struct file *kwasm_sock_accept(struct file *file, bool nonblock);
int kwasm_sock_recv(struct file *file, void *buf, size_t len, int flags);
int kwasm_sock_send(struct file *file, const void *buf, size_t len, int flags);
int kwasm_sock_shutdown(struct file *file, int how);
int kwasm_sock_setopt(struct file *file, int level, int name, int value);
int kwasm_sock_getopt(struct file *file, int level, int name);
int kwasm_sock_error(struct file *file);
bool kwasm_file_is_socket(struct file *file);
struct file *kwasm_file_get(struct file *file);
unsigned long kwasm_nofile_limit(void);
struct kwasm_waiter *kwasm_waiter_new(void *owner);
unsigned int kwasm_waiter_arm(struct kwasm_waiter *w, struct file *file);
void kwasm_waiter_free(struct kwasm_waiter *w);
struct wait_queue_head *kwasm_waitq_new(void);
void kwasm_waitq_free(struct wait_queue_head *wq);
void kwasm_waitq_wake(struct wait_queue_head *wq);
void kwasm_waitq_wait(struct wait_queue_head *wq, void *const *ready, u64 monotonic_ns);

/* socket(2) + the fd's file, in the caller's network namespace and with
 * the caller's credentials (not a kernel socket: LSMs see the caller). */
struct file *kwasm_sock_open(int family, bool nonblock)
{
	struct socket *sock;
	int err = sock_create(family, SOCK_STREAM, IPPROTO_TCP, &sock);

	if (err)
		return ERR_PTR(err);
	/* sock_alloc_file releases sock itself when it fails. */
	return sock_alloc_file(sock, nonblock ? O_NONBLOCK : 0, NULL);
}

int kwasm_sock_bind(struct file *file, const void *addr, int len)
{
	struct socket *sock = sock_from_file(file);

	return sock ? kernel_bind(sock, (KWASM_SOCKADDR_IN *)addr, len) : -ENOTSOCK;
}

int kwasm_sock_listen(struct file *file, int backlog)
{
	struct socket *sock = sock_from_file(file);

	return sock ? kernel_listen(sock, backlog) : -ENOTSOCK;
}

int kwasm_sock_connect(struct file *file, const void *addr, int len)
{
	struct socket *sock = sock_from_file(file);

	if (!sock)
		return -ENOTSOCK;
	return kernel_connect(sock, (KWASM_SOCKADDR_IN *)addr, len, file->f_flags & O_NONBLOCK);
}

/* getsockname/getpeername into a 28-byte buffer: the length, or -errno. */
int kwasm_sock_name(struct file *file, void *addr, bool peer)
{
	struct socket *sock = sock_from_file(file);
	struct sockaddr_storage ss;
	int len;

	if (!sock)
		return -ENOTSOCK;
	len = peer ? kernel_getpeername(sock, (struct sockaddr *)&ss) :
		     kernel_getsockname(sock, (struct sockaddr *)&ss);
	if (len > 0)
		memcpy(addr, &ss, min_t(int, len, sizeof(struct sockaddr_in6)));
	return len;
}

struct file *kwasm_sock_accept(struct file *file, bool nonblock)
{
	struct socket *sock = sock_from_file(file), *newsock;
	int err;

	if (!sock)
		return ERR_PTR(-ENOTSOCK);
	err = kernel_accept(sock, &newsock, file->f_flags & O_NONBLOCK);
	if (err)
		return ERR_PTR(err);
	/* sock_alloc_file releases newsock itself when it fails. */
	return sock_alloc_file(newsock, nonblock ? O_NONBLOCK : 0, NULL);
}

/* recv(2) into a kernel buffer; `flags` are MSG_* (the file's O_NONBLOCK
 * adds MSG_DONTWAIT, as in the syscall). */
int kwasm_sock_recv(struct file *file, void *buf, size_t len, int flags)
{
	struct socket *sock = sock_from_file(file);
	struct kvec kvec = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_flags = (file->f_flags & O_NONBLOCK) ? MSG_DONTWAIT : 0 };

	if (!sock)
		return -ENOTSOCK;
	return kernel_recvmsg(sock, &msg, &kvec, 1, len, flags | msg.msg_flags);
}

/* send(2) from a kernel buffer; `flags` as for kwasm_sock_recv. */
int kwasm_sock_send(struct file *file, const void *buf, size_t len, int flags)
{
	struct socket *sock = sock_from_file(file);
	struct kvec kvec = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_flags = flags | ((file->f_flags & O_NONBLOCK) ? MSG_DONTWAIT : 0) };

	if (!sock)
		return -ENOTSOCK;
	return kernel_sendmsg(sock, &msg, &kvec, 1, len);
}

int kwasm_sock_shutdown(struct file *file, int how)
{
	struct socket *sock = sock_from_file(file);

	return sock ? kernel_sock_shutdown(sock, how) : -ENOTSOCK;
}

/* setsockopt(2) of an int option, as the syscall dispatches it. */
int kwasm_sock_setopt(struct file *file, int level, int name, int value)
{
	struct socket *sock = sock_from_file(file);
	sockptr_t val = KERNEL_SOCKPTR(&value);

	if (!sock)
		return -ENOTSOCK;
	if (level == SOL_SOCKET)
		return sock_setsockopt(sock, level, name, val, sizeof(value));
	return sock->ops->setsockopt(sock, level, name, val, sizeof(value));
}

/* getsockopt(2) of the int options kwasm_net has: the fields the syscall
 * reports for them (the protocol getsockopts take only user pointers). */
int kwasm_sock_getopt(struct file *file, int level, int name)
{
	struct socket *sock = sock_from_file(file);
	struct sock *sk;

	if (!sock)
		return -ENOTSOCK;
	sk = sock->sk;
	if (level == SOL_SOCKET && name == SO_REUSEADDR)
		return sk->sk_reuse != SK_NO_REUSE;
	if (level == SOL_SOCKET && name == SO_REUSEPORT)
		return sk->sk_reuseport;
	if (level == SOL_SOCKET && name == SO_KEEPALIVE)
		return sock_flag(sk, SOCK_KEEPOPEN);
	if (level == SOL_SOCKET && name == SO_RCVBUF)
		return READ_ONCE(sk->sk_rcvbuf);
	if (level == SOL_SOCKET && name == SO_SNDBUF)
		return READ_ONCE(sk->sk_sndbuf);
	if (level == IPPROTO_TCP && name == TCP_NODELAY && sk->sk_protocol == IPPROTO_TCP)
		return !!(tcp_sk(sk)->nonagle & TCP_NAGLE_OFF);
	return -ENOPROTOOPT;
}

/* SO_ERROR: the pending error (positive), cleared; 0 if none. */
int kwasm_sock_error(struct file *file)
{
	struct socket *sock = sock_from_file(file);

	return sock ? -sock_error(sock->sk) : -ENOTSOCK;
}

bool kwasm_file_is_socket(struct file *file)
{
	return sock_from_file(file) != NULL;
}

struct file *kwasm_file_get(struct file *file)
{
	return get_file(file);
}

unsigned long kwasm_nofile_limit(void)
{
	return rlimit(RLIMIT_NOFILE);
}

/* Wake-up callback: runs under the wait-queue lock, possibly in interrupt
 * context; Rust's side only sets atomics and wakes the waiting task. */
static int kwasm_waiter_wake(wait_queue_entry_t *entry, unsigned int mode, int sync, void *key)
{
	struct kwasm_waiter *w = entry->private;

	kwasm_rust_ready(w->owner, key_to_poll(key));
	return 0;
}

static void kwasm_waiter_queue(struct file *file, wait_queue_head_t *head, poll_table *pt)
{
	struct kwasm_waiter *w = container_of(pt, struct kwasm_waiter, pt);

	if (w->count == ARRAY_SIZE(w->queues))
		return;
	init_waitqueue_func_entry(&w->queues[w->count].entry, kwasm_waiter_wake);
	w->queues[w->count].entry.private = w;
	w->queues[w->count].head = head;
	add_wait_queue(head, &w->queues[w->count].entry);
	w->count++;
}

struct kwasm_waiter *kwasm_waiter_new(void *owner)
{
	struct kwasm_waiter *w = kzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);

	if (w) {
		init_poll_funcptr(&w->pt, kwasm_waiter_queue);
		w->owner = owner;
	}
	return w;
}

/* Hooks `w` onto the file's wait queues; returns its readiness now. */
unsigned int kwasm_waiter_arm(struct kwasm_waiter *w, struct file *file)
{
	return vfs_poll(file, &w->pt);
}

/* Unhooks and frees `w`. remove_wait_queue takes each queue's lock, so once
 * this returns no callback for `w` runs or will run. */
void kwasm_waiter_free(struct kwasm_waiter *w)
{
	int i;

	for (i = 0; i < w->count; i++)
		remove_wait_queue(w->queues[i].head, &w->queues[i].entry);
	kfree(w);
}

/* The wait queue a poller's task sleeps on, as epoll's ep->wq: wake-ups
 * go through its lock, so a wake-up never touches a task that stopped
 * waiting. */
struct wait_queue_head *kwasm_waitq_new(void)
{
	struct wait_queue_head *wq = kmalloc(sizeof(*wq), GFP_KERNEL_ACCOUNT);

	if (wq)
		init_waitqueue_head(wq);
	return wq;
}

void kwasm_waitq_free(struct wait_queue_head *wq)
{
	kfree(wq);
}

/* Wakes the poller's task if it sleeps; the common case (it does not: it
 * is busy serving) costs a barrier, not the queue's lock (as epoll). */
void kwasm_waitq_wake(struct wait_queue_head *wq)
{
	if (wq_has_sleeper(wq))
		wake_up_interruptible(wq);
}

/* Sleeps on `wq` unless `*ready` is set (looked at once queued, so a
 * wake-up after that look is not lost) or a signal is pending, until woken
 * or CLOCK_MONOTONIC `monotonic_ns` (U64_MAX: no time limit). */
void kwasm_waitq_wait(struct wait_queue_head *wq, void *const *ready, u64 monotonic_ns)
{
	ktime_t until = ns_to_ktime(monotonic_ns);
	DEFINE_WAIT(wait);

	prepare_to_wait(wq, &wait, TASK_INTERRUPTIBLE);
	if (!READ_ONCE(*ready) && !signal_pending(current))
		schedule_hrtimeout_range(monotonic_ns == U64_MAX ? NULL : &until, 0, HRTIMER_MODE_ABS);
	finish_wait(wq, &wait);
}
