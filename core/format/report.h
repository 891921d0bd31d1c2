/* core/format/report.h - the waits of a trace, as `strace -c` counts syscalls: per
 * category (syscall, net, sync, sleep) the call sites by total wait, per
 * thread its waits, the heap's peak and end. Waits are measured as Go 1.19's
 * `go tool trace -pprof` measures them (a block event to the unblock that
 * links to it; a syscall from GoSysCall to its GoSysExit), so the totals
 * agree with Go's profiles. Client side (malloc). */
#ifndef GT_REPORT_H
#define GT_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/format/events.h"

enum { GT_CAT_SYSCALL, GT_CAT_NET, GT_CAT_SYNC, GT_CAT_SLEEP, GT_CATS };
extern const char *const gt_cat_name[GT_CATS];   /* "syscall", "net", ... */

struct gt_site {
	unsigned cat;
	char call[128];    /* the innermost frame: the call that waited ("read") */
	char where[384];   /* its caller: "worker_main demo_server.c:88" */
	uint64_t count, total_ns, max_ns;
};

struct gt_rthread {
	uint64_t g;
	char name[128];    /* start routine, and the thread's label when set */
	uint64_t life_ns;  /* first event to its end (or the trace's end) */
	/* Its waits, those still open at the trace's end included (to the
	 * end: the totals and sites, as Go's profiles, count closed ones). */
	uint64_t wait_ns[GT_CATS];
	uint64_t before_ns;   /* in a wait begun before the trace, kind unknown */
};

struct gt_report {
	uint64_t duration_ns;
	uint64_t count[GT_CATS], total_ns[GT_CATS];
	struct gt_site *sites;   /* by total_ns, largest first */
	size_t nsites;
	struct gt_rthread *threads;   /* by goroutine id */
	size_t nthreads;
	uint64_t heap_peak, heap_final;
	char process[GT_PROCESS_MAX + 1];   /* "pid 1234: ./app arg..." or "" */
	char *notes;       /* the writer's notes (GT_STR_NOTES), a line each; NULL: none */
	int ordered;   /* 0: the file did not order whole (a cut trace): figures of its prefix */
};

/* 0, or -1 with err. gt_report_free after. */
int gt_report_read(const char *path, struct gt_report *r, char *err, size_t errlen);
void gt_report_free(struct gt_report *r);

#endif
