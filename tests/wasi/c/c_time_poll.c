/* Clocks, sleeping, poll() and the preopens, through wasi-libc:
 * clock_gettime (realtime plausible, monotonic never going back),
 * clock_getres, nanosleep and usleep lasting at least as asked, poll() on
 * regular files (always ready), on stdout, with only a timeout, select()
 * with only a timeout, getentropy, sched_yield, and the list of preopened
 * directories (fd_prestat_get / fd_prestat_dir_name) the program gets. */
#include "corpus.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

static long long ns(clockid_t c)
{
	struct timespec t;
	if (clock_gettime(c, &t) < 0)
		return -1;
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(void)
{
	struct timespec t;

	/* Clocks. */
	check("clock_gettime REALTIME", clock_gettime(CLOCK_REALTIME, &t));
	printf("realtime plausible: %d\n", t.tv_sec > 1577836800 && t.tv_sec < 4102444800LL);
	printf("realtime nsec in range: %d\n", t.tv_nsec >= 0 && t.tv_nsec < 1000000000);
	long long last = ns(CLOCK_MONOTONIC), back = 0;
	for (int i = 0; i < 1000; i++) {
		long long now = ns(CLOCK_MONOTONIC);
		back += now < last;
		last = now;
	}
	printf("monotonic went backwards: %lld times\n", back);
	check("clock_getres MONOTONIC", clock_getres(CLOCK_MONOTONIC, &t));
	printf("monotonic resolution at most 10 ms: %d\n", t.tv_sec == 0 && t.tv_nsec > 0 && t.tv_nsec <= 10000000);
	check("clock_getres REALTIME", clock_getres(CLOCK_REALTIME, &t));
	printf("time(): plausible %d\n", time(NULL) > 1577836800);

	/* Sleeping. */
	long long before = ns(CLOCK_MONOTONIC);
	struct timespec req = {0, 25000000};
	check("nanosleep 25 ms", nanosleep(&req, NULL));
	long long slept = ns(CLOCK_MONOTONIC) - before;
	printf("nanosleep lasted at least 25 ms: %d, under 30 s: %d\n", slept >= 25000000, slept < 30000000000LL);
	before = ns(CLOCK_MONOTONIC);
	check("usleep 15 ms", usleep(15000));
	printf("usleep lasted at least 15 ms: %d\n", ns(CLOCK_MONOTONIC) - before >= 15000000);
	struct timespec zero = {0, 0};
	check("nanosleep 0", nanosleep(&zero, NULL));
	struct timespec bad = {0, 2000000000};
	check("nanosleep tv_nsec out of range", nanosleep(&bad, NULL));
	check("sched_yield", sched_yield());

	/* poll(): regular files are always ready. */
	int r = open(ROOT "/hello.txt", O_RDONLY);
	int w = open(ROOT "/polled.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	/* One fd and one event per call: with several ready, how many one
	 * poll_oneoff reports is the implementation's choice. */
	struct {
		const char *label;
		int fd;
		short events;
	} polls[] = {
		{"poll a read-only file for POLLIN", r, POLLIN},
		{"poll a write-only file for POLLOUT", w, POLLOUT},
		{"poll stdout for POLLOUT", 1, POLLOUT},
	};
	for (size_t i = 0; i < sizeof polls / sizeof polls[0]; i++) {
		struct pollfd p = {.fd = polls[i].fd, .events = polls[i].events};
		value(polls[i].label, poll(&p, 1, 1000));
		printf("  revents: in %d out %d err %d\n", !!(p.revents & POLLIN), !!(p.revents & POLLOUT),
		       !!(p.revents & (POLLERR | POLLNVAL | POLLHUP)));
	}
	before = ns(CLOCK_MONOTONIC);
	value("poll nothing, 20 ms", poll(NULL, 0, 20));
	printf("poll timeout lasted at least 20 ms: %d\n", ns(CLOCK_MONOTONIC) - before >= 20000000);
	struct timeval tv = {0, 20000};
	before = ns(CLOCK_MONOTONIC);
	value("select nothing, 20 ms", select(0, NULL, NULL, NULL, &tv));
	printf("select timeout lasted at least 20 ms: %d\n", ns(CLOCK_MONOTONIC) - before >= 20000000);
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(r, &rd);
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	value("select a file for reading", select(r + 1, &rd, NULL, NULL, &tv));
	printf("  ready: %d\n", FD_ISSET(r, &rd));
	close(r);
	struct pollfd closed = {.fd = r, .events = POLLIN};
	value("poll a closed fd", poll(&closed, 1, 0));
	printf("  revents: nval %d\n", !!(closed.revents & POLLNVAL));
	close(w);

	/* Randomness: only that it works and is not all zeros. */
	unsigned char rnd[32] = {0};
	check("getentropy 32", getentropy(rnd, sizeof rnd));
	int nonzero = 0;
	for (size_t i = 0; i < sizeof rnd; i++)
		nonzero |= rnd[i];
	printf("getentropy not all zeros: %d\n", !!nonzero);
	check("getentropy 257 (over the limit)", getentropy(rnd, 257));

	/* The preopens, as the program sees them. */
	for (int fd = 3; fd < 16; fd++) {
		__wasi_prestat_t ps;
		__wasi_errno_t e = __wasi_fd_prestat_get(fd, &ps);
		if (e == __WASI_ERRNO_BADF) {
			printf("preopens end at fd %d\n", fd);
			break;
		}
		if (e) {
			printf("fd_prestat_get %d: errno %d\n", fd, e);
			continue;
		}
		char name[256] = "";
		size_t len = ps.u.dir.pr_name_len < sizeof name - 1 ? ps.u.dir.pr_name_len : sizeof name - 1;
		e = __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, len);
		printf("preopen fd %d: type %d name \"%.*s\" (errno %d)\n", fd, ps.tag, (int)len, name, e);
	}
	__wasi_fdstat_t fs;
	__wasi_errno_t e = __wasi_fd_fdstat_get(3, &fs);
	printf("fdstat of fd 3: errno %d, filetype %d (directory %d)\n", e, fs.fs_filetype,
	       fs.fs_filetype == __WASI_FILETYPE_DIRECTORY);
	e = __wasi_fd_fdstat_get(1, &fs);
	printf("fdstat of stdout: errno %d, append %d\n", e, !!(fs.fs_flags & __WASI_FDFLAGS_APPEND));
	return 0;
}
