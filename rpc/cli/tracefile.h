/* rpc/cli/tracefile.h - the trace file a running process writes
 * (rpc/cli/tracefile.c). */
#ifndef GT_RPC_TRACEFILE_H
#define GT_RPC_TRACEFILE_H

#include <stddef.h>

/* The path of the trace the process serving socket sock is writing: 0, or
 * -1 when it cannot be told (no trace; the service thread shares the
 * program's fd table, so the file is not the only one written; /proc
 * refused). */
int gt_trace_file_of(const char *sock, char *out, size_t size);

#endif
