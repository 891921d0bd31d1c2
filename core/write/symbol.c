/* core/write/symbol.c - pc -> function, file, line with elfutils' libdwfl, on the
 * service thread only (no lock; malloc is fine on that thread). Objects are
 * mapped and their fds closed at once (we never hold, or later close, an fd
 * number the program may reuse); DWARF line info is used when the object or
 * a local debug file has it; debuginfod is never contacted. */
#include "core/write/symbol.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/sys.h"
#include "core/write/debugcache.h"
#include "core/write/symhint.h"


/* libdw, loaded on first use (dlopen, RTLD_LOCAL): only a process that
 * writes a trace pays for it (an idle process loads four libraries fewer),
 * and its symbols never mix with the program's. */
#define DW_FNS(X) \
	X(dwarf_attr) X(dwarf_attr_integrate) X(dwarf_diename) X(dwarf_filesrc) X(dwarf_formstring) \
	X(dwarf_formudata) X(dwarf_getscopes) X(dwarf_getscopes_die) X(dwarf_getsrcfiles) \
	X(dwarf_haspc) X(dwarf_tag) X(dwfl_addrmodule) X(dwfl_begin) X(dwelf_elf_gnu_build_id) \
	X(dwfl_build_id_find_debuginfo) X(dwfl_end) X(dwfl_lineinfo) X(dwfl_linux_proc_find_elf) \
	X(dwfl_linux_proc_report) X(dwfl_module_addrdie) X(dwfl_module_addrinfo) \
	X(dwfl_module_build_id) X(dwfl_module_getsrc) X(dwfl_module_getsym_info) \
	X(dwfl_module_getsymtab) X(dwfl_module_info) X(dwfl_report_begin) X(dwfl_report_end) \
	X(elf_begin) X(elf_cntl) X(elf_end)
static struct {
#define DW_FIELD(f) __typeof__(f) *f;
	DW_FNS(DW_FIELD)
#undef DW_FIELD
	int tried, ok;
} dw;

static int load_dw(void)
{
	if (dw.tried)
		return dw.ok;
	dw.tried = 1;
	void *h = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		gt_log("libdw.so.1 not found: stacks get function names only");
		return 0;
	}
#define DW_LOAD(f) if (!(dw.f = (__typeof__(f) *)dlsym(h, #f))) return 0;
	DW_FNS(DW_LOAD)
#undef DW_LOAD
	dw.ok = 1;
	return 1;
}

void gt_sym_prepare(void)
{
	load_dw();
	gt_free_lib_prepare();
}

struct entry {
	uintptr_t pc;
	int exact, used;
	struct gt_sym s;
	int n;                       /* frames (inlined ones first) */
	struct gt_sym *in;           /* the n - 1 inlined frames */
	unsigned hint, seen;         /* no symbol: its object's gt_symhint handle */
};

static Dwfl *dwfl;
static struct entry *cache;
static size_t cache_cap, cache_n;
static uintptr_t main_addr;
static int main_done;

#define own gt_sym_own

/* Map the object, close its fd: libelf reads the mapping from then on. */
static int find_elf(Dwfl_Module *mod, void **ud, const char *name, Dwarf_Addr base,
		    char **file_name, Elf **elfp)
{
	if (name[0] != '/')   /* [vdso] and friends: read from memory */
		return dw.dwfl_linux_proc_find_elf(mod, ud, name, base, file_name, elfp);
	int fd = gt_open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	Elf *e = dw.elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (e)
		dw.elf_cntl(e, ELF_C_FDDONE);
	gt_close(fd);
	if (!e)
		return -1;
	*elfp = e;
	*file_name = strdup(name);
	return -1;
}

/* Local debug files only, never libdw's standard search: it ends in
 * debuginfod_begin even with DEBUGINFOD_URLS unset, which loads libcurl and
 * ~20 libraries into the traced process and initialises OpenSSL there, with
 * atexit handlers of its own (one ran at the program's exit while we were
 * symbolising and crashed it). By build id under the debuginfo path first,
 * then the object's .gnu_debuglink name where GDB looks for it: beside the
 * object, in .debug/ beside it, under /usr/lib/debug. A debuglink file is
 * taken only when its build id is the object's (no CRC pass over it). */
