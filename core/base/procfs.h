/* core/base/procfs.h - reading our own /proc files with raw system calls
 * only (no libc, no errno, no TLS): for the doorman's kick
 * (core/process/kick.c) and debug_stacks (core/prof/stacks.c). */
#ifndef GT_BASE_PROCFS_H
#define GT_BASE_PROCFS_H

#include <stdint.h>

/* path's text into buf (NUL-terminated, at most size - 1 bytes): its
 * length, or -1. */
long gt_raw_read_file(const char *path, char *buf, long size);
/* A hex number (an optional 0x, after spaces) at s into *v: the end of it
 * (s itself when there is none). */
const char *gt_scan_hex(const char *s, uint64_t *v);
/* A thread's /proc/self/task/TID/syscall at path, read into b: 1 when it
 * waits in a system call (its number in *nr; a[0..5] its arguments, a[6]
 * its sp, a[7] its pc), 0 when it runs or waits in none. */
int gt_proc_syscall(const char *path, char *b, long size, uint64_t *nr, uint64_t a[8]);

#endif
