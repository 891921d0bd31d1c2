/* rpc/cli/prog.c - see prog.h. The dynamic loader ignores LD_PRELOAD in a
 * static binary (none runs) and in a setuid or setgid one whose ids differ
 * from the caller's (secure mode): such a run would be silently untraced. */
#include "rpc/cli/prog.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmd through PATH, as execvp finds it. */
static int locate(const char *cmd, char *out, size_t size)
{
	if (strchr(cmd, '/')) {
		snprintf(out, size, "%s", cmd);
		return access(out, X_OK);
	}
	const char *p = getenv("PATH");
	if (!p)
		p = "/bin:/usr/bin";
	while (*p) {
		size_t n = strcspn(p, ":");
		snprintf(out, size, "%.*s%s%s", (int)n, p, n ? "/" : "", cmd);
		struct stat st;
		if (access(out, X_OK) == 0 && stat(out, &st) == 0 && S_ISREG(st.st_mode))
			return 0;
		p += n + (p[n] == ':');
	}
	return -1;
}

/* 1: an ELF with a PT_INTERP (dynamically linked), 0: an ELF without, 2: a
 * script (interp set), -1: neither (the kernel decides). */
static int kind(const char *path, char *interp, size_t size)
{
	unsigned char b[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? pread(fd, b, sizeof(b), 0) : -1;

	if (n >= 2 && b[0] == '#' && b[1] == '!') {
		close(fd);
		b[n < (ssize_t)sizeof(b) ? n : (ssize_t)sizeof(b) - 1] = '\0';
		char *s = (char *)b + 2;
		s += strspn(s, " \t");
		snprintf(interp, size, "%.*s", (int)strcspn(s, " \t\r\n"), s);
		return 2;
	}
	if (n < (ssize_t)sizeof(Elf64_Ehdr) || memcmp(b, ELFMAG, SELFMAG)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* p_type is the first word of a program header in both classes. */
	uint64_t phoff;
	unsigned phnum, phent;
	if (b[EI_CLASS] == ELFCLASS64) {
		const Elf64_Ehdr *e = (const Elf64_Ehdr *)b;
		phoff = e->e_phoff, phnum = e->e_phnum, phent = e->e_phentsize;
	} else {
		const Elf32_Ehdr *e = (const Elf32_Ehdr *)b;
		phoff = e->e_phoff, phnum = e->e_phnum, phent = e->e_phentsize;
	}
	int dyn = 0;
	for (unsigned i = 0; i < phnum; i++) {
		uint32_t type;
		if (pread(fd, &type, sizeof(type), (off_t)(phoff + (uint64_t)i * phent)) !=
		    (ssize_t)sizeof(type))
			break;
		dyn |= type == PT_INTERP;
	}
	close(fd);
	return dyn;
}

int gt_prog_preloadable(const char *cmd, char *err, size_t errlen)
{
	char path[PATH_MAX], interp[PATH_MAX];
	struct stat st;

	if (locate(cmd, path, sizeof(path)))
		return 0;   /* not found: execvp says so, as the shell would */
	for (int depth = 0; depth < 4; depth++) {
		if (stat(path, &st))
			return 0;
		if (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
		    ((st.st_mode & S_ISGID) && st.st_gid != getegid())) {
			snprintf(err, errlen, "%s is set%sid: the dynamic loader ignores LD_PRELOAD for "
				 "it; not run (run it as its owner, or a copy without the bit)", path,
				 st.st_mode & S_ISUID ? "u" : "g");
			return -1;
		}
		int k = kind(path, interp, sizeof(interp));
		if (k == 0) {
			snprintf(err, errlen, "%s is statically linked: LD_PRELOAD cannot load into "
				 "it; not run", path);
			return -1;
		}
		if (k != 2)
			return 0;
		snprintf(path, sizeof(path), "%s", interp);   /* a script: its interpreter */
	}
	return 0;
}

int gt_prog_writable(const char *out, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;

	if (stat(out, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "cannot write %s: a directory; not run", out);
			return -1;
		}
		if (access(out, W_OK)) {
			snprintf(err, errlen, "cannot write %s: %s; not run", out, strerror(errno));
			return -1;
		}
		return 0;
	}
	snprintf(dir, sizeof(dir), "%s", out);
	char *s = strrchr(dir, '/');
	if (s == dir)
		s[1] = '\0';
	else if (s)
		*s = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (access(dir, W_OK | X_OK)) {
		snprintf(err, errlen, "cannot write %s: %s; not run", out, strerror(errno));
		return -1;
	}
	return 0;
}
