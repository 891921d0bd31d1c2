/* core/write/debugcache.c - inflated copies of compressed debug files.
 *
 * Debian's -dbg packages ship DWARF in compressed sections (libc6-dbg: 4 MB
 * of zlib, 22 MB inflated), and libdw inflates every one of them when it
 * opens the file: ~40 ms of zlib in each process that symbolises a pc of
 * libc, most of a short profile's write at exit. The first process that
 * needs such a file writes an inflated copy, named by build id, into
 * $GOTRACE_DEBUG_CACHE (default $XDG_CACHE_HOME/gotrace/debug, else
 * ~/.cache/gotrace/debug; "off": none); later ones map the copy, as perf
 * keeps ~/.debug. A copy is used only when its build id is the object's.
 * Service thread only (symbol.c's caller). */
#include "core/write/debugcache.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/config.h"
#include "core/base/log.h"
#include "core/base/real.h"

#define ELF_FNS(X) \
	X(elf_begin) \
	X(elf_end) \
	X(elf_cntl) \
	X(elf_compress) \
	X(elf_flagelf) \
	X(elf_getdata) \
	X(elf_getphdrnum) \
	X(elf_newdata) \
	X(elf_newscn) \
	X(elf_nextscn) \
	X(elf_update) \
	X(elf_version) \
	X(gelf_getclass) \
	X(gelf_getehdr) \
	X(gelf_getphdr) \
	X(gelf_getshdr) \
	X(gelf_newehdr) \
	X(gelf_newphdr) \
	X(gelf_update_ehdr) \
	X(gelf_update_phdr) \
	X(gelf_update_shdr)
static struct {
#define ELF_FIELD(f) __typeof__(f) *f;
	ELF_FNS(ELF_FIELD)
#undef ELF_FIELD
	int tried, ok;
	char dir[GT_PATH_MAX];
} c;

/* libelf (loaded with libdw already) and the directory; 0 when off. */
static int ready(void)
{
	if (c.tried)
		return c.ok;
	c.tried = 1;
	const char *d = gt_cfg.debug_cache;
	int n;
	if (!strcmp(d, "off"))
		return 0;
	if (*d)
		n = snprintf(c.dir, sizeof(c.dir), "%s", d);
	else if (gt_cfg.cache_home[0] == '/')
		n = snprintf(c.dir, sizeof(c.dir), "%s/gotrace/debug", gt_cfg.cache_home);
	else if (gt_cfg.home[0] == '/')
		n = snprintf(c.dir, sizeof(c.dir), "%s/.cache/gotrace/debug", gt_cfg.home);
	else
		return 0;
	if (n <= 0 || (size_t)n >= sizeof(c.dir) - 64)
		return 0;
	void *h = dlopen("libelf.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return 0;
#define ELF_LOAD(f) if (!(c.f = (__typeof__(f) *)dlsym(h, #f))) return 0;
	ELF_FNS(ELF_LOAD)
#undef ELF_LOAD
	c.elf_version(EV_CURRENT);
	c.ok = 1;
	return 1;
}

/* mkdir -p, each new level 0700. */
static int make_dir(const char *path)
{
	char p[GT_PATH_MAX];

	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; ; s++) {
		if (*s != '/' && *s)
			continue;
		char was = *s;
		*s = '\0';
		if (mkdir(p, 0700) && errno != EEXIST)
			return -1;
		if (!was)
			return 0;
		*s = was;
	}
}

static int compressed(Elf *e)
{
	GElf_Shdr sh;

	for (Elf_Scn *s = NULL; (s = c.elf_nextscn(e, s));)
		if (c.gelf_getshdr(s, &sh) && (sh.sh_flags & SHF_COMPRESSED))
			return 1;
	return 0;
}

/* src, every section inflated, into the new file fd. 0 or -1. */
static int write_inflated(Elf *src, int fd)
{
	GElf_Ehdr eh;
	size_t phnum = 0;
	int r = -1;

	Elf *dst = c.elf_begin(fd, ELF_C_WRITE, NULL);
	if (!dst)
		return -1;
	if (!c.gelf_getehdr(src, &eh) || !c.gelf_newehdr(dst, c.gelf_getclass(src)) ||
	    c.elf_getphdrnum(src, &phnum))
		goto out;
	if (phnum) {
		if (!c.gelf_newphdr(dst, phnum))
			goto out;
		for (size_t i = 0; i < phnum; i++) {
			GElf_Phdr ph;
			if (!c.gelf_getphdr(src, (int)i, &ph) || !c.gelf_update_phdr(dst, (int)i, &ph))
				goto out;
		}
	}
	for (Elf_Scn *s = NULL; (s = c.elf_nextscn(src, s));) {
		GElf_Shdr sh;
		if (!c.gelf_getshdr(s, &sh))
			goto out;
		if ((sh.sh_flags & SHF_COMPRESSED) &&
		    (c.elf_compress(s, 0, 0) < 0 || !c.gelf_getshdr(s, &sh)))
			goto out;
		Elf_Scn *d = c.elf_newscn(dst);
		Elf_Data *in = c.elf_getdata(s, NULL), *o = d ? c.elf_newdata(d) : NULL;
		if (!o)
			goto out;
		if (in) {
			o->d_buf = in->d_buf;
			o->d_type = in->d_type;
			o->d_size = in->d_size;
			o->d_align = in->d_align;
			o->d_version = in->d_version;
		}
		if (!c.gelf_update_shdr(d, &sh))
			goto out;
	}
	/* The program headers stay where the object's were (nothing reads
	 * them at those offsets in a debug file); libelf lays out the rest. */
	eh.e_phoff = phnum ? eh.e_phoff : 0;
	if (!c.gelf_update_ehdr(dst, &eh) || c.elf_update(dst, ELF_C_WRITE) < 0)
		goto out;
	r = 0;
out:
	c.elf_end(dst);
	return r;
}

