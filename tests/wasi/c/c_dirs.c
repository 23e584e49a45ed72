/* Directories and links through wasi-libc: opendir/readdir (sorted, with
 * d_type), rewinddir, telldir/seekdir (fd_readdir cookies), scandir,
 * fdopendir, a directory of 300 entries, mkdir/rmdir/unlink/unlinkat,
 * rename, link (and the link count), symlink/readlink, utimensat and
 * futimens (fixed times read back, UTIME_OMIT, now), chdir/getcwd
 * and relative paths, and names that are not UTF-8. */
#include "corpus.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *dtype(unsigned char t)
{
	switch (t) {
	case DT_REG: return "reg";
	case DT_DIR: return "dir";
	case DT_LNK: return "lnk";
	case DT_UNKNOWN: return "unknown";
	default: return "other";
	}
}

/* Prints a directory's entries sorted, with their d_type. */
static void list(const char *label, const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		printf("%s: err %s\n", label, errno_name(errno));
		return;
	}
	char *names[512];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 512) {
		char *s = malloc(strlen(e->d_name) + 16);
		sprintf(s, "%s=%s", e->d_name, dtype(e->d_type));
		names[n++] = s;
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp);
	printf("%s: %d entries:", label, n);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

static void show_times(const char *label, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		printf("%s: err %s\n", label, errno_name(errno));
		return;
	}
	printf("%s: atime %lld.%09ld mtime %lld.%09ld\n", label, (long long)st.st_atim.tv_sec,
	       st.st_atim.tv_nsec, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static void show_link(const char *label, const char *path)
{
	char buf[256];
	ssize_t n = readlink(path, buf, sizeof buf);
	if (n < 0)
		printf("%s: err %s\n", label, errno_name(errno));
	else
		printf("%s: ok \"%.*s\"\n", label, (int)n, buf);
}

int main(void)
{
	struct stat st;
	char buf[512];

	list("list /sandbox", ROOT);
	list("list sub", ROOT "/sub");
	list("list through link-dir", ROOT "/link-dir");
	list("list a file", ROOT "/hello.txt");
	list("list missing", ROOT "/missing");

	/* mkdir, rmdir, unlink */
	check("mkdir d", mkdir(ROOT "/d", 0755));
	check("mkdir d again", mkdir(ROOT "/d", 0755));
	check("mkdir in a missing parent", mkdir(ROOT "/no/d", 0755));
	check("mkdir d/e", mkdir(ROOT "/d/e", 0755));
	check("rmdir non-empty d", rmdir(ROOT "/d"));
	check("rmdir a file", rmdir(ROOT "/hello.txt"));
	check("unlink a directory", unlink(ROOT "/d"));
	check("unlink missing", unlink(ROOT "/missing"));
	check("unlinkat AT_REMOVEDIR d/e", unlinkat(AT_FDCWD, ROOT "/d/e", AT_REMOVEDIR));
	check("rmdir d", rmdir(ROOT "/d"));
	check("rmdir d again", rmdir(ROOT "/d"));

	/* A big directory: readdir needs several fd_readdir calls. */
	check("mkdir many", mkdir(ROOT "/many", 0755));
	for (int i = 0; i < 300; i++) {
		snprintf(buf, sizeof buf, ROOT "/many/entry-with-a-longish-name-%03d", i);
		int fd = open(buf, O_WRONLY | O_CREAT, 0644);
		if (fd < 0) {
			printf("create %s: err %s\n", buf, errno_name(errno));
			break;
		}
		close(fd);
	}
	DIR *d = opendir(ROOT "/many");
	if (d) {
		int count = 0, marked = -1;
		long mark = 0;
		char at_mark[300] = "";
		struct dirent *e;
		while ((e = readdir(d))) {
			if (count == 150) {
				marked = count;
				strcpy(at_mark, e->d_name);
			}
			count++;
			if (count == 150)
				mark = telldir(d);
		}
		printf("many: %d entries\n", count);
		seekdir(d, mark);
		e = readdir(d);
		printf("seekdir back to entry %d: same name %d\n", marked, e && !strcmp(e->d_name, at_mark));
		rewinddir(d);
		int again = 0;
		while (readdir(d))
			again++;
		printf("after rewinddir: %d entries\n", again);
		closedir(d);
	}
	struct dirent **names;
	int n = scandir(ROOT "/many", &names, NULL, alphasort);
	printf("scandir many: %d, first %s, last %s\n", n, n > 2 ? names[2]->d_name : "-",
	       n > 0 ? names[n - 1]->d_name : "-");
	for (int i = 0; i < n; i++)
		free(names[i]);
	if (n >= 0)
		free(names);
	int dfd = open(ROOT "/sub", O_RDONLY | O_DIRECTORY);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	printf("fdopendir sub: %s\n", d ? "ok" : errno_name(errno));
	if (d) {
		int c = 0;
		while (readdir(d))
			c++;
		printf("fdopendir sub: %d entries\n", c);
		closedir(d);
	}

	/* rename */
	check("rename hello.txt -> greeting.txt", rename(ROOT "/hello.txt", ROOT "/greeting.txt"));
	check("rename missing", rename(ROOT "/hello.txt", ROOT "/x"));
	check("rename over an existing file", rename(ROOT "/empty", ROOT "/data.bin"));
	check("rename a directory over a file", rename(ROOT "/emptydir", ROOT "/greeting.txt"));
	check("rename a file over a directory", rename(ROOT "/greeting.txt", ROOT "/emptydir"));
	check("rename a directory into itself", rename(ROOT "/sub", ROOT "/sub/deeper/sub"));
	check("rename sub -> renamed-sub", rename(ROOT "/sub", ROOT "/renamed-sub"));
	check("rename a symlink", rename(ROOT "/link-dir", ROOT "/link-dir2"));
	list("list after renames", ROOT);

	/* link, symlink, readlink */
	check("link greeting.txt -> hard", link(ROOT "/greeting.txt", ROOT "/hard"));
	stat(ROOT "/greeting.txt", &st);
	printf("nlink after link: %llu\n", (unsigned long long)st.st_nlink);
	check("link over an existing name", link(ROOT "/greeting.txt", ROOT "/hard"));
	check("link a directory", link(ROOT "/emptydir", ROOT "/dirlink"));
	check("unlink hard", unlink(ROOT "/hard"));
	stat(ROOT "/greeting.txt", &st);
	printf("nlink after unlink: %llu\n", (unsigned long long)st.st_nlink);
	check("symlink s -> greeting.txt", symlink("greeting.txt", ROOT "/s"));
	show_link("readlink s", ROOT "/s");
	check("symlink over an existing name", symlink("x", ROOT "/s"));
	check("symlink with an empty target", symlink("", ROOT "/s-empty"));
	show_link("readlink link-up", ROOT "/link-up");
	show_link("readlink link-abs", ROOT "/link-abs");
	show_link("readlink a file", ROOT "/greeting.txt");
	show_link("readlink missing", ROOT "/missing");
	{
		/* A buffer shorter than the target: readlink truncates. */
		ssize_t r = readlink(ROOT "/s", buf, 4);
		printf("readlink into 4 bytes: %zd \"%.*s\"\n", r, r > 0 ? (int)r : 0, buf);
	}
	check("unlink s", unlink(ROOT "/s"));
	stat(ROOT "/greeting.txt", &st);
	printf("target survives its symlink: %d\n", S_ISREG(st.st_mode));

	/* utimensat, futimens */
	struct timespec ts[2] = {{802993600, 1}, {1000000000, 123456789}};
	check("utimensat greeting.txt", utimensat(AT_FDCWD, ROOT "/greeting.txt", ts, 0));
	show_times("times", ROOT "/greeting.txt");
	struct timespec omit[2] = {{0, UTIME_OMIT}, {631152000, 500000000}};
	check("utimensat mtime only", utimensat(AT_FDCWD, ROOT "/greeting.txt", omit, 0));
	show_times("times", ROOT "/greeting.txt");
	check("utimensat a missing file", utimensat(AT_FDCWD, ROOT "/missing", ts, 0));
	struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
	check("utimensat tv_nsec out of range", utimensat(AT_FDCWD, ROOT "/greeting.txt", bad, 0));
	check("utimensat through a symlink", utimensat(AT_FDCWD, ROOT "/link-file", ts, 0));
	check("utimensat AT_SYMLINK_NOFOLLOW", utimensat(AT_FDCWD, ROOT "/link-dangling", ts, AT_SYMLINK_NOFOLLOW));
	int fd = open(ROOT "/renamed-sub/nested.txt", O_RDWR);
	if (fd >= 0) {
		check("futimens", futimens(fd, ts));
		/* Both times to now, with the WASI call itself: bookworm's
		 * wasi-libc refuses UTIME_NOW with EINVAL by itself, and its
		 * futimens(fd, NULL) sets both times to the epoch. */
		errno = __wasi_fd_filestat_set_times(fd, 0, 0, __WASI_FSTFLAGS_ATIM_NOW | __WASI_FSTFLAGS_MTIM_NOW);
		check("fd_filestat_set_times ATIM_NOW|MTIM_NOW", errno ? -1 : 0);
		fstat(fd, &st);
		printf("mtime now is after 2020: %d\n", st.st_mtim.tv_sec > 1577836800);
		check("futimens back to fixed", futimens(fd, ts));
		close(fd);
	}
	show_times("times nested.txt", ROOT "/renamed-sub/nested.txt");

	/* chdir, getcwd, relative paths */
	check("chdir renamed-sub", chdir(ROOT "/renamed-sub"));
	printf("getcwd: %s\n", getcwd(buf, sizeof buf) ? buf : errno_name(errno));
	fd = check("open relative nested.txt", open("nested.txt", O_RDONLY));
	if (fd >= 0) {
		ssize_t r = read(fd, buf, sizeof buf);
		printf("read: \"%.*s\"\n", r > 0 ? (int)strcspn(buf, "\n") : 0, buf);
		close(fd);
	}
	check("mkdir relative", mkdir("rel", 0755));
	check("chdir rel", chdir("rel"));
	check("chdir ../deeper", chdir("../deeper"));
	printf("getcwd: %s\n", getcwd(buf, sizeof buf) ? buf : errno_name(errno));
	check("chdir a file", chdir(ROOT "/greeting.txt"));
	check("chdir missing", chdir(ROOT "/missing"));
	check("chdir /", chdir("/"));
	check("open relative after chdir /", open("sandbox/greeting.txt", O_RDONLY));
	check("chdir back", chdir(ROOT));

	/* Names that are not UTF-8. */
	check("create \\xff\\xfe", open(ROOT "/bad-\xff\xfe", O_WRONLY | O_CREAT, 0644));
	check("mkdir \\xc3\\x28", mkdir(ROOT "/bad-\xc3\x28", 0755));
	check("stat \\xff", stat(ROOT "/\xff", &st));
	check("rename to \\xff", rename(ROOT "/data.bin", ROOT "/\xff"));
	check("symlink to \\xff", symlink("\xff", ROOT "/s-bad"));
	check("symlink named \\xff", symlink("greeting.txt", ROOT "/\xff"));

	list("list at the end", ROOT);
	return 0;
}
