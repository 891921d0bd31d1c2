/* core/process/init.c - library load: configuration, the main thread,
 * the endpoint, and GOTRACE_FILE's trace, which one process owns. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/single_threaded.h>
#include <time.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/fdguard.h"
#include "core/base/lock.h"
#include "core/base/log.h"
#include "core/base/sys.h"
#include "core/base/urcu.h"
#include "core/process/api.h"
#include "core/process/state.h"
#include "core/record/api.h"
#include "core/process/fatal.h"
#include "core/process/request.h"
#include "core/process/solo.h"
#include "core/prof/prof.h"
#include "core/record/buf.h"
#include "core/record/emit.h"
#include "core/record/stack.h"
#include "core/record/thread.h"
#include "core/write/ctl.h"
#include "core/write/writer.h"

void gt_proc_fork_prepare(void);
void gt_proc_fork_parent(void);
void gt_proc_fork_child(void);

/* GOTRACE_FILE (GOTRACE_CPU_FILE): which file this process traces
 * (profiles) into, if any. A name without %p belongs to one process
 * (GOTRACE_OWNER, else the first to load us, which then claims it), so
 * children inheriting LD_PRELOAD do not overwrite it; with %p every process
 * has its own. */
static int own_file(const char *name, int has_pid, const char *var, char *out, size_t size)
{
	if (!name[0])
		return 0;
	if (!has_pid) {
		if (gt_cfg.owner && gt_cfg.owner != gt_proc.pid)
			return 0;
		if (!gt_cfg.owner) {
			char pid[24];
			gt_fmt(pid, sizeof(pid), "%ld", gt_proc.pid);
			setenv("GOTRACE_OWNER", pid, 1);
		}
	}
	if (gt_config_expand(name, gt_proc.pid, out, (unsigned)size)) {
		gt_log("%s=%s: name too long", var, name);
		return 0;
	}
	return 1;
}

/* A relative GOTRACE_FILE (or GOTRACE_CPU_FILE) names a file in the
 * directory the process starts in: it is made absolute here, in our
 * configuration and in the environment that children and exec'd images
 * inherit. An image exec'd after a chdir opened one relative to its own
 * directory instead, splitting the trace in two files. */
static void absolute(const char **name, const char *var, char entry[GT_PATH_MAX + 32])
{
	extern char **environ;
	char cwd[GT_PATH_MAX];
	size_t vl = strlen(var);

	if (!(*name)[0] || (*name)[0] == '/' || ((*name)[0] == '~' && (*name)[1] == '/') ||
	    !getcwd(cwd, sizeof(cwd)) || strlen(cwd) + 1 + strlen(*name) >= GT_PATH_MAX)
		return;
	gt_fmt(entry, GT_PATH_MAX + 32, "%s=%s/%s", var, cwd, *name);
	*name = entry + vl + 1;
	/* The entry itself, as libc's setenv replaces it: the program's own
	 * setenv (bash has one) may keep it elsewhere. Before main, environ
	 * is main's envp. */
	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, var, vl) && (*e)[vl] == '=') {
			*e = entry;
			return;
		}
}

void gt_init(void)
{
	struct gt_tls *tls = &gt_tls;
	static char path[GT_PATH_MAX] GT_COLD_BSS, cpu_path[GT_PATH_MAX] GT_COLD_BSS;
	char err[512];

	if (gt_proc.ready)
		return;
	tls->in_tracer++;
	gt_proc.pid = getpid();
	gt_proc.load_cpus_ok = sched_getaffinity(0, sizeof(gt_proc.load_cpus), &gt_proc.load_cpus) == 0;
	gt_config_load();
	gt_solo_init();
#ifdef GT_OP_THUNKS
	gt_op_thunk_init();
#endif
	gt_thread_init_main();
	gt_stack_thread_init(0);
	if (gt_stack_init())
		gt_log("stack table unavailable: events have no stacks");
	gt_emit_set_drain(gt_writer_drain);
	gt_ctl_set_observer(gt_fatal_arm, gt_fatal_update);
	gt_thread_set_observer(gt_prof_thread_started, gt_prof_thread_exiting);
	gt_stack_set_peeker(gt_prof_peek_record);
	gt_prof_set_dying(gt_fatal_finish);
	gt_lock_set_orphaned(gt_buf_orphaned);
	gt_ctl_set_sampler(gt_prof_drain);
	gt_buf_set_waker(gt_proc_wake_buffers);
	pthread_atfork(gt_proc_fork_prepare, gt_proc_fork_parent, gt_proc_fork_child);
	on_exit(gt_exit_on, NULL);
	at_quick_exit(gt_exit_prepare);   /* (quick_exit's _exit is libc's own call) */
	if (gt_cfg.socket_off && gt_cfg.http[0])
		gt_log("GOTRACE_HTTP=%s: no HTTP endpoint: GOTRACE_SOCKET=off turns the whole "
		       "endpoint off", gt_cfg.http);
	static char abs_file[GT_PATH_MAX + 32] GT_COLD_BSS, abs_cpu[GT_PATH_MAX + 32] GT_COLD_BSS;
	absolute(&gt_cfg.file, "GOTRACE_FILE", abs_file);
	absolute(&gt_cfg.cpu_file, "GOTRACE_CPU_FILE", abs_cpu);
	int file = own_file(gt_cfg.file, gt_cfg.file_has_pid, "GOTRACE_FILE", path, sizeof(path));
	int cpu = own_file(gt_cfg.cpu_file, gt_cfg.cpu_file_has_pid, "GOTRACE_CPU_FILE", cpu_path,
			   sizeof(cpu_path));
	/* liburcu-bp registers the process for membarrier as it loads; with
	 * a second task in it (the service thread, the doorman) the kernel
	 * waits for a grace period there (synchronize_rcu: 10-13 ms here), with
	 * one it does not. So what starts now loads it while the program has
	 * one thread, before the first task of ours. */
	if (file || gt_cfg.mem_rate > 0)
		gt_urcu_load();
	if (file || cpu ? gt_proc_service_start() : !gt_cfg.socket_off && gt_proc_endpoint_start())
		gt_log("cannot start the service thread: tracing disabled");
	gt_proc.ready = 1;
	gt_hook_ready();
	if (file && gt_proc.state == GT_PROC_SERVICE) {
		if (gt_ctl_prepare(err, sizeof(err)) || gt_request_start(path, err, sizeof(err)))
			gt_log("%s", err);
	}
	if (gt_cfg.mem_rate > 0 && gt_prof_mem_start(gt_cfg.mem_rate, err, sizeof(err)))
		gt_log("GOTRACE_MEMPROFILE_RATE=%lld: %s", (long long)gt_cfg.mem_rate, err);
	if (cpu && gt_proc.state == GT_PROC_SERVICE) {
		gt_stack_prepare_signal();   /* its dlopen here: we hold the loader's lock */
		if (gt_request_call(REQ_PROF_START, cpu_path, err, sizeof(err), -1))
			gt_log("%s", err);
	}
	tls->in_tracer--;
	/* The main thread runs from now on: show it so right away. */
	if (file && gt_trace_on && tls->t) {
		tls->in_tracer++;
		gt_lock(&tls->t->lock);
		gt_emit_enter_locked(tls->t, gt_trace_on, gt_clock_now());
		gt_unlock(&tls->t->lock);
		tls->in_tracer--;
	}
}
