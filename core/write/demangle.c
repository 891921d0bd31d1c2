/* core/write/demangle.c - symbols as people read them (gt_sym_demangle in
 * core/write/symbol.h): libiberty's C++ and Rust demanglers, those of
 * c++filt and gdb. Any thread; the name is gt_malloc's (gt_free). And the
 * pool that keeps symbol.c's strings until its reset (service thread). */
#include <libiberty/demangle.h>
#include <string.h>

#include "core/base/real.h"
#include "core/write/symbol.h"

char *gt_sym_demangle(const char *name)
{
	/* Rust first: its legacy symbols are valid C++ ones too
	 * (rs::main::h6af98f44df74ee35), which only the Rust demangler
	 * prints as rustc-demangle does (rs::main). */
	char *d = rust_demangle(name, DMGL_PARAMS | DMGL_ANSI);

	if (!d && strncmp(name, "_Z", 2) == 0)
		d = cplus_demangle_v3(name, DMGL_PARAMS | DMGL_ANSI);
	if (!d)
		return gt_strdup(name);
	/* libiberty's malloc is the process's: the name in ours */
	char *r = gt_strdup(d);
	gt_free_lib(d);
	return r;
}

static char **strs;
static size_t nstrs, strs_cap;

const char *gt_sym_own(char *s)
{
	if (!s)
		return "?";
	if (nstrs == strs_cap) {
		size_t cap = strs_cap ? strs_cap * 2 : 256;
		char **n = gt_realloc(strs, cap * sizeof(*n));
		if (!n) {
			gt_free(s);
			return "?";
		}
		strs = n;
		strs_cap = cap;
	}
	strs[nstrs++] = s;
	return s;
}

void gt_sym_own_reset(void)
{
	for (size_t i = 0; i < nstrs; i++)
		gt_free(strs[i]);
	gt_free(strs);
	strs = NULL;
	nstrs = strs_cap = 0;
}
