// SPDX-License-Identifier: GPL-2.0-only
/* Open modes and file status flags through wasi-libc (issue #17): every
 * access mode with O_CREAT/O_EXCL/O_TRUNC/O_APPEND/O_NONBLOCK, what
 * fcntl(F_GETFL) then says (wasi-libc derives the access mode from the
 * fd's rights, so this checks the rights kwasm reports), reads and writes
 * in each mode; fcntl(F_SETFL) switching O_APPEND and O_NONBLOCK on and
 * off (a write after a seek lands there once O_APPEND is off); a hard link
 * opened in another mode; F_SETFL on a directory and a closed fd. */
#include "corpus.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *access_name(int fl)
{
	switch (fl & O_ACCMODE) {
	case O_RDONLY: return "rdonly";
	case O_WRONLY: return "wronly";
	case O_RDWR: return "rdwr";
	default: return "other";
	}
}

static void getfl(const char *label, int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		printf("%s F_GETFL: err %s (%d)\n", label, errno_name(errno), errno);
	else
		printf("%s F_GETFL: access %s append %d nonblock %d\n", label, access_name(fl),
		       !!(fl & O_APPEND), !!(fl & O_NONBLOCK));
}

static void fresh(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, "0123456789", 10) != 10 || close(fd) < 0) {
		printf("fresh %s failed: %s\n", path, errno_name(errno));
		exit(1);
	}
}

static void contents(const char *label, const char *path)
{
	char buf[64];
	int fd = open(path, O_RDONLY);
	long n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (n < 0) {
		printf("%s: err %s\n", label, errno_name(errno));
	} else {
		buf[n] = 0;
		printf("%s: \"%s\"\n", label, buf);
	}
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	static const struct { const char *name; int flags; } modes[] = {
		{ "O_RDONLY", O_RDONLY },
		{ "O_WRONLY", O_WRONLY },
		{ "O_RDWR", O_RDWR },
	};
	static const struct { const char *name; int flags; } extra[] = {
		{ "0", 0 },
		{ "O_CREAT", O_CREAT },
		{ "O_CREAT|O_EXCL", O_CREAT | O_EXCL },
		{ "O_TRUNC", O_TRUNC },
		{ "O_APPEND", O_APPEND },
		{ "O_NONBLOCK", O_NONBLOCK },
		{ "O_CREAT|O_APPEND", O_CREAT | O_APPEND },
		{ "O_APPEND|O_TRUNC", O_APPEND | O_TRUNC },
	};
	char label[96], buf[8];
	const char *f = ROOT "/cf";
	int fd;

	for (unsigned m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		for (unsigned e = 0; e < sizeof(extra) / sizeof(extra[0]); e++) {
			fresh(f);
			snprintf(label, sizeof(label), "open %s|%s", modes[m].name, extra[e].name);
			fd = check(label, open(f, modes[m].flags | extra[e].flags, 0644));
			if (fd < 0)
				continue;
			getfl(label, fd);
			value("  read", read(fd, buf, 4));
			value("  lseek 2", lseek(fd, 2, SEEK_SET));
			value("  write", write(fd, "ab", 2));
			value("  lseek cur", lseek(fd, 0, SEEK_CUR));
			value("  pwrite@0", pwrite(fd, "P", 1, 0));
			check("  close", close(fd));
			contents("  now", f);
		}
	}

	/* F_SETFL: O_APPEND off and on again, O_NONBLOCK. */
	fresh(f);
	fd = check("open O_RDWR|O_APPEND", open(f, O_RDWR | O_APPEND));
	if (fd >= 0) {
		value("write", write(fd, "A", 1));
		value("lseek cur", lseek(fd, 0, SEEK_CUR));
		check("F_SETFL 0", fcntl(fd, F_SETFL, 0));
		getfl("after F_SETFL 0", fd);
		value("lseek 0", lseek(fd, 0, SEEK_SET));
		value("write", write(fd, "B", 1));
		value("lseek cur", lseek(fd, 0, SEEK_CUR));
		value("pwrite@5", pwrite(fd, "C", 1, 5));
		check("F_SETFL O_APPEND|O_NONBLOCK", fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK));
		getfl("after F_SETFL O_APPEND|O_NONBLOCK", fd);
		value("lseek 0", lseek(fd, 0, SEEK_SET));
		value("write", write(fd, "D", 1));
		value("lseek cur", lseek(fd, 0, SEEK_CUR));
		check("F_SETFL O_NONBLOCK", fcntl(fd, F_SETFL, O_NONBLOCK));
		getfl("after F_SETFL O_NONBLOCK", fd);
		check("close", close(fd));
		contents("cf now", f);
	}

	/* A hard link opened in another mode than the file. */
	fd = check("open cf O_RDONLY", open(f, O_RDONLY));
	check("link cf cf-link", link(f, ROOT "/cf-link"));
	{
		int l = check("open cf-link O_WRONLY", open(ROOT "/cf-link", O_WRONLY));

		getfl("cf", fd);
		getfl("cf-link", l);
		value("cf write", write(fd, "x", 1));
		value("cf-link write", write(l, "y", 1));
		value("cf-link read", read(l, buf, 1));
		if (l >= 0)
			close(l);
	}
	if (fd >= 0)
		close(fd);
	contents("cf-link now", ROOT "/cf-link");

	/* F_SETFL on what is not a file. */
	fd = check("open sub O_RDONLY|O_DIRECTORY", open(ROOT "/sub", O_RDONLY | O_DIRECTORY));
	if (fd >= 0) {
		getfl("sub", fd);
		check("sub F_SETFL O_NONBLOCK", fcntl(fd, F_SETFL, O_NONBLOCK));
		close(fd);
	}
	check("closed F_SETFL", fcntl(77, F_SETFL, 0));
	getfl("closed", 77);
	return 0;
}
