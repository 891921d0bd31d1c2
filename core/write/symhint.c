/* core/write/symhint.c - the end-of-trace hint for frames without a symbol
 * (core/write/symhint.h). A stripped object (Debian's python3, git) shows
 * its frames as "python3.11+0x2543a0"; its debug file, found by build id
 * where a -dbgsym package installs it, would name them. The hint is
 * computed here, from the build id: no process is spawned (dpkg -S) inside
 * the traced program. Service thread only: the table is its own. */
#include "core/write/symhint.h"

#include <fcntl.h>
#include <string.h>

#include "core/base/log.h"
#include "core/base/real.h"

#define SHOWN_MAX 16       /* objects named in one report; the rest counted */

struct obj {
	char *path;             /* one allocation: the path, then the build id */
	const unsigned char *id;
	int id_len;             /* 0: no build id */
	unsigned long frames;   /* pcs without a symbol in this trace's stacks */
};

static struct obj *objs;
static unsigned nobj, cap;
static unsigned gen = 1;    /* the trace's: a pc counts once a generation */

unsigned gt_symhint_object(const char *path, const unsigned char *id, int len)
{
	if (!path || path[0] != '/')
		return 0;
	if (len < 0 || !id)
		len = 0;
	for (unsigned i = 0; i < nobj; i++)
		if (objs[i].id_len == len && strcmp(objs[i].path, path) == 0 &&
		    (!len || memcmp(objs[i].id, id, (size_t)len) == 0))
			return i + 1;
	if (nobj == cap) {
		unsigned c = cap ? cap * 2 : 16;
		struct obj *n = gt_realloc(objs, c * sizeof(*n));
		if (!n)
			return 0;
		objs = n;
		cap = c;
	}
	size_t plen = strlen(path) + 1;
	char *p = gt_malloc(plen + (size_t)len);
	if (!p)
		return 0;
	memcpy(p, path, plen);
	if (len)
		memcpy(p + plen, id, (size_t)len);
	objs[nobj] = (struct obj){ p, (unsigned char *)p + plen, len, 0 };
	return ++nobj;
}

void gt_symhint_seen(unsigned h, unsigned *seen)
{
	if (!h || h > nobj || *seen == gen)
		return;
	*seen = gen;
	objs[h - 1].frames++;
}

/* Where libdw's build-id search (our find_debuginfo, core/write/symbol.c)
 * looks, and a -dbgsym package or libc6-dbg installs: the first byte of
 * the id as the directory, the rest as the name. */
static void debug_path(const struct obj *o, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = gt_fmt(buf, size, "/usr/lib/debug/.build-id/");

	for (int i = 0; i < o->id_len && n + 8 < size; i++) {
		buf[n++] = hex[o->id[i] >> 4];
		buf[n++] = hex[o->id[i] & 15];
		if (i == 0)
			buf[n++] = '/';
	}
	gt_fmt(buf + n, size - n, ".debug");
}

static int exists(const char *path)
{
	int fd = gt_open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	gt_close(fd);
	return 1;
}

void gt_symhint_report(void (*say)(const char *fmt, ...) __attribute__((format(printf, 1, 2))))
{
	unsigned shown[SHOWN_MAX], n = 0, total = 0, ids = 0;

	/* The objects with the most such frames first. */
	for (unsigned i = 0; i < nobj; i++) {
		if (!objs[i].frames)
			continue;
		total++;
		unsigned j = n < SHOWN_MAX ? n++ : SHOWN_MAX;
		for (; j > 0 && objs[shown[j - 1]].frames < objs[i].frames; j--)
			if (j < SHOWN_MAX)
				shown[j] = shown[j - 1];
		if (j < SHOWN_MAX)
			shown[j] = i;
	}
	for (unsigned k = 0; k < n; k++) {
		const struct obj *o = &objs[shown[k]];
		const char *base = strrchr(o->path, '/') + 1;
		int one = o->frames == 1;
		const char *s = one ? "" : "s", *have = one ? "has" : "have", *them = one ? "it" : "them";
		char dbg[256];

		debug_path(o, dbg, sizeof(dbg));
		if (!o->id_len)
			say("%lu frame%s in %s %s no symbol (shown as %s+0x...); it has no build id "
			       "to find a debug file by: an unstripped build would name %s",
			       o->frames, s, o->path, have, base, them);
		else if (exists(dbg))
			say("%lu frame%s in %s %s no symbol (shown as %s+0x...), not even in its "
			       "debug file %s", o->frames, s, o->path, have, base, dbg);
		else {
			say("%lu frame%s in %s %s no symbol (shown as %s+0x...); its debug file "
			       "would name %s: %s", o->frames, s, o->path, have, base, them, dbg);
			ids++;
		}
	}
	if (total > n)
		say("and %u more objects with frames without a symbol", total - n);
	if (ids)
		say("to get a debug file: install its -dbgsym package (Debian: apt install "
		       "<package>-dbgsym, from the debian-debug archive, <package> being what "
		       "`dpkg -S <object>` names; glibc's is libc6-dbg), or fetch it with "
		       "`debuginfod-find debuginfo <object>` (DEBUGINFOD_URLS set) and copy it "
		       "to that path; then trace again");
	gt_symhint_start();
}

void gt_symhint_start(void)
{
	for (unsigned i = 0; i < nobj; i++)
		objs[i].frames = 0;
	if (++gen == 0)
		gen = 1;
}
