/* rpc/cli/summary.h - `gotrace summary` (rpc/summary.c). */
#ifndef GT_SUMMARY_CMD_H
#define GT_SUMMARY_CMD_H

#include <stddef.h>
#include <stdio.h>

/* gotrace summary FILE [--json] [--top N]: exit status; usage(why) prints
 * the usage and returns 2. */
int gt_cmd_summary(int argc, char **argv, int (*usage)(const char *));

/* The summary of FILE in text to f (top call sites per category, rows
 * threads at most): what `gotrace run`, `trace` and `stop` print on
 * stderr at the end. 0, or -1 with the reason printed to f. */
int gt_summary_print(FILE *f, const char *file, int top, size_t rows);
/* Two lines of FILE: the file and its process, its duration, threads and
 * total waits per category (`gotrace run -f`'s list). */
int gt_summary_line(FILE *f, const char *file);

#endif
