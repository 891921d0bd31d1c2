/* rpc/cli/tracefile.h - the trace file a running process writes, and a
 * trace file's format (rpc/cli/tracefile.c). */
#ifndef GT_RPC_TRACEFILE_H
#define GT_RPC_TRACEFILE_H

#include <stddef.h>
#include <stdio.h>

/* The path of the trace the process serving socket sock is writing: 0, or
 * -1 when it cannot be told (no trace; the service thread shares the
 * program's fd table, so the file is not the only one written; /proc
 * refused). */
int gt_trace_file_of(const char *sock, char *out, size_t size);

/* The format of the trace in path, by its header: 19 (Go 1.19's), 22 (or
 * later: "go 1.N trace"), 0 (no trace, or unreadable). */
int gt_trace_file_minor(const char *path);
/* The one line `run`, `stop`, `trace` and `summary` print for a 1.22-format
 * trace instead of a summary (it reads the 1.19 format only). */
void gt_trace_no_summary(FILE *f, const char *path);

#endif
