/* rpc/cli/prog.h - what `gotrace run` checks before it starts a program. */
#ifndef GT_PROG_H
#define GT_PROG_H

#include <stddef.h>

/* Can LD_PRELOAD load into cmd (found through PATH like execvp)? 0, or -1
 * with why (statically linked; setuid/setgid to another user; not found)
 * in err. A script is judged by its interpreter. */
int gt_prog_preloadable(const char *cmd, char *err, size_t errlen);

/* Can out be created or truncated? 0, or -1 with why in err. */
int gt_prog_writable(const char *out, char *err, size_t errlen);

#endif
