/* rpc/cli/convert.h - `gotrace convert` (rpc/cli/convert.c). */
#ifndef GT_CONVERT_H
#define GT_CONVERT_H

/* Exit statuses as gotrace's; usage(why) prints the usage, returns 2. */
int gt_cmd_convert(int argc, char **argv, int (*usage)(const char *));

#endif
