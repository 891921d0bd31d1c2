/* core/prof/maps.c - the loaded objects' code as profile.proto's mappings:
 * each executable segment's pages, file offset, path and GNU build id (so
 * `pprof` can tell which build a profile is of). Service thread. */
#include "core/prof/prof_int.h"

#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/base/real.h"

struct list {
	struct gt_prof_map *m;
	size_t n, cap;
	int err;
};

/* The GNU build id from an object's notes (mapped: PT_NOTE is in a
 * loaded segment), as hex. */
static void build_id(const struct dl_phdr_info *info, char *out)
{
	out[0] = '\0';
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		const uint8_t *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			const uint8_t *name = p + sizeof(*nh);
			const uint8_t *desc = name + ((nh->n_namesz + 3) & ~3u);
			if (desc + nh->n_descsz > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    !memcmp(name, "GNU", 4) && nh->n_descsz <= 20) {
				static const char hex[] = "0123456789abcdef";
				for (unsigned k = 0; k < nh->n_descsz; k++) {
					out[2 * k] = hex[desc[k] >> 4];
					out[2 * k + 1] = hex[desc[k] & 15];
				}
				out[2 * nh->n_descsz] = '\0';
				return;
			}
			p = desc + ((nh->n_descsz + 3) & ~3u);
		}
	}
}

static char *dup_str(const char *s)
{
	size_t n = strlen(s);
	char *d = gt_malloc(n + 1);

	if (d)
		memcpy(d, s, n + 1);
	return d;
}

static int add(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct list *l = arg;
	long page = sysconf(_SC_PAGESIZE);
	char file[4096], id[41];

	(void)size;
	if (info->dlpi_name && info->dlpi_name[0])
		gt_fmt(file, sizeof(file), "%s", strstr(info->dlpi_name, "linux-vdso") ? "[vdso]" :
		       info->dlpi_name);
	else {   /* the program: its path, as /proc/self/maps names it */
		ssize_t k = readlink("/proc/self/exe", file, sizeof(file) - 1);
		file[k > 0 ? k : 0] = '\0';
	}
	build_id(info, id);
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || !ph->p_memsz)
			continue;
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 32;
			struct gt_prof_map *m = gt_realloc(l->m, cap * sizeof(*m));
			if (!m) {
				l->err = 1;
				return 1;
			}
			l->m = m;
			l->cap = cap;
		}
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		struct gt_prof_map *m = &l->m[l->n];
		m->start = lo & ~(uintptr_t)(page - 1);
		m->limit = (hi + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
		m->offset = ph->p_offset & ~(uintptr_t)(page - 1);
		m->file = dup_str(file);
		memcpy(m->build_id, id, sizeof(id));
		if (!m->file) {
			l->err = 1;
			return 1;
		}
		l->n++;
	}
	return 0;
}

size_t gt_prof_maps(struct gt_prof_map **out)
{
	struct list l = { 0 };

	dl_iterate_phdr(add, &l);
	*out = l.m;
	return l.n;
}

void gt_prof_maps_free(struct gt_prof_map *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		gt_free(m[i].file);
	gt_free(m);
}
