/* core/base/elfsym.c - the loader's RTLD_NEXT look-up, read from the
 * objects' own tables (see elfsym.h).
 *
 * dlsym(RTLD_NEXT) searches the main search list after the caller's
 * object, each object by its hash table, and returns the first
 * definition: an unversioned one, or the single default (not hidden)
 * version of a versioned name (glibc's check_match with
 * DL_LOOKUP_RETURN_NEWEST). For the objects loaded with the program the
 * link-map chain is in search-list order (rtld.c moves ld.so's own map to
 * its place in it), so walking l_next from our map sees what the loader
 * would. Anything this walk cannot answer exactly returns NULL. */
#include "core/base/elfsym.h"

#include <elf.h>
#include <link.h>
#include <string.h>

/* The linker's name for the dynamic section of the object we are linked
 * into: its map in the chain is ours. Weak: a static executable has none. */
extern ElfW(Dyn) _DYNAMIC[] __attribute__((weak, visibility("hidden")));

struct obj {
	const uint32_t *gnu;   /* DT_GNU_HASH */
	const ElfW(Sym) *sym;
	const char *str;
	const ElfW(Half) *ver; /* DT_VERSYM, or NULL */
	ElfW(Addr) base;
};

/* A tag's address, relocated: glibc adds l_addr to these entries when it
 * maps an object, loaders for read-only dynamic sections do not. */
static const void *dptr(ElfW(Addr) p, ElfW(Addr) base)
{
	return (const void *)(p < base ? p + base : p);
}

static int obj_of(const struct link_map *l, struct obj *o)
{
	memset(o, 0, sizeof(*o));
	o->base = l->l_addr;
	if (!l->l_ld)
		return 0;
	for (const ElfW(Dyn) *d = l->l_ld; d->d_tag != DT_NULL; d++) {
		switch (d->d_tag) {
		case DT_GNU_HASH: o->gnu = dptr(d->d_un.d_ptr, o->base); break;
		case DT_SYMTAB: o->sym = dptr(d->d_un.d_ptr, o->base); break;
		case DT_STRTAB: o->str = dptr(d->d_un.d_ptr, o->base); break;
		case DT_VERSYM: o->ver = dptr(d->d_un.d_ptr, o->base); break;
		}
	}
	return o->sym && o->str;
}

/* The hash the loader and the GNU hash section use (h * 33 + c). */
static uint32_t gnu_hash(const char *s)
{
	uint32_t h = 5381;

	for (; *s; s++)
		h = h * 33 + (unsigned char)*s;
	return h;
}

enum { MISS, FOUND, UNSURE };

/* One object: FOUND with *out, MISS, or UNSURE. */
static int lookup(const struct obj *o, const char *name, uint32_t h, void **out)
{
	if (!o->gnu)
		return UNSURE;   /* DT_HASH only: dlsym reads it */

	const uint32_t nbuckets = o->gnu[0], symoffset = o->gnu[1];
	const uint32_t nbloom = o->gnu[2], shift = o->gnu[3];
	const ElfW(Addr) *bloom = (const ElfW(Addr) *)(o->gnu + 4);
	const uint32_t *buckets = (const uint32_t *)(bloom + nbloom);
	const uint32_t *chain = buckets + nbuckets;
	const unsigned bits = sizeof(ElfW(Addr)) * 8;

	if (!nbuckets || !nbloom)
		return MISS;
	ElfW(Addr) w = bloom[(h / bits) & (nbloom - 1)];
	if (!((w >> (h % bits)) & (w >> ((h >> shift) % bits)) & 1))
		return MISS;

	uint32_t i = buckets[h % nbuckets];
	const ElfW(Sym) *versioned = NULL;
	unsigned nversioned = 0;

	if (i < symoffset)
		return MISS;
	for (;; i++) {
		uint32_t ch = chain[i - symoffset];
		const ElfW(Sym) *s = &o->sym[i];

		if ((ch | 1) == (h | 1) && strcmp(name, o->str + s->st_name) == 0 &&
		    s->st_shndx != SHN_UNDEF && s->st_value != 0) {
			unsigned type = ELF64_ST_TYPE(s->st_info), bind = ELF64_ST_BIND(s->st_info);

			if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE)
				goto next;
			if (type == STT_GNU_IFUNC || type == STT_TLS)
				return UNSURE;   /* dlsym calls the resolver */
			if (type != STT_FUNC && type != STT_OBJECT && type != STT_NOTYPE &&
			    type != STT_COMMON)
				goto next;
			if (o->ver && (o->ver[i] & 0x7fff) >= 2) {
				if (!(o->ver[i] & 0x8000) && nversioned++ == 0)
					versioned = s;   /* the default version */
				goto next;
			}
			*out = (void *)(o->base + s->st_value);
			return FOUND;
		}
	next:
		if (ch & 1)
			break;
	}
	if (nversioned == 1) {
		*out = (void *)(o->base + versioned->st_value);
		return FOUND;
	}
	return nversioned ? UNSURE : MISS;
}

/* The objects after ours, parsed once for a batch of look-ups: the
 * constructor's ~150 names in a row (one thread; see elfsym.h), after
 * gt_elfsym_forget. */
static struct {
	const struct link_map *self;
	unsigned n;
	struct link_map *map[16];
	struct obj obj[16];
} seen;

void gt_elfsym_forget(void)
{
	seen.self = NULL;
	seen.n = 0;
}

void *gt_elfsym_next(const char *name)
{
	const struct link_map *l = _r_debug.r_map;

	if (!_DYNAMIC || _r_debug.r_version < 1)
		return NULL;
	if (seen.self && seen.self->l_ld == _DYNAMIC)
		l = seen.self;
	else {
		while (l && l->l_ld != _DYNAMIC)
			l = l->l_next;
		if (!l)
			return NULL;   /* another namespace (dlmopen): dlsym knows */
		seen.self = l;
		seen.n = 0;
	}

	uint32_t h = gnu_hash(name);
	unsigned k = 0;
	for (struct link_map *m = l->l_next; m; m = m->l_next, k++) {
		struct obj o, *op = &o;
		void *p = NULL;

		if (k < seen.n && seen.map[k] == m)
			op = &seen.obj[k];
		else if (!obj_of(m, &o))
			return NULL;
		else if (k == seen.n && k < 16) {
			seen.map[k] = m;
			seen.obj[k] = o;
			seen.n = k + 1;
		}
		switch (lookup(op, name, h, &p)) {
		case FOUND: return p;
		case UNSURE: return NULL;
		}
	}
	return NULL;
}
