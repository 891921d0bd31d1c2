/* rpc/cli/view.h - `gotrace view` (rpc/cli/view.c). */
#ifndef GT_VIEW_H
#define GT_VIEW_H

/* gotrace view FILE [--pprof KIND [--lines]] [--http ADDR]: exit status;
 * usage(why) prints the usage and returns 2. */
int gt_cmd_view(int argc, char **argv, int (*usage)(const char *));

#endif
