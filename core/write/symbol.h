/* core/write/symbol.h - pc -> function, file, line for the trace's stack table.
 * Service thread only (it takes no lock; libdw and the caches are touched by
 * that one thread). Never called from a hook. */
#ifndef GT_SYMBOL_H
#define GT_SYMBOL_H

#include <stdint.h>

struct gt_sym {
	const char *func;  /* demangled when C++; never NULL ("?" when unknown,
	                      then the object's path + offset, e.g. "libfoo.so+0x1234") */
	const char *file;  /* source file from DWARF, else the object's path; never NULL */
	uint32_t line;     /* 0 when unknown */
	uintptr_t entry;   /* start address of the function (0 when unknown) */
};

/* Resolve pc. exact = 0: pc is a return address, look up pc - 1 (the call
 * instruction); exact = 1: pc is a function entry or an exact instruction.
 * The strings stay valid until gt_sym_reset(). Returns 0 (found a symbol or
 * at least the object), -ENOENT (pc in no mapped object). */
int gt_sym_lookup(uintptr_t pc, int exact, struct gt_sym *out);

/* dlopen libdw now (gt_ctl_prepare; the one call that may come from another
 * thread than the service thread, before the service thread symbolises). */
void gt_sym_prepare(void);

/* The frames at pc, innermost first: functions the compiler inlined there
 * (from DWARF), then the function that holds the code. out[i].entry is set
 * for the last one only. Returns how many (>= 1), at most max; the strings
 * stay valid until gt_sym_reset(). A pc in no object gives one "?" frame. */
#define GT_SYM_INLINE_MAX 8
int gt_sym_frames(uintptr_t pc, int exact, struct gt_sym *out, int max);
/* Any thread, after a dlclose: another object may load at the addresses
 * answered so far, so the next lookup starts afresh (lock-free). */
void gt_sym_unloaded(void);

/* The path of the object holding pc, without its symbols or DWARF (the
 * hooked libc functions: their names are known, and their source lines
 * would cost loading libc's debug info, ~50 ms, and tell the program's
 * author nothing). Never NULL ("?"); valid until gt_sym_reset(). */
const char *gt_sym_object(uintptr_t pc);

/* A symbol as people read it: C++ (Itanium ABI) and Rust (legacy _ZN...17h
 * <hash>E and v0 _R... manglings, printed as rustc-demangle does), with
 * libiberty's demanglers, the ones c++filt and gdb use. Anything else comes
 * back as it is. Returns a string of gt_malloc's (gt_free), NULL when out
 * of memory. */
char *gt_sym_demangle(const char *name);
/* The strings symbols point to, gt_malloc's: kept until
 * gt_sym_own_reset() (gt_sym_reset). NULL or no room: "?". */
const char *gt_sym_own(char *s);
void gt_sym_own_reset(void);

/* Address of the executable's `main` (0 when the binary has no symbol for
 * it). Cached. */
uintptr_t gt_sym_main(void);

/* Drop every cache and the module list (after fork in the child, or to pick
 * up libraries loaded since). Lookups re-read /proc/self/maps lazily, and do
 * so by themselves when a pc falls in no known module. */
void gt_sym_reset(void);

#endif
