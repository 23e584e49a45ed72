// SPDX-License-Identifier: GPL-2.0-only
/*
 * kwasm_bench_ref.ko: the benchmark's in-kernel native reference.
 *
 * The ceiling for kwasm's servers: the benchmark's echo and HTTP servers
 * written as plain kernel C, with the same shape as the wasm servers (one
 * thread, an event loop over readiness, non-blocking socket calls) but
 * with no wasm, no bounds checks, no poller calls and no system calls:
 * the loop calls kernel_accept, kernel_recvmsg and kernel_sendmsg itself,
 * and readiness comes from the sockets' wait queues, as it does for epoll.
 * `cargo xtask bench` loads it in the guest; no test and no user does.
 *
 * Interface: the misc device /dev/kwasm_bench_ref and one ioctl,
 * BREF_IOC_SERVE {listen_fd, kind}. The calling process hands over a
 * listening TCP socket it made; the ioctl serves it, in the caller's
 * context, until a signal arrives, then closes every connection and
 * returns -EINTR. So a reference server is a process like the other
 * variants' servers: started, then ended with SIGTERM.
 *
 *   kind 1, echo: every byte received is sent back.
 *   kind 2, HTTP/1.1, by examples/http-proto's rules and with its bytes:
 *     every request is answered `200 OK` with the body `Hello, world!`,
 *     in order, pipelined ones in one send; a body (Content-Length) is
 *     read past; `Connection: close`, or HTTP/1.0 without `keep-alive`,
 *     closes after the answer (gracefully: our half first, then reading
 *     until the client closes its); a malformed or over-8-KiB head gets
 *     `400`, Transfer-Encoding `501`, and the connection closes. (One
 *     difference: a bad request line is answered when its head is
 *     complete, not as soon as the line is.)
 *
 * Readiness: a wait-queue entry on every socket (the listener and each
 * connection) whose wake function puts the connection on the ready list
 * and wakes the loop; the socket's own callbacks stay as they are. Each
 * entry is removed (remove_wait_queue, under the queue's lock, so no wake
 * function runs after it) before its socket is released, so nothing of
 * this module is reachable from a socket once the ioctl has returned; the
 * open device holds a module reference until then, so rmmod always works
 * once the server's process has ended.
 *
 * The user-space half is `kwasm-guest-tests --kref-serve` (tests/guest,
 * bench.rs), which also holds the ioctl number.
 */
#include <linux/capability.h>
#include <linux/ctype.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/tcp.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/wait.h>
#include <net/sock.h>
#include <net/tcp_states.h>

/* The ioctl's argument. */
struct bref_serve {
	__s32 listen_fd;
	__u32 kind;
};

#define BREF_ECHO 1
#define BREF_HTTP 2
#define BREF_IOC_SERVE _IOW('b', 1, struct bref_serve)

/* Each connection's receive (and, for HTTP, answer) buffer. */
#define BREF_BUF_SIZE (16 * 1024)
/* The most bytes a request head may take (examples/http-proto's MAX_HEAD). */
#define BREF_MAX_HEAD (8 * 1024)
/* Room for the longest answer. */
#define BREF_MAX_ANSWER 128
/* Most connections served at once; one more is closed at once. */
#define BREF_MAX_CONNS 1024

/* One BREF_IOC_SERVE call: the loop (the caller), its listener and its connections. */
struct bref_server {
	struct socket *listener;
	unsigned int kind;
	struct task_struct *task;
	struct wait_queue_entry listen_wait;
	/* Guards ready and accept_ready (wake functions run with the
	 * socket's wait-queue lock held, interrupts off). */
	spinlock_t ready_lock;
	/* Connections with news, each once (their ready_node). */
	struct list_head ready;
	bool accept_ready;
	/* Every connection (only the loop uses it). */
	struct list_head conns;
	unsigned int nconns;
};

