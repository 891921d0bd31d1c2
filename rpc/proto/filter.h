/* rpc/proto/filter.h - debug_stacks' filter expression (geth's). */
#ifndef GT_RPC_FILTER_H
#define GT_RPC_FILTER_H

#include <stddef.h>

#include "rpc/proto/json.h"

/* Is expr a filter: 0, or -1 with err ("invalid filter: ..."). */
int rpc_filter_check(const char *expr, char *err, size_t errlen);
/* The blocks of dump[0..n) (separated by empty lines) that expr keeps,
 * each followed by an empty line, appended to out: 0, or -1 with err. */
int rpc_filter_stacks(const char *expr, const char *dump, size_t n, struct gb *out, char *err,
		      size_t errlen);

#endif
