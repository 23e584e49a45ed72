/* stdio and file descriptors through wasi-libc: fopen/fwrite/fread/fseek/
 * ftell/fgets/fprintf, open with O_CREAT|O_EXCL, O_TRUNC, O_APPEND (and
 * what fcntl(F_GETFL) says), O_DIRECTORY and O_NOFOLLOW refusals,
 * pread/pwrite, readv/writev, lseek (also past the end), ftruncate, fstat/
 * stat/lstat fields (type, size, link count), access(), fsync, argv and
 * getenv, and an exit status of 3. */
#include "corpus.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *type_of(mode_t m)
{
	return S_ISREG(m) ? "reg" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "lnk" : "other";
}

static void show_stat(const char *label, int rc, const struct stat *st)
{
	if (rc < 0)
		printf("%s: err %s (%d)\n", label, errno_name(errno), errno);
	else
		/* Directory sizes are the file system's business. */
		printf("%s: ok %s size %lld nlink %llu\n", label, type_of(st->st_mode),
		       S_ISDIR(st->st_mode) ? -1LL : (long long)st->st_size, (unsigned long long)st->st_nlink);
}

int main(int argc, char **argv)
{
	char buf[256];
	struct stat st;
	int fd;

	printf("argc %d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d] \"%s\"\n", i, argv[i]);
	printf("getenv KWASM_A: %s\n", getenv("KWASM_A") ? getenv("KWASM_A") : "(unset)");
	printf("getenv UNSET: %s\n", getenv("UNSET") ? getenv("UNSET") : "(unset)");

	/* stdio */
	FILE *f = fopen(ROOT "/hello.txt", "r");
	printf("fopen hello.txt r: %s\n", f ? "ok" : errno_name(errno));
	if (f) {
		if (fgets(buf, sizeof buf, f))
			printf("fgets: \"%.*s\"\n", (int)strcspn(buf, "\n"), buf);
		printf("ftell: %ld\n", ftell(f));
		printf("fgets at eof: %s, feof %d\n", fgets(buf, sizeof buf, f) ? "data" : "NULL", feof(f));
		printf("fwrite to a read-only stream: %zu, ferror %d\n", fwrite("x", 1, 1, f), ferror(f));
		fclose(f);
	}
	f = fopen(ROOT "/missing/x", "w");
	printf("fopen missing/x w: %s\n", f ? "ok" : errno_name(errno));
	f = fopen(ROOT "/stdio.txt", "w+");
	printf("fopen stdio.txt w+: %s\n", f ? "ok" : errno_name(errno));
	if (f) {
		fprintf(f, "number %d, string %s, float %.3f\n", 42, "forty-two", 42.125);
		for (int i = 0; i < 1000; i++)
			fputc('a' + i % 26, f);
		fputc('\n', f);
		printf("ftell after writes: %ld\n", ftell(f));
		printf("fseek SEEK_SET 7: %d\n", fseek(f, 7, SEEK_SET));
		size_t n = fread(buf, 1, 10, f);
		printf("fread 10: %zu \"%.*s\"\n", n, (int)n, buf);
		printf("fseek SEEK_END -5: %d, ftell %ld\n", fseek(f, -5, SEEK_END), ftell(f));
		n = fread(buf, 1, sizeof buf, f);
		printf("fread to the end: %zu\n", n);
		rewind(f);
		n = fread(buf, 1, sizeof buf, f);
		printf("fread after rewind: %zu hash %016llx\n", n, fnv(buf, n));
		printf("fseek before start: %d (%s)\n", fseek(f, -100, SEEK_SET), errno_name(errno));
		printf("fclose: %d\n", fclose(f));
	}
	f = fopen(ROOT "/stdio.txt", "a");
	if (f) {
		fputs("appended\n", f);
		fclose(f);
	}
	f = fopen(ROOT "/stdio.txt", "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof buf, f);
		long total = n;
		while ((n = fread(buf, 1, sizeof buf, f)) > 0)
			total += n;
		printf("stdio.txt is %ld bytes\n", total);
		fclose(f);
	}

	/* open flags */
	fd = check("open O_CREAT|O_EXCL new", open(ROOT "/excl.txt", O_WRONLY | O_CREAT | O_EXCL, 0644));
	if (fd >= 0) {
		value("write", write(fd, "exclusive\n", 10));
		close(fd);
	}
	check("open O_CREAT|O_EXCL again", open(ROOT "/excl.txt", O_WRONLY | O_CREAT | O_EXCL, 0644));
	check("open O_CREAT|O_EXCL through a symlink", open(ROOT "/link-dangling", O_WRONLY | O_CREAT | O_EXCL, 0644));
	check("open missing without O_CREAT", open(ROOT "/nothing", O_RDONLY));
	check("open a file with O_DIRECTORY", open(ROOT "/hello.txt", O_RDONLY | O_DIRECTORY));
	check("open a symlink with O_NOFOLLOW", open(ROOT "/link-file", O_RDONLY | O_NOFOLLOW));
	fd = check("open a directory O_RDONLY|O_DIRECTORY", open(ROOT "/sub", O_RDONLY | O_DIRECTORY));
	if (fd >= 0) {
		value("read from a directory fd", read(fd, buf, sizeof buf));
		close(fd);
	}
	check("open a directory for writing", open(ROOT "/sub", O_WRONLY));

	fd = check("open O_APPEND", open(ROOT "/excl.txt", O_WRONLY | O_APPEND));
	if (fd >= 0) {
		int fl = fcntl(fd, F_GETFL);
		printf("F_GETFL: append %d, access %s\n", !!(fl & O_APPEND),
		       (fl & O_ACCMODE) == O_WRONLY ? "wronly" : (fl & O_ACCMODE) == O_RDWR ? "rdwr" : "rdonly");
		value("lseek 0", lseek(fd, 0, SEEK_SET));
		value("write appends", write(fd, "more\n", 5));
		value("position", lseek(fd, 0, SEEK_CUR));
		close(fd);
	}
	fd = check("open O_TRUNC", open(ROOT "/excl.txt", O_RDWR | O_TRUNC));
	if (fd >= 0) {
		show_stat("fstat after O_TRUNC", fstat(fd, &st), &st);
		value("pwrite at 100", pwrite(fd, "far", 3, 100));
		value("pwrite at 0", pwrite(fd, "near", 4, 0));
		value("position after pwrite", lseek(fd, 0, SEEK_CUR));
		memset(buf, 'x', 8);
		value("pread 8 at 98", pread(fd, buf, 8, 98));
		printf("pread bytes: %02x %02x %c %c %c\n", buf[0], buf[1], buf[2], buf[3], buf[4]);
		value("pread past the end", pread(fd, buf, 8, 1000));
		value("pread at a negative offset", pread(fd, buf, 8, -1));
		struct iovec iov[3] = {{"one ", 4}, {"two ", 4}, {"three\n", 6}};
		value("lseek SEEK_END", lseek(fd, 0, SEEK_END));
		/* A call may write less than all three (the reference writes
		 * one buffer per call): finish with plain writes. */
		long w = writev(fd, iov, 3), done = w > 0 ? w : 0;
		for (int i = 0; i < 3 && w >= 0; i++) {
			size_t skip = done > (long)iov[i].iov_len ? iov[i].iov_len : (size_t)done;
			done -= skip;
			if (skip < iov[i].iov_len)
				w = write(fd, (char *)iov[i].iov_base + skip, iov[i].iov_len - skip);
		}
		printf("writev (and the rest): %s\n", w >= 0 ? "ok" : errno_name(errno));
		value("lseek 1 MiB past the end", lseek(fd, 1 << 20, SEEK_END));
		value("write there", write(fd, "!", 1));
		show_stat("fstat", fstat(fd, &st), &st);
		check("ftruncate 50", ftruncate(fd, 50));
		show_stat("fstat", fstat(fd, &st), &st);
		check("ftruncate -1", ftruncate(fd, -1));
		value("lseek SEEK_SET -1", lseek(fd, -1, SEEK_SET));
		check("fsync", fsync(fd));
		check("fdatasync", fdatasync(fd));
		close(fd);
	}
	check("write to a closed fd", write(fd, "x", 1));
	check("close it again", close(fd));
	check("read from fd 99", read(99, buf, 1));
	check("read from the preopen fd 3", read(3, buf, 1));
	check("write to the preopen fd 3", write(3, "x", 1));

	/* stat family */
	show_stat("stat hello.txt", stat(ROOT "/hello.txt", &st), &st);
	show_stat("stat sub", stat(ROOT "/sub", &st), &st);
	show_stat("stat link-file", stat(ROOT "/link-file", &st), &st);
	show_stat("lstat link-file", lstat(ROOT "/link-file", &st), &st);
	printf("lstat link-file size is the target's length: %d\n", st.st_size == (off_t)strlen("hello.txt"));
	show_stat("stat link-dangling", stat(ROOT "/link-dangling", &st), &st);
	show_stat("lstat link-dangling", lstat(ROOT "/link-dangling", &st), &st);
	show_stat("stat link-loop", stat(ROOT "/link-loop", &st), &st);
	show_stat("stat missing", stat(ROOT "/missing", &st), &st);
	show_stat("stat hello.txt/x", stat(ROOT "/hello.txt/x", &st), &st);
	check("access hello.txt F_OK", access(ROOT "/hello.txt", F_OK));
	check("access hello.txt R_OK|W_OK", access(ROOT "/hello.txt", R_OK | W_OK));
	check("access missing", access(ROOT "/missing", F_OK));

	fflush(stdout);
	fprintf(stderr, "c_stdio: done, exiting with 3\n");
	return 3;
}