/* A connection. */
struct bref_conn {
	struct bref_server *srv;
	struct socket *sock;
	struct wait_queue_entry wait;
	struct list_head node;       /* in srv->conns */
	struct list_head ready_node; /* in srv->ready, or empty */
	u8 *in;                      /* received, not yet answered (HTTP) */
	size_t have;
	u8 *out;                     /* answers (HTTP) */
	const u8 *pending;           /* to send: in c->in (echo) or c->out */
	size_t pending_len;
	u64 skip;                    /* HTTP body bytes still to drop */
	bool closing;                /* end once pending is sent */
	bool draining;               /* our half shut down: reading until the client ends its */
};

/* Non-blocking receive: bytes, 0 at the end, -EAGAIN, or another -errno. */
static int bref_recv(struct socket *sock, void *buf, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT };
	struct kvec vec = { .iov_base = buf, .iov_len = len };

	return kernel_recvmsg(sock, &msg, &vec, 1, len, MSG_DONTWAIT);
}

/* Non-blocking send: bytes sent, -EAGAIN, or another -errno. */
static int bref_send(struct socket *sock, const void *buf, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	struct kvec vec = { .iov_base = (void *)buf, .iov_len = len };

	return kernel_sendmsg(sock, &msg, &vec, 1, len);
}

/* Length of the request head at the start of buf (through its blank
 * line), or 0 if it is not complete yet. */
