/* core/base/config.h - every GOTRACE_* environment variable, read once at load
 * (core/base/config.c) into this table. Written by gt_config_load before any
 * other tracer thread exists; read-only afterwards. */
#ifndef GT_CONFIG_H
#define GT_CONFIG_H

#include <stdint.h>

#include "core/base/visibility.h"

/* GOTRACE_UNWIND: auto (frame records where known exact, else libunwind),
 * libunwind, fp (frame records only). */
enum { GT_UNWIND_AUTO, GT_UNWIND_LIBUNWIND, GT_UNWIND_FP };

/* GOTRACE_HOOK_RETURN: how an idle blocking hook's thunk reaches the real
 * function (preload/hook.h): auto (jump where the kernel clears the
 * return predictor at each system call, else call), call, jump. */
enum { GT_HOOK_RETURN_AUTO, GT_HOOK_RETURN_CALL, GT_HOOK_RETURN_JUMP };

/* GOTRACE_FORMAT: the trace file's format (README, Environment). */
enum { GT_FORMAT_GO119, GT_FORMAT_GO122 };

#define GT_PATH_MAX 4096

/* The strings point into one small pool (or at ""), so that loading the
 * table writes only the pages it needs: this runs in every process. */
struct gt_config {
	const char *file;        /* GOTRACE_FILE: trace from load to exit ("" = no) */
	int file_has_pid;        /* it holds %p */
	const char *cpu_file;    /* GOTRACE_CPU_FILE: CPU profile from load to exit ("" = no) */
	int cpu_file_has_pid;
	long owner;              /* GOTRACE_OWNER: pid that owns a %p-less file (0 unset) */
	const char *socket;      /* GOTRACE_SOCKET ("" = default path) */
	int socket_off;          /* GOTRACE_SOCKET=off */
	const char *http;        /* GOTRACE_HTTP: loopback host:port ("" = no) */
	const char *http_vhosts; /* GOTRACE_HTTP_VHOSTS: Host names served (geth's
				  * --http.vhosts; default "localhost", "*" any) */
	const char *http_cors;   /* GOTRACE_HTTP_CORS: Origins served (geth's
				  * --http.corsdomain; default none, "*" any) */
	uint64_t block_ns;       /* GOTRACE_BLOCK_NS: shortest wait recorded */
	uint64_t buffer_bytes;   /* GOTRACE_BUFFER_MB: cap on trace buffers */
	unsigned stack_depth;    /* GOTRACE_STACK_DEPTH: frames per stack, <= 64 */
	int unwind;              /* GOTRACE_UNWIND: GT_UNWIND_* */
	int format;              /* GOTRACE_FORMAT: GT_FORMAT_* (go1.19 default) */
	unsigned gen_ms;         /* GOTRACE_GEN_MS: a 1.22 trace's generation, ms */
	uint64_t malloc_log_bytes; /* GOTRACE_MALLOC_LOG: log allocations this big */
	int debug;               /* GOTRACE_DEBUG: extra messages on stderr */
	unsigned rpc_idle_ms;    /* GOTRACE_RPC_IDLE_MS: idle connections close */
	unsigned rpc_max_conns;  /* GOTRACE_RPC_MAX_CONNS: open connections at most */
	int64_t mem_rate;        /* GOTRACE_MEMPROFILE_RATE: heap profile bytes per
				  * sample, sampling from load; 0 never; -1 unset:
				  * from the first debug_writeMemProfile (core/prof/) */
	unsigned cpu_hz;         /* GOTRACE_CPU_HZ: CPU profile samples per second of
				  * a thread's CPU time (core/prof/) */
	int hook_return;         /* GOTRACE_HOOK_RETURN: GT_HOOK_RETURN_* */
	int lazy;                /* GOTRACE_LAZY=1: a one-thread program's service
				  * thread waits for a client (core/process/door.c) */
	/* Under valgrind (its preload in LD_PRELOAD), which names the files a
	 * thread maps through /proc/self/fd, the program's fd table, and warns
	 * about pidfd_open: the service thread then shares that table. */
	int valgrind;
	const char *runtime_dir; /* XDG_RUNTIME_DIR at load ("" = unset) */
	const char *home;        /* HOME at load, for "~/" in trace file names */
	const char *cache_home;  /* XDG_CACHE_HOME at load ("" = unset) */
	const char *debug_cache; /* GOTRACE_DEBUG_CACHE: inflated debug files'
				  * directory, "off" for none ("" = default,
				  * core/write/debugcache.c) */
};

extern struct gt_config gt_cfg GT_HIDDEN;

/* Fill gt_cfg from the environment; bad values are reported ("gotrace:
 * GOTRACE_BUFFER_MB=x: not a number, using 64") and replaced by defaults. */
void gt_config_load(void);
/* GOTRACE_DEBUG as gt_config_load reads it, for code that runs before it
 * (gt_real_init), which says nothing of a bad value: the load does. */
int gt_config_debug(void);

/* Expand %p (pid) and %% in pattern into out. 0, or -ENAMETOOLONG. */
int gt_config_expand(const char *pattern, long pid, char *out, unsigned size);

#endif
