/* core/base/visibility.h - GT_HIDDEN: on the declarations of the globals
 * the hooks read. -fvisibility=hidden marks our definitions only; an
 * extern declaration without it reads through the GOT, which the linker
 * relaxes to lea + mov. Declared hidden, it is one rip-relative mov:
 * one instruction less per global on every hook's path. */
#ifndef GT_BASE_VISIBILITY_H
#define GT_BASE_VISIBILITY_H

#define GT_HIDDEN __attribute__((visibility("hidden")))

#endif
