/* rpc/cli/cpu.h - `gotrace cpu`, `cpu-start`, `cpu-stop` (rpc/cli/cpu.c). */
#ifndef GT_CLI_CPU_H
#define GT_CLI_CPU_H

/* 1 when cmd is one of them. */
int gt_cmd_is_cpu(const char *cmd);
/* gotrace cpu PID|SOCK|URL FILE SECONDS, cpu-start PID|SOCK|URL FILE,
 * cpu-stop PID|SOCK|URL: the exit status; usage(why) prints the usage and
 * returns 2. */
int gt_cmd_cpu(int argc, char **argv, int (*usage)(const char *));

#endif
