/* rpc/cli/run.c - `gotrace run` (a program traced from start to end: the
 * checks first, rpc/cli/prog.c; the library preloaded; its trace repaired when
 * a signal cut it; the one-line summary) and `gotrace repair`. */
#include "rpc/cli/run.h"

#include <errno.h>
#include <time.h>
#include <sys/prctl.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/config.h"
#include "core/format/repair.h"
#include "core/format/summary.h"
#include "rpc/cli/client.h"
#include "rpc/cli/prog.h"
#include "rpc/cli/summary.h"
#include "rpc/cli/tracefile.h"

/* The library: GOTRACE_LIB, else next to this program (build tree), else
 * the installed layout (bin/../lib[/<triplet>]). */
static int find_lib(char *out, size_t size)
{
	static const char *rel[] = { "libgotrace.so", "../lib/libgotrace.so",
				     "../lib/x86_64-linux-gnu/libgotrace.so",
				     "../lib64/libgotrace.so", NULL };
	const char *env = getenv("GOTRACE_LIB");
	char self[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(out, size, "%s", env);
		return access(out, R_OK);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	for (int i = 0; rel[i]; i++) {
		int n = snprintf(out, size, "%s/%s", self, rel[i]);
		if (n > 0 && (size_t)n < size && access(out, R_OK) == 0)
			return 0;
	}
	return -1;
}

static void summary(const char *path, int show)
{
	struct gt_summary s;
	char err[GT_PATH_MAX + 128];

	if (gt_trace_file_minor(path) >= 22) {
		gt_trace_no_summary(stderr, path);
		fprintf(stderr, "open it with: gotrace view %s (Go 1.22 or later)\n", path);
		return;
	}
	if (gt_summary_read(path, &s, err, sizeof(err))) {
		fprintf(stderr, "gotrace: no readable trace: %s\n", err);
		return;
	}
	fprintf(stderr, "gotrace: %s: %llu thread%s, %llu events, %llu stacks, %.1f s, %.1f MB%s%s\n",
		path, (unsigned long long)s.goroutines, s.goroutines == 1 ? "" : "s", (unsigned long long)s.events,
		(unsigned long long)s.stacks, (double)s.duration_ns / 1e9, (double)s.bytes / 1e6,
		s.waits ? ", threads waited for the writer (GOTRACE_BUFFER_MB)" : "",
		s.complete ? "" : ", INCOMPLETE (try gotrace repair)");
	if (show) {
		fputc('\n', stderr);
		gt_summary_print(stderr, path, 3, 10);
		fputc('\n', stderr);
	}
	fprintf(stderr, "open it with: gotrace view %s\n", path);
}

/* Repair a trace cut by the death of its process, in place; say what. */
static void repair_cut(const char *path)
{
	struct gt_repair_stats st;
	char err[GT_PATH_MAX + 128];

	if (gt_repair(path, path, &st, err, sizeof(err)))
		fprintf(stderr, "gotrace: the trace was cut and could not be repaired: %s\n", err);
	else if (st.v2)   /* the writer ends each generation whole: usually nothing to cut */
		fprintf(stderr, "gotrace: the trace was cut; it has %llu whole generation%s (%llu of "
			"%llu bytes)%s\n", (unsigned long long)st.generations,
			st.generations == 1 ? "" : "s", (unsigned long long)st.valid_bytes,
			(unsigned long long)st.bytes, st.was_valid ? "" : ", the rest cut off");
	else if (!st.was_valid)
		fprintf(stderr, "gotrace: the trace was cut; repaired: kept %llu of %llu bytes "
			"(%llu events), %llu threads ended at the cut\n",
			(unsigned long long)st.valid_bytes, (unsigned long long)st.bytes,
			(unsigned long long)st.kept, (unsigned long long)st.closed);
}

/* run -f: a trace per process, base.PID. */
struct proc {
	long pid;
	int status;   /* -1: not ours to wait for (it exited before us, or a
		       * grandchild reaped by its own parent) */
};

static int by_pid(const void *a, const void *b)
{
	long x = ((const struct proc *)a)->pid, y = ((const struct proc *)b)->pid;
	return x < y ? -1 : x > y;
}

/* Wait for every process of the tree (as its subreaper), then list the
 * traces written since t0: base.PID, one line each, with the process. */
static int follow_end(const char *cmd, const char *base, pid_t first, const struct timespec *t0)
{
	struct proc *ps = NULL;
	size_t n = 0, cap = 0;
	int status, first_status = 0, pid;

	for (;;) {
		pid = waitpid(-1, &status, 0);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;
		if (pid == first)
			first_status = status;
		if (n == cap && !(ps = realloc(ps, (cap = cap ? 2 * cap : 64) * sizeof(*ps))))
			return 1;
		ps[n++] = (struct proc){ pid, status };
	}
	if (WIFSIGNALED(first_status))
		fprintf(stderr, "gotrace: %s killed by signal %d (%s)\n", cmd, WTERMSIG(first_status),
			strsignal(WTERMSIG(first_status)));
	/* The traces: base.PID written since we started (not an older run's). */
	char dir[GT_PATH_MAX], path[GT_PATH_MAX + 300];
	snprintf(dir, sizeof(dir), "%s", base);
	char *slash = strrchr(dir, '/');
	const char *stem = slash + 1;
	*slash = '\0';
	size_t sl = strlen(stem), nt = 0;
	struct proc *ts = NULL;
	DIR *d = opendir(*dir ? dir : "/");
	struct dirent *e;
	struct stat st;
	while (d && (e = readdir(d))) {
		char *end;
		if (strncmp(e->d_name, stem, sl) || e->d_name[sl] != '.')
			continue;
		long p = strtol(e->d_name + sl + 1, &end, 10);
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (*end || p <= 0 || stat(path, &st) || !S_ISREG(st.st_mode) ||
		    st.st_mtim.tv_sec < t0->tv_sec)
			continue;
		if (!(nt % 64) && !(ts = realloc(ts, (nt + 64) * sizeof(*ts))))
			break;
		ts[nt] = (struct proc){ p, -1 };
		for (size_t k = 0; k < n; k++)
			if (ps[k].pid == p)
				ts[nt].status = ps[k].status;
		nt++;
	}
	if (d)
		closedir(d);
	if (!nt)
		fprintf(stderr, "gotrace: no trace was written to %s.PID: the library did not load "
			"into %s nor its children\n", base, cmd);
	else
		fprintf(stderr, "gotrace: %zu process%s traced, a file each:\n", nt, nt > 1 ? "es" : "");
	qsort(ts, nt, sizeof(*ts), by_pid);
	for (size_t k = 0; k < nt; k++) {
		snprintf(path, sizeof(path), "%s.%ld", base, ts[k].pid);
		/* Killed, or reaped by a parent of its own (make's shells):
		 * any of those may have been cut. A whole trace is left as is. */
		if (ts[k].status == -1 || WIFSIGNALED(ts[k].status))
			repair_cut(path);
		gt_summary_line(stderr, path);
	}
	if (nt)
		fprintf(stderr, "open one with: gotrace view FILE; its waits: gotrace summary FILE\n");
	free(ps);
	free(ts);
	if (WIFSIGNALED(first_status))
		return 128 + WTERMSIG(first_status);
	return WEXITSTATUS(first_status);
}

int gt_cmd_run(int argc, char **argv, int (*usage)(const char *))
{
	const char *out = "gotrace.trace";
	char lib[PATH_MAX], abs[GT_PATH_MAX], pre[PATH_MAX * 2], file[GT_PATH_MAX + 8];
	int i = 2, status, follow = 0;
	const char *format = NULL;   /* GOTRACE_FORMAT in the child only */
	const char *cpu = NULL;      /* GOTRACE_CPU_FILE, likewise */
	char cpu_abs[GT_PATH_MAX], cpu_file[GT_PATH_MAX + 8];

	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "-ff"))
			follow = 1;
		else if (!strcmp(argv[i], "--format") && i + 1 < argc &&
			 (!strcmp(argv[i + 1], "go1.19") || !strcmp(argv[i + 1], "go1.22")))
			format = argv[++i];
		else if (!strcmp(argv[i], "--format"))
			return usage("--format go1.19 or go1.22");
		else if (!strcmp(argv[i], "--cpu") && i + 1 < argc)
			cpu = argv[++i];
		else if (!strcmp(argv[i], "--cpu"))
			return usage("--cpu needs a FILE");
		else if (argv[i][0] == '-') {
			char why[96];
			snprintf(why, sizeof(why), argv[i][1] == 'o' && !argv[i][2] ? "-o needs a FILE"
				 : "run: unknown option %s (the command goes after --)", argv[i]);
			return usage(why);
		}
		else
			break;
	}
	if (i >= argc)
		return usage("run: no command given");
	if (find_lib(lib, sizeof(lib))) {
		fprintf(stderr, "gotrace: libgotrace.so not found next to gotrace nor in "
			"../lib; set GOTRACE_LIB\n");
		return 1;
	}
	gt_client_absolute(out, abs, sizeof(abs));
	/* No silent non-traces: a program LD_PRELOAD cannot enter, or a file
	 * that cannot be written, is refused before it runs; an old trace of
	 * the same name is removed, so its summary is never taken for new. */
	char why[PATH_MAX + 160];
	struct stat ost;
	snprintf(file, sizeof(file), follow ? "%s.%%p" : "%s", abs);
	if (cpu) {
		gt_client_absolute(cpu, cpu_abs, sizeof(cpu_abs));
		snprintf(cpu_file, sizeof(cpu_file), follow ? "%s.%%p" : "%s", cpu_abs);
	}
	if (gt_prog_preloadable(argv[i], why, sizeof(why)) ||
	    gt_prog_writable(follow ? file : abs, why, sizeof(why)) ||
	    (cpu && gt_prog_writable(cpu_file, why, sizeof(why)))) {
		fprintf(stderr, "gotrace: %s\n", why);
		return 2;
	}
	if (cpu && !follow && stat(cpu_abs, &ost) == 0 && S_ISREG(ost.st_mode) && unlink(cpu_abs)) {
		fprintf(stderr, "gotrace: cannot replace %s: %s; not run\n", cpu_abs,
			strerror(errno));
		return 2;
	}
	if (!follow && stat(abs, &ost) == 0 && S_ISREG(ost.st_mode) && unlink(abs)) {
		fprintf(stderr, "gotrace: cannot replace %s: %s; not run\n", abs, strerror(errno));
		return 2;
	}
	const char *old = getenv("LD_PRELOAD");
	snprintf(pre, sizeof(pre), "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
	/* -f: orphans come to us (a daemon's second child, a backgrounded
	 * job), and we wait for every process of the tree, as strace -f. */
	if (follow && prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L))
		fprintf(stderr, "gotrace: PR_SET_CHILD_SUBREAPER: %s: orphaned processes are "
			"not waited for\n", strerror(errno));
	struct timespec t0;
	clock_gettime(CLOCK_REALTIME, &t0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "gotrace: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		/* The program's environment only: what we run after it (dpkg
		 * for the notes) must not load the library. */
		char me[24];
		snprintf(me, sizeof(me), "%ld", (long)getpid());
		setenv("LD_PRELOAD", pre, 1);
		setenv("GOTRACE_FILE", file, 1);
		if (format)
			setenv("GOTRACE_FORMAT", format, 1);
		if (cpu)
			setenv("GOTRACE_CPU_FILE", cpu_file, 1);
		if (!follow)   /* this process's trace, not its children's */
			setenv("GOTRACE_OWNER", me, 1);
		else
			unsetenv("GOTRACE_OWNER");
		execvp(argv[i], argv + i);
		fprintf(stderr, "gotrace: %s: %s\n", argv[i], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	/* ^C goes to the program; we wait for it to finish its trace. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	if (follow)
		return follow_end(argv[i], abs, pid, &t0);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFSIGNALED(status))
		fprintf(stderr, "gotrace: %s killed by signal %d (%s)\n", argv[i], WTERMSIG(status),
			strsignal(WTERMSIG(status)));
	struct stat sb;
	if (stat(abs, &sb)) {
		fprintf(stderr, "gotrace: no trace was written to %s: the library did not load into "
			"%s (it cleared LD_PRELOAD, or exec'd a static or setuid program?)\n", abs,
			argv[i]);
	} else if (!S_ISREG(sb.st_mode)) {
		/* a FIFO (its reader has the trace), a device: not read back */
		fprintf(stderr, "gotrace: the trace went to %s, not a regular file: no summary\n",
			abs);
	} else {
		/* A death by signal cuts the trace where the writer was: threads
		 * still running, the last batch half written. Go 1.19-1.22's
		 * viewer crashes on that; repair it here, as `gotrace repair`. */
		if (WIFSIGNALED(status))
			repair_cut(abs);
		summary(abs, 1);
	}
	struct stat cb;
	int have_cpu = cpu && !stat(cpu_abs, &cb) && (cb.st_size > 0 || !S_ISREG(cb.st_mode));
	if (have_cpu)
		fprintf(stderr, "gotrace: CPU profile written to %s; open it with: go tool pprof "
			"-http=: %s\n", cpu_abs, cpu_abs);
	else if (cpu)   /* (created at the start, empty until written at the end) */
		fprintf(stderr, "gotrace: no CPU profile was written to %s%s\n", cpu_abs,
			WIFSIGNALED(status) ? ": the program died before its end" : "");
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int gt_cmd_repair(int argc, char **argv, int (*usage)(const char *))
{
	char err[GT_PATH_MAX + 128];

	if (argc < 3 || argc > 4)
		return usage("repair needs FILE [OUT]");
	struct gt_repair_stats st;
	if (gt_repair(argv[2], argc == 4 ? argv[3] : argv[2], &st, err, sizeof(err))) {
		fprintf(stderr, "gotrace: %s\n", err);
		return 1;
	}
	if (st.was_valid)
		fprintf(stderr, "gotrace: %s was complete: nothing to repair\n", argv[2]);
	else if (st.v2)
		fprintf(stderr, "gotrace: kept %llu of %llu bytes: its %llu whole generation%s (Go "
			"reads no part of a cut one)\n", (unsigned long long)st.valid_bytes,
			(unsigned long long)st.bytes, (unsigned long long)st.generations,
			st.generations == 1 ? "" : "s");
	else
		fprintf(stderr, "gotrace: kept %llu of %llu bytes (%llu events); %llu threads "
			"ended at the cut\n", (unsigned long long)st.valid_bytes,
			(unsigned long long)st.bytes, (unsigned long long)st.kept,
			(unsigned long long)st.closed);
	summary(argc == 4 ? argv[3] : argv[2], 0);
	return 0;
}
