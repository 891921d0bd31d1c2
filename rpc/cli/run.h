/* rpc/cli/run.h - `gotrace run` and `gotrace repair` (rpc/cli/run.c). */
#ifndef GT_RUN_H
#define GT_RUN_H

/* Exit statuses as gotrace's; usage(why) prints the usage, returns 2. */
int gt_cmd_run(int argc, char **argv, int (*usage)(const char *));
int gt_cmd_repair(int argc, char **argv, int (*usage)(const char *));

#endif
