/* core/process/state.h - the process's life as one state machine, inside
 * core/process only.
 *
 *   NONE ──load/fork (socket on)──► DOOR (one thread: a doorman keeps the
 *    │                               │   endpoint, core/process/lazy.c)
 *    │                               │ client + safe point, long wait,
 *    │                               ▼ a thread, exit with a client
 *    └──load/fork (threads)──────► SERVICE (the service thread runs)
 *                                  │   ▲
 *                 unshare/setns    ▼   │ after the call (core/process/ns.c)
 *                                 PARKED
 *   DOOR, SERVICE ──exit──► CLOSED (endpoint gone; nothing starts again)
 *   any ──fork, in the child──► NONE, then as at load for a long-lived one
 *
 * Who writes what is beside each field. "[one]": the program's one thread
 * (or the thread the transition belongs to, with req_lock held). */
#ifndef GT_PROCESS_STATE_H
#define GT_PROCESS_STATE_H

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/base/lock.h"
#include "core/process/service.h"

enum gt_proc_state {
	GT_PROC_NONE,      /* no endpoint, no service thread */
	GT_PROC_DOOR,      /* a doorman keeps the endpoint */
	GT_PROC_SERVICE,   /* the service thread runs its loop */
	GT_PROC_PARKED,    /* the service thread left for unshare/setns */
	GT_PROC_CLOSED,    /* the endpoint closed at exit */
};

struct gt_proc {
	int state;                            /* enum gt_proc_state; [one], CLOSED under fd_lock */
	long pid;                             /* getpid(): init, fork's child */
	int ready;                            /* gt_init done: init */
	int long_lived;                       /* setsid/daemon/listen seen: fork.c, inherited */
	const struct gt_svc_client *client;   /* rpc/'s endpoint: set once before init */
	int client_ok;                        /* its start succeeded: loop.c, lazy.c */
	int client_started;                   /* its start ran (once per process) */
	/* Wake-ups: program threads write a byte to wake_fds[0], the loop
	 * reads wake_fds[1]. A parked service thread's fds travel the other
	 * way (core/process/fdtable.c). loop.c opens and closes them. */
	int wake_fds[2];
	pthread_t th;                         /* the service thread, joinable (ns.c joins it) */
	pid_t tid;                            /* atomic: its task, written by itself */
	/* The CPUs the main thread could run on at load: the service
	 * thread's, though a lazy start happens on a program thread that may
	 * have pinned itself since. init. */
	cpu_set_t load_cpus;
	int load_cpus_ok;
	/* preload/armed.c's safe-point arming, registered at load. */
	void (*arm_pre)(void), (*arm_on)(void), (*arm_off)(void);
};

extern struct gt_proc gt_proc;

/* A service thread exists (running, or parked with its state kept). */
static inline int gt_proc_alive(void)
{
	return gt_proc.state == GT_PROC_SERVICE || gt_proc.state == GT_PROC_PARKED;
}

/* loop.c: wake the loop (requests: waits for fd_lock; buffers: never). */
void gt_proc_wake(void);
void gt_proc_wake_buffers(void);
/* The wake pair: open (0 or -errno), close. */
int gt_proc_wake_open(void);
void gt_proc_wake_close(void);
/* Start the service thread from scratch (0 or -errno), or one that takes
 * over fds (a park's, a doorman's): 0 once it has them, -1. */
int gt_proc_service_start(void);
int gt_proc_spawn_taken(void);

/* lazy.c: the doorman handed the endpoint over: start the service thread.
 * The endpoint at load or fork: a doorman, else the service thread. */
void gt_proc_lazy_service(void);
int gt_proc_endpoint_start(void);

/* request.c: the mailbox. One request at a time: gt_req_lock is held by
 * the requester until done. */
enum gt_req_op { REQ_NONE, REQ_START, REQ_STOP, REQ_EXIT, REQ_SYNC, REQ_PARK, REQ_PROF_START,
		 REQ_PROF_STOP, REQ_EXEC };
extern struct gt_lock gt_req_lock;
/* On the loop: answer the request pending, if any; 1 when the service
 * thread is to end (REQ_PARK). */
int gt_request_handle(void);
/* The program's threads are all gone (gt_thread_orphaned): finish as at
 * exit, then end the process with status 0, as the last thread's exit
 * would have (the kernel reports its code: glibc's is 0; one a raw
 * SYS_exit gave is not known to us). Service thread. */
void gt_request_orphaned(void) __attribute__((noreturn));
/* With gt_req_lock held: 0, -1 (the answer's error in err), or -2 (timed
 * out: gt_req_lock must stay held, the service thread still owns req). */
int gt_request_call_locked(int op, const char *path, char *err, size_t errlen, int64_t timeout_ns);
/* The same, taking gt_req_lock: 0 or -1. */
int gt_request_call(int op, const char *path, char *err, size_t errlen, int64_t timeout_ns);
void gt_request_after_fork_child(void);

#endif