static int find_debuginfo(Dwfl_Module *mod, void **ud, const char *name, Dwarf_Addr base,
			  const char *file, const char *link, GElf_Word crc, char **out)
{
	static const char *const where[] = { "%.*s/%s", "%.*s/.debug/%s", "/usr/lib/debug%.*s/%s" };
	const unsigned char *id;
	GElf_Addr id_vaddr;
	int id_len = dw.dwfl_module_build_id(mod, &id, &id_vaddr);
	int fd = gt_debugcache_find(id, id_len, out, dw.dwelf_elf_gnu_build_id);

	if (fd < 0)
		fd = dw.dwfl_build_id_find_debuginfo(mod, ud, name, base, file, link, crc, out);
	if (fd >= 0 || !link || !file || file[0] != '/' || strchr(link, '/') || id_len <= 0)
		return fd;
	int dir_len = (int)(strrchr(file, '/') - file);
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		char path[4096];
		const void *got;
		if (snprintf(path, sizeof(path), where[i], dir_len, file, link) >= (int)sizeof(path) ||
		    strcmp(path, file) == 0)
			continue;
		if ((fd = gt_open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		Elf *e = dw.elf_begin(fd, ELF_C_READ_MMAP, NULL);
		int same = e && dw.dwelf_elf_gnu_build_id(e, &got) == id_len &&
			   memcmp(got, id, (size_t)id_len) == 0;
		if (e)
			dw.elf_end(e);
		if (same && (*out = strdup(path)))
			return gt_debugcache_swap(fd, out, id, id_len, dw.dwelf_elf_gnu_build_id);
		gt_close(fd);
	}
	return -1;
}

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
	.find_elf = find_elf,
	.find_debuginfo = find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

/* glibc counts objects loaded and unloaded: when they change, the module
 * list is stale (a pc in a newly loaded library could fall in an old
 * module's range). */
static unsigned long long seen_adds = ~0ull, seen_subs = ~0ull;

static int counts(struct dl_phdr_info *info, size_t size, void *arg)
{
	unsigned long long *c = arg;

	(void)size;
	c[0] = info->dlpi_adds;
	c[1] = info->dlpi_subs;
	return 1;
}

static int objects_changed(void)
{
	unsigned long long c[2] = { 0, 0 };

	dl_iterate_phdr(counts, c);
	return c[0] != seen_adds || c[1] != seen_subs;
}

static int report(void)
{
	unsigned long long c[2] = { 0, 0 };

	if (!load_dw())   /* first: loading libdw changes the counts */
		return -1;
	dl_iterate_phdr(counts, c);
	seen_adds = c[0];
	seen_subs = c[1];
	if (!dwfl && !(dwfl = dw.dwfl_begin(&callbacks)))
		return -1;
	dw.dwfl_report_begin(dwfl);
	/* Our own thread's maps: once main has called pthread_exit, the
	 * process's (its leader's) /proc/PID/maps reads empty. */
	int r = dw.dwfl_linux_proc_report(dwfl, gt_gettid());
	dw.dwfl_report_end(dwfl, NULL, NULL);
	return r == 0 ? 0 : -1;
}

static const char *base_name(const char *p)
{
	const char *s = p ? strrchr(p, '/') : NULL;
	return s ? s + 1 : (p ? p : "?");
}

static const char *func_name(const char *name)
{
	return own(gt_sym_demangle(name));
}

static const char *die_name(Dwarf_Die *d)
{
	Dwarf_Attribute a;
	const char *n = NULL;

	if (dw.dwarf_attr_integrate(d, DW_AT_linkage_name, &a) ||
	    dw.dwarf_attr_integrate(d, DW_AT_MIPS_linkage_name, &a))
		n = dw.dwarf_formstring(&a);
	if (!n)
		n = dw.dwarf_diename(d);
	if (!n && dw.dwarf_attr_integrate(d, DW_AT_name, &a))
		n = dw.dwarf_formstring(&a);
	return n;
}

/* Inlined calls at a (DWARF scopes, innermost first): each one's name, and
 * the file:line it stands at (the line table for the innermost, the call
 * site of the next inner one for the others, as addr2line -i does). The
 * last frame, the real function, gets the call site of the outermost
 * inlined call. Returns how many inlined frames were stored. */
static int inlines(Dwfl_Module *m, Dwarf_Addr a, struct gt_sym *in, int max,
		   const char **file, uint32_t *line)
{
	Dwarf_Addr bias;
	Dwarf_Die *cu = dw.dwfl_module_addrdie(m, a, &bias);
	Dwarf_Die *scopes = NULL;
	Dwarf_Files *files = NULL;
	int k = 0;

	if (!cu)
		return 0;
	int n = dw.dwarf_getscopes(cu, a - bias, &scopes);
	/* Past an inlined subroutine getscopes goes on in its abstract
	 * origin: of two levels only the inner was seen. The innermost DIE's
	 * nesting has every level (eu-addr2line -i). */
	Dwarf_Die *nest = NULL;
	int nn = n > 0 ? dw.dwarf_getscopes_die(&scopes[0], &nest) : 0;
	gt_free_lib(nn > 0 ? scopes : nest);
	if (nn > 0)
		scopes = nest, n = nn;
	dw.dwarf_getsrcfiles(cu, &files, NULL);
	for (int i = 0; i < n && k < max; i++) {
		if (dw.dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine)
			continue;
		const char *nm = die_name(&scopes[i]);
		in[k].func = nm ? func_name(nm) : "?";
		in[k].file = *file;
		in[k].line = *line;
		in[k].entry = 0;
		k++;
		Dwarf_Attribute at;
		Dwarf_Word f = 0, l = 0;
		if (dw.dwarf_attr(&scopes[i], DW_AT_call_file, &at))
			dw.dwarf_formudata(&at, &f);
		if (dw.dwarf_attr(&scopes[i], DW_AT_call_line, &at))
			dw.dwarf_formudata(&at, &l);
		const char *src = files ? dw.dwarf_filesrc(files, f, NULL, NULL) : NULL;
		if (src)
			*file = own(gt_strdup(src));
		*line = (uint32_t)l;
	}
	gt_free_lib(scopes);   /* libdw's malloc */
	return k;
}

static int resolve(uintptr_t pc, int exact, struct gt_sym *out, struct gt_sym *in, int *nin,
		   unsigned *hint)
{
	Dwarf_Addr a = exact ? pc : pc - 1;

	*nin = 0;
	*hint = 0;
	if (!dwfl || objects_changed())
		report();
	/* Only user-space addresses can be code of the program. */
	Dwfl_Module *m = dwfl && a >= 4096 && a < (1ull << 47) ? dw.dwfl_addrmodule(dwfl, a) : NULL;
	Dl_info di;
	if (!dw.ok && dladdr((void *)(uintptr_t)a, &di) && di.dli_fname) {
		/* No libdw: the dynamic symbol table's names, the object's path. */
		out->func = di.dli_sname ? func_name(di.dli_sname) : own(gt_strdup("?"));
		out->file = own(gt_strdup(di.dli_fname));
		out->line = 0;
		out->entry = (uintptr_t)di.dli_saddr;
		return 0;
	}
	if (!m) {
		*out = (struct gt_sym){ "?", "?", 0, 0 };
		return -ENOENT;
	}
	Dwarf_Addr start = 0;
	const char *mainfile = NULL;
	const char *modname = dw.dwfl_module_info(m, NULL, &start, NULL, NULL, NULL, &mainfile, NULL);
	const char *path = mainfile ? mainfile : modname;
	GElf_Off off = 0;
	GElf_Sym sym;
	const char *name = dw.dwfl_module_addrinfo(m, a, &off, &sym, NULL, NULL, NULL);
	/* A return address at a function's first byte, nothing before it:
	 * no call returns there; the kernel put it under a signal handler's
	 * frame (the sigreturn trampoline, glibc's __restore_rt). */
	const char *at = name && *name ? NULL : exact ? NULL :
			 dw.dwfl_module_addrinfo(m, pc, &off, &sym, NULL, NULL, NULL);
	if (at && *at && off == 0)
		a = pc, name = at;
	if (name && *name) {
		out->func = func_name(name);
		out->entry = (uintptr_t)(a - off);
	} else {   /* libdw read .symtab, else .dynsym and .gnu_debugdata (MiniDebugInfo) */
		char buf[512];
		const unsigned char *id = NULL;
		GElf_Addr id_at;
		int id_len = dw.dwfl_module_build_id(m, &id, &id_at);
		gt_fmt(buf, sizeof(buf), "%s+0x%lx", base_name(path), (unsigned long)(a - start));
		out->func = own(gt_strdup(buf));
		out->entry = 0;
		*hint = gt_symhint_object(path, id, id_len);
	}
	/* Only from a unit that holds the address: Go's linker writes no
	 * .debug_aranges for Go code, and libdw stretched the nearest C unit
	 * of a cgo program over it (every Go frame "gcc_mmap.c:37"). */
	Dwarf_Addr cb;
	Dwarf_Die *cu = dw.dwfl_module_addrdie(m, a, &cb);
	Dwfl_Line *ln = cu && dw.dwarf_haspc(cu, a - cb) > 0 ? dw.dwfl_module_getsrc(m, a) : NULL;
	int line = 0;
	const char *src = ln ? dw.dwfl_lineinfo(ln, NULL, &line, NULL, NULL, NULL) : NULL;
	out->file = own(gt_strdup(src ? src : (path ? path : "?")));
	out->line = src && line > 0 ? (uint32_t)line : 0;
	if (src && in)
		*nin = inlines(m, a, in, GT_SYM_INLINE_MAX - 1, &out->file, &out->line);
	return 0;
}

/* find()'s third kind of entry, beside exact 0 and 1: the object only. */
#define OBJECT_ONLY 2

static void object(uintptr_t pc, struct gt_sym *out)
{
	Dl_info di;

	*out = (struct gt_sym){ "?", "?", 0, 0 };
	if (dladdr((void *)pc, &di) && di.dli_fname && di.dli_fname[0])
		out->file = own(gt_strdup(di.dli_fname));
}

static size_t slot(uintptr_t pc, int exact)
{
	return ((pc ^ (uintptr_t)exact) * 0x9e3779b97f4a7c15ull >> 17) & (cache_cap - 1);
}

static void drop_cache(void)
{
	for (size_t i = 0; i < cache_cap; i++)
		gt_free(cache[i].in);
	gt_free(cache);
	cache = NULL;
	cache_cap = cache_n = 0;
}

static uint32_t unloads;   /* atomic: gt_sym_unloaded's count */

void gt_sym_unloaded(void)
{
	__atomic_fetch_add(&unloads, 1, __ATOMIC_RELEASE);
}

static struct entry *find(uintptr_t pc, int exact)
{
	static uint32_t seen;

	if (seen != __atomic_load_n(&unloads, __ATOMIC_ACQUIRE))
		seen = __atomic_load_n(&unloads, __ATOMIC_ACQUIRE), drop_cache();
	if ((cache_n + 1) * 2 > cache_cap) {
		size_t cap = cache_cap ? cache_cap * 2 : 4096;
		struct entry *n = gt_calloc(cap, sizeof(*n));
		if (!n)
			return NULL;
		size_t old = cache_cap;
		struct entry *o = cache;
		cache = n;
		cache_cap = cap;
		for (size_t i = 0; i < old; i++)
			if (o[i].used) {
				size_t j = slot(o[i].pc, o[i].exact);
				while (cache[j].used)
					j = (j + 1) & (cap - 1);
				cache[j] = o[i];
			}
		gt_free(o);
	}
	size_t j = slot(pc, exact);
	for (; cache[j].used; j = (j + 1) & (cache_cap - 1))
		if (cache[j].pc == pc && cache[j].exact == exact)
			return &cache[j];
	struct gt_sym in[GT_SYM_INLINE_MAX];
	struct entry *e = &cache[j];
	int nin = 0;
	if (exact == OBJECT_ONLY)
		object(pc, &e->s);
	else
		resolve(pc, exact, &e->s, in, &nin, &e->hint);
	e->pc = pc;
	e->exact = exact;
	e->used = 1;
	e->n = 1 + nin;
	e->in = nin ? gt_malloc(nin * sizeof(*in)) : NULL;
	if (e->in)
		memcpy(e->in, in, nin * sizeof(*in));
	else
		e->n = 1;
	cache_n++;
	return e;
}

int gt_sym_lookup(uintptr_t pc, int exact, struct gt_sym *out)
{
	struct entry *e = find(pc, exact);
	int nin;
	unsigned hint;

	if (!e)
		return resolve(pc, exact, out, NULL, &nin, &hint);
	gt_symhint_seen(e->hint, &e->seen);
	*out = e->s;
	return out->func[0] == '?' && !out->func[1] ? -ENOENT : 0;
}

int gt_sym_frames(uintptr_t pc, int exact, struct gt_sym *out, int max)
{
	struct entry *e = find(pc, exact);
	int k = 0;

	if (!e) {
		gt_sym_lookup(pc, exact, out);
		return 1;
	}
	gt_symhint_seen(e->hint, &e->seen);
	for (int i = 0; i < e->n - 1 && k < max - 1; i++)
		out[k++] = e->in[i];
	out[k++] = e->s;
	return k;
}

const char *gt_sym_object(uintptr_t pc)
{
	struct entry *e = find(pc, OBJECT_ONLY);
	struct gt_sym s;

	if (e)
		return e->s.file;
	object(pc, &s);   /* out of memory for the cache: s.file leaks no worse */
	return s.file;
}

/* main is seldom in the dynamic symbol table: search the executable's own
 * symbol table (the module holding the entry point). */
uintptr_t gt_sym_main(void)
{
	if (main_done)
		return main_addr;
	main_done = 1;
	if (!dwfl && report())
		return 0;
	Dwfl_Module *m = dw.dwfl_addrmodule(dwfl, getauxval(AT_ENTRY));
	int n = m ? dw.dwfl_module_getsymtab(m) : -1;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		const char *name = dw.dwfl_module_getsym_info(m, i, &sym, &addr, NULL, NULL, NULL);
		if (name && GELF_ST_TYPE(sym.st_info) == STT_FUNC && strcmp(name, "main") == 0) {
			main_addr = (uintptr_t)addr;
			break;
		}
	}
	return main_addr;
}

void gt_sym_reset(void)
{
	if (dwfl)
		dw.dwfl_end(dwfl);
	dwfl = NULL;
	gt_sym_own_reset();
	drop_cache();
	main_done = 0;
	main_addr = 0;
}