/* fd's file has build id id (and, plain: no compressed section). */
static int has_id(int fd, const unsigned char *id, int id_len,
		  ssize_t (*build_id)(Elf *, const void **), int plain)
{
	const void *got;
	Elf *e = c.elf_begin(fd, ELF_C_READ_MMAP, NULL);
	int same = e && build_id(e, &got) == id_len && !memcmp(got, id, (size_t)id_len) &&
		   !(plain && compressed(e));

	if (e)
		c.elf_end(e);
	return same;
}

/* dir/<id in hex><suffix>; 0 or -1 (too long). */
static int id_path(char *out, size_t size, const char *dir, const unsigned char *id, int id_len,
		   int split, const char *suffix)
{
	size_t n = (size_t)snprintf(out, size, "%s/", dir);

	for (int i = 0; i < id_len && n < size; i++)
		n += (size_t)snprintf(out + n, size - n, i == 1 && split ? "/%02x" : "%02x", id[i]);
	return n < size && (size_t)snprintf(out + n, size - n, "%s", suffix) < size - n ? 0 : -1;
}

/* The cache's copy of id: its name into name (0), or -1 (the cache is
 * off, or id unusable); *cfd its fd, or -1 while there is no right copy. */
static int cached(const unsigned char *id, int id_len, ssize_t (*build_id)(Elf *, const void **),
		  char *name, size_t size, int *cfd)
{
	if (id_len <= 0 || id_len > 64 || !ready() || id_path(name, size, c.dir, id, id_len, 0, ".debug"))
		return -1;
	*cfd = gt_open(name, O_RDONLY | O_CLOEXEC);
	if (*cfd >= 0 && !has_id(*cfd, id, id_len, build_id, 1)) {
		gt_close(*cfd);
		*cfd = -1;
	}
	return 0;
}

/* The copy (cfd, name) in place of fd (-1: none) and *path. */
static int use(int cfd, const char *name, int fd, char **path)
{
	char *p = strdup(name);

	if (!p) {
		gt_close(cfd);
		return fd;
	}
	if (gt_cfg.debug && *path)
		gt_log("debug cache: %s for %s", name, *path);
	else if (gt_cfg.debug)
		gt_log("debug cache: %s", name);
	gt_free_lib(*path);   /* libdw's, as p: libc's strdup */
	*path = p;
	if (fd >= 0)
		gt_close(fd);
	return cfd;
}

/* fd's file, when its sections are compressed, inflated into the cache as
 * name: the copy's fd; else (or failing that) fd. */
static int inflate(int fd, char **path, const char *name)
{
	char tmp[GT_PATH_MAX + 32];
	Elf *e = c.elf_begin(fd, ELF_C_READ_MMAP, NULL);

	if (!e)
		return fd;
	if (!compressed(e) || make_dir(c.dir)) {
		c.elf_end(e);
		return fd;
	}
	snprintf(tmp, sizeof(tmp), "%s.%ld~", name, (long)getpid());
	int tfd = gt_open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int ok = tfd >= 0 && write_inflated(e, tfd) == 0;
	c.elf_end(e);
	if (tfd >= 0)
		gt_close(tfd);
	if (!ok || rename(tmp, name)) {
		if (gt_cfg.debug)
			gt_log("debug cache: cannot write %s: %s", name, strerror(errno));
		unlink(tmp);
		return fd;
	}
	int cfd = gt_open(name, O_RDONLY | O_CLOEXEC);
	return cfd >= 0 ? use(cfd, name, fd, path) : fd;
}

int gt_debugcache_find(const unsigned char *id, int id_len, char **path,
		       ssize_t (*build_id)(Elf *, const void **))
{
	char name[GT_PATH_MAX], std[GT_PATH_MAX];
	int fd, cfd;

	if (cached(id, id_len, build_id, name, sizeof(name), &cfd))
		return -1;   /* libdw's own search */
	if (cfd >= 0) {
		*path = NULL;
		return use(cfd, name, -1, path);
	}
	/* libdw's first place (its default debuginfo path), read here: from
	 * there it would open the file itself, before we could swap it. */
	if (id_len < 2 || id_path(std, sizeof(std), "/usr/lib/debug/.build-id", id, id_len, 1,
				  ".debug") || (fd = gt_open(std, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (!has_id(fd, id, id_len, build_id, 0) || !(*path = strdup(std))) {
		gt_close(fd);
		return -1;
	}
	return inflate(fd, path, name);
}

int gt_debugcache_swap(int fd, char **path, const unsigned char *id, int id_len,
		       ssize_t (*build_id)(Elf *, const void **))
{
	char name[GT_PATH_MAX];
	int cfd;

	if (fd < 0 || cached(id, id_len, build_id, name, sizeof(name), &cfd))
		return fd;
	return cfd >= 0 ? use(cfd, name, fd, path) : inflate(fd, path, name);
}
