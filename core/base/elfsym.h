/* core/base/elfsym.h - dlsym(RTLD_NEXT, name) without dlsym: the look-up
 * the loader would make, in the objects after ours, by their GNU hash
 * tables. dlsym costs ~1,100 instructions a name (the loader's lock,
 * dlerror's state, a setjmp); the table's 151 names were 156 k of the
 * 274 k instructions the library added to a process that runs /bin/true.
 * Used by the constructor only (gt_real_init): later look-ups take
 * dlsym, whose lock keeps a concurrent dlclose from unmapping what is
 * being read. */
#ifndef GT_BASE_ELFSYM_H
#define GT_BASE_ELFSYM_H

/* The address dlsym(RTLD_NEXT, name) called from our object would give,
 * or NULL where this look-up cannot be sure of it (not found, an IFUNC
 * whose resolver dlsym would call, an object without a GNU hash table,
 * our object not in the base namespace's list): the caller then asks
 * dlsym. */
void *gt_elfsym_next(const char *name);
/* Before a batch of look-ups: what the last batch parsed of the objects is
 * forgotten (a dlclose since may have unmapped it). */
void gt_elfsym_forget(void);

#endif
