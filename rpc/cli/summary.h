/* rpc/cli/summary.h - `gotrace summary` (rpc/summary.c). */
#ifndef GT_SUMMARY_CMD_H
#define GT_SUMMARY_CMD_H

/* gotrace summary FILE [--json] [--top N]: exit status; usage(why) prints
 * the usage and returns 2. */
int gt_cmd_summary(int argc, char **argv, int (*usage)(const char *));

#endif