static size_t bref_head_len(const u8 *buf, size_t len)
{
	size_t i;

	for (i = 3; i < len; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
			return i + 1;
	return 0;
}

/* An HTTP token character (RFC 9110 tchar). */
static bool bref_tchar(u8 c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* v[0..*len) without leading and trailing spaces and tabs (OWS). */
static const u8 *bref_trim(const u8 *v, size_t *len)
{
	while (*len && (*v == ' ' || *v == '\t')) {
		v++;
		(*len)--;
	}
	while (*len && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
		(*len)--;
	return v;
}

/* Whether header name n[0..len) is `name` (any case). */
static bool bref_is(const u8 *n, size_t len, const char *name)
{
	return len == strlen(name) && !strncasecmp((const char *)n, name, len);
}

/* What one request head asks for. */
struct bref_request {
	/* 200, 400 (malformed) or 501 (Transfer-Encoding) */
	int status;
	bool http10;
	bool head_method;
	/* The connection stays open after the answer. */
	bool keep_alive;
	/* Body bytes to read past (and drop) before the next request. */
	u64 content_length;
};

/*
 * Reads one request head h[0..len), which ends in CRLF CRLF, by the rules
 * of examples/http-proto (RFC 9112, strictly, and small): a request line
 * `METHOD SP target SP HTTP/1.x`, header lines `token: value` ending in
 * CRLF, Content-Length (digits; repeated only with the same value) as the
 * body to skip, Connection's `close` / `keep-alive` tokens.
 */
static struct bref_request bref_parse(const u8 *h, size_t len)
{
	struct bref_request r = { .status = 400 };
	const u8 *p = h, *end = h + len - 2; /* the blank line's CRLF left out */
	const u8 *method = h;
	bool close = false, keep = false, te = false, have_length = false;

	/* method SP target SP version CRLF */
	while (p < end && bref_tchar(*p))
		p++;
	if (p == h || p >= end || *p != ' ')
		return r;
	r.head_method = p - method == 4 && !memcmp(method, "HEAD", 4);
	p++;
	if (p >= end || *p == ' ')
		return r;
	while (p < end && *p > ' ' && *p < 0x7f)
		p++;
	if (end - p < 10 || *p != ' ' || memcmp(p + 1, "HTTP/1.", 7) || (p[8] != '0' && p[8] != '1') ||
	    p[9] != '\r' || p[10] != '\n')
		return r;
	r.http10 = p[8] == '0';
	p += 11;
	/* name ":" OWS value OWS CRLF, until the blank line */
	while (p < end) {
		const u8 *name = p, *colon, *eol, *v;
		size_t vlen, i;

		while (p < end && bref_tchar(*p))
			p++;
		if (p == name || p >= end || *p != ':')
			return r;
		colon = p;
		/* eol < end, so eol[1] is inside the head */
		eol = memchr(p, '\r', end - p);
		if (!eol || eol[1] != '\n')
			return r;
		vlen = eol - colon - 1;
		v = bref_trim(colon + 1, &vlen);
		for (i = 0; i < vlen; i++)
			if (v[i] != '\t' && v[i] != ' ' && (v[i] < 0x21 || v[i] == 0x7f))
				return r;
		if (bref_is(name, colon - name, "content-length")) {
			u64 n = 0;

			if (!vlen)
				return r;
			for (i = 0; i < vlen; i++) {
				if (!isdigit(v[i]) || n > (U64_MAX - 9) / 10)
					return r;
				n = n * 10 + (v[i] - '0');
			}
			if (have_length && n != r.content_length)
				return r;
			r.content_length = n;
			have_length = true;
		} else if (bref_is(name, colon - name, "transfer-encoding")) {
			te = true;
		} else if (bref_is(name, colon - name, "connection")) {
			const u8 *o = v, *vend = v + vlen;

			while (o <= vend) {
				const u8 *comma = memchr(o, ',', vend - o);
				size_t olen = (comma ? comma : vend) - o;
				const u8 *opt = bref_trim(o, &olen);

				close |= bref_is(opt, olen, "close");
				keep |= bref_is(opt, olen, "keep-alive");
				if (!comma)
					break;
				o = comma + 1;
			}
		}
		p = eol + 2;
	}
	r.status = te ? 501 : 200;
	r.keep_alive = !close && (!r.http10 || keep);
	return r;
}

/* Writes the answer to r (the bytes examples/http-proto writes) to buf,
 * which has BREF_MAX_ANSWER bytes of room; returns its length. */
static size_t bref_answer(u8 *buf, const struct bref_request *r)
{
	const char *connection = !r->keep_alive ? "Connection: close\r\n" :
				 r->http10      ? "Connection: keep-alive\r\n" :
						  "";
	int n;

	if (r->status == 400)
		n = snprintf((char *)buf, BREF_MAX_ANSWER, "HTTP/1.1 400 Bad Request\r\n"
			     "Content-Length: 0\r\nConnection: close\r\n\r\n");
	else if (r->status == 501)
		n = snprintf((char *)buf, BREF_MAX_ANSWER, "HTTP/1.1 501 Not Implemented\r\n"
			     "Content-Length: 0\r\nConnection: close\r\n\r\n");
	else
		n = snprintf((char *)buf, BREF_MAX_ANSWER,
			     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n%s\r\n%s",
			     connection, r->head_method ? "" : "Hello, world!");
	return n;
}

/* Answers the complete requests in c->in, as many as c->out holds (the
 * rest wait until it is sent); true if it answered any. */
static bool bref_http_answer(struct bref_conn *c)
{
	size_t start = 0, out = 0;

	while (!c->closing && out + BREF_MAX_ANSWER <= BREF_BUF_SIZE) {
		struct bref_request r;
		size_t left = c->have - start, head;

		if (c->skip) {
			size_t drop = min_t(u64, c->skip, left);

			start += drop;
			c->skip -= drop;
			if (c->skip)
				break;
			continue;
		}
		/* Empty lines before a request line are skipped. */
		if (left >= 2 && c->in[start] == '\r' && c->in[start + 1] == '\n') {
			start += 2;
			continue;
		}
		head = bref_head_len(c->in + start, min_t(size_t, left, BREF_MAX_HEAD));
		if (!head) {
			if (left < BREF_MAX_HEAD)
				break;
			r = (struct bref_request){ .status = 400 }; /* head too large */
		} else {
			r = bref_parse(c->in + start, head);
			start += head;
			c->skip = r.content_length;
		}
		out += bref_answer(c->out + out, &r);
		c->closing = r.status != 200 || !r.keep_alive;
	}
	memmove(c->in, c->in + start, c->have - start);
	c->have -= start;
	if (out) {
		c->pending = c->out;
		c->pending_len = out;
	}
	return out;
}

/* Puts c on the ready list (once) and wakes the loop. */
static void bref_queue(struct bref_conn *c)
{
	struct bref_server *srv = c->srv;
	unsigned long flags;

	spin_lock_irqsave(&srv->ready_lock, flags);
	if (list_empty(&c->ready_node))
		list_add_tail(&c->ready_node, &srv->ready);
	spin_unlock_irqrestore(&srv->ready_lock, flags);
	wake_up_process(srv->task);
}

/* Wake function of a connection's socket: readable, writable, closed or failed. */
static int bref_conn_wake(struct wait_queue_entry *wait, unsigned int mode, int sync, void *key)
{
	bref_queue(container_of(wait, struct bref_conn, wait));
	return 0;
}

/* Wake function of the listener: a connection to accept. */
static int bref_listen_wake(struct wait_queue_entry *wait, unsigned int mode, int sync, void *key)
{
	struct bref_server *srv = container_of(wait, struct bref_server, listen_wait);
	unsigned long flags;

	spin_lock_irqsave(&srv->ready_lock, flags);
	srv->accept_ready = true;
	spin_unlock_irqrestore(&srv->ready_lock, flags);
	wake_up_process(srv->task);
	return 0;
}

static void bref_close(struct bref_conn *c)
{
	struct bref_server *srv = c->srv;
	unsigned long flags;

	/* After this no wake function runs for c, so c can go. */
	remove_wait_queue(&c->sock->wq.wait, &c->wait);
	spin_lock_irqsave(&srv->ready_lock, flags);
	list_del_init(&c->ready_node);
	spin_unlock_irqrestore(&srv->ready_lock, flags);
	list_del(&c->node);
	srv->nconns--;
	sock_release(c->sock);
	kfree(c->in);
	kfree(c->out);
	kfree(c);
}

/*
 * One turn of c: sends what is pending, answers, and reads once (at most
 * 16 KiB, as the example servers do per wake-up), so that every connection
 * gets its share. It comes back on a wake-up, or at once (at the back of
 * the ready list) if its read filled the buffer, as more may be waiting.
 */
static void bref_run(struct bref_conn *c)
{
	bool turn = true; /* the read of this turn is still to come */

	for (;;) {
		int n;

		if (c->pending_len) {
			n = bref_send(c->sock, c->pending, c->pending_len);
			if (n < 0 && n != -EAGAIN)
				break;
			if (n > 0) {
				c->pending += n;
				c->pending_len -= n;
			}
			if (c->pending_len)
				return; /* sent what fits; the next wake-up says when there is room */
		}
		if (c->closing && !c->draining) {
			/* The last answer is out. As examples/http-server does, end
			 * our half and read (dropping it) until the client ends its:
			 * closing with unread bytes would reset the connection, which
			 * can destroy the answer before the client has read it. */
			kernel_sock_shutdown(c->sock, SHUT_WR);
			c->draining = true;
			c->have = 0;
		}
		if (!c->draining && c->srv->kind == BREF_HTTP && bref_http_answer(c))
			continue;
		if (!turn)
			return;
		turn = false;
		/* Room is left: an incomplete head is under BREF_MAX_HEAD. */
		n = bref_recv(c->sock, c->in + c->have, BREF_BUF_SIZE - c->have);
		if (n == -EAGAIN)
			return;
		if (n <= 0)
			break;
		if (n == BREF_BUF_SIZE - c->have)
			bref_queue(c);
		if (c->draining)
			continue;
		if (c->srv->kind == BREF_ECHO) {
			c->pending = c->in;
			c->pending_len = n;
		} else {
			c->have += n;
		}
	}
	bref_close(c);
}

/* A new connection: its buffers, its wake function, a first turn (data
 * may have come before the wake function was there). */
static void bref_add(struct bref_server *srv, struct socket *sock)
{
	struct bref_conn *c = NULL;

	if (srv->nconns < BREF_MAX_CONNS)
		c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (c) {
		c->in = kmalloc(BREF_BUF_SIZE, GFP_KERNEL);
		if (srv->kind == BREF_HTTP)
			c->out = kmalloc(BREF_BUF_SIZE, GFP_KERNEL);
	}
	if (!c || !c->in || (srv->kind == BREF_HTTP && !c->out)) {
		if (c) {
			kfree(c->in);
			kfree(c->out);
			kfree(c);
		}
		sock_release(sock);
		return;
	}
	c->srv = srv;
	c->sock = sock;
	INIT_LIST_HEAD(&c->ready_node);
	list_add(&c->node, &srv->conns);
	srv->nconns++;
	tcp_sock_set_nodelay(sock->sk);
	init_waitqueue_func_entry(&c->wait, bref_conn_wake);
	add_wait_queue(&sock->wq.wait, &c->wait);
	bref_queue(c);
}

/* Accepts every connection waiting. */
static void bref_accept(struct bref_server *srv)
{
	for (;;) {
		struct socket *sock;
		int err = kernel_accept(srv->listener, &sock, O_NONBLOCK);

		if (err == -ECONNABORTED)
			continue; /* that one was reset before it was accepted */
		if (err)
			return; /* -EAGAIN: none left (or no memory: the next wake-up) */
		bref_add(srv, sock);
	}
}

/* The loop: runs the ready connections until a signal, then closes all. */
static long bref_serve(struct socket *listener, unsigned int kind)
{
	struct bref_server srv = {
		.listener = listener,
		.kind = kind,
		.task = current,
		/* Connections may be waiting already. */
		.accept_ready = true,
	};
	struct bref_conn *c, *next;
	unsigned long flags;

	spin_lock_init(&srv.ready_lock);
	INIT_LIST_HEAD(&srv.ready);
	INIT_LIST_HEAD(&srv.conns);
	init_waitqueue_func_entry(&srv.listen_wait, bref_listen_wake);
	add_wait_queue(&listener->wq.wait, &srv.listen_wait);
	for (;;) {
		bool accept;

		/* The state is set before the checks: a wake-up in between is not lost. */
		set_current_state(TASK_INTERRUPTIBLE);
		if (signal_pending(current))
			break;
		spin_lock_irqsave(&srv.ready_lock, flags);
		accept = srv.accept_ready;
		srv.accept_ready = false;
		c = list_first_entry_or_null(&srv.ready, struct bref_conn, ready_node);
		if (c)
			list_del_init(&c->ready_node);
		spin_unlock_irqrestore(&srv.ready_lock, flags);
		if (!accept && !c) {
			schedule();
			continue;
		}
		__set_current_state(TASK_RUNNING);
		if (accept)
			bref_accept(&srv);
		if (c)
			bref_run(c);
		cond_resched();
	}
	__set_current_state(TASK_RUNNING);
	remove_wait_queue(&listener->wq.wait, &srv.listen_wait);
	list_for_each_entry_safe(c, next, &srv.conns, node)
		bref_close(c);
	return -EINTR;
}

static long bref_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct bref_serve req;
	struct socket *listener;
	long ret;
	int err;

	if (cmd != BREF_IOC_SERVE)
		return -ENOTTY;
	if (!capable(CAP_NET_ADMIN))
		return -EPERM;
	if (copy_from_user(&req, (void __user *)arg, sizeof(req)))
		return -EFAULT;
	if (req.kind != BREF_ECHO && req.kind != BREF_HTTP)
		return -EINVAL;
	listener = sockfd_lookup(req.listen_fd, &err);
	if (!listener)
		return err;
	if (listener->type != SOCK_STREAM || listener->sk->sk_protocol != IPPROTO_TCP ||
	    READ_ONCE(listener->sk->sk_state) != TCP_LISTEN)
		ret = -EINVAL;
	else
		ret = bref_serve(listener, req.kind);
	sockfd_put(listener);
	return ret;
}

static const struct file_operations bref_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = bref_ioctl,
};

static struct miscdevice bref_device = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kwasm_bench_ref",
	.fops = &bref_fops,
	.mode = 0600,
};

static int __init bref_init(void)
{
	return misc_register(&bref_device);
}

static void __exit bref_exit(void)
{
	misc_deregister(&bref_device);
}

module_init(bref_init);
module_exit(bref_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kwasm developers");
MODULE_DESCRIPTION("kwasm benchmark: in-kernel native echo and HTTP reference servers");
