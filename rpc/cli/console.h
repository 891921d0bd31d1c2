/* rpc/cli/console.h - `gotrace attach` (rpc/cli/console.c): geth's console
 * on an endpoint, as `geth attach` is on geth's IPC or HTTP. */
#ifndef GT_CONSOLE_H
#define GT_CONSOLE_H

/* gotrace attach PID|SOCK|URL [--exec STMT]. Exit statuses as gotrace's;
 * usage(why) prints the usage, returns 2. */
int gt_cmd_attach(int argc, char **argv, int (*usage)(const char *));

#endif
