/* rpc/cli/run.c - `gotrace run` (a program traced from start to end: the
 * checks first, rpc/cli/prog.c; the library preloaded; its trace repaired when
 * a signal cut it; the one-line summary) and `gotrace repair`. */
#include "rpc/cli/run.h"

#include <errno.h>
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

static void summary(const char *path)
{
	struct gt_summary s;
	char err[GT_PATH_MAX + 128];

	if (gt_summary_read(path, &s, err, sizeof(err))) {
		fprintf(stderr, "gotrace: no readable trace: %s\n", err);
		return;
	}
	fprintf(stderr, "gotrace: %s: %llu threads, %llu events, %llu stacks, %.1f s, %.1f MB%s%s\n",
		path, (unsigned long long)s.goroutines, (unsigned long long)s.events,
		(unsigned long long)s.stacks, (double)s.duration_ns / 1e9, (double)s.bytes / 1e6,
		s.waits ? ", threads waited for the writer (GOTRACE_BUFFER_MB)" : "",
		s.complete ? "" : ", INCOMPLETE (try gotrace repair)");
	fprintf(stderr, "open it with: gotrace view %s\n", path);
}

/* Repair a trace cut by the death of its process, in place; say what. */
static void repair_cut(const char *path)
{
	struct gt_repair_stats st;
	char err[GT_PATH_MAX + 128];

	if (gt_repair(path, path, &st, err, sizeof(err)))
		fprintf(stderr, "gotrace: the trace was cut and could not be repaired: %s\n", err);
	else if (!st.was_valid)
		fprintf(stderr, "gotrace: the trace was cut; repaired: kept %llu of %llu bytes "
			"(%llu events), %llu threads ended at the cut\n",
			(unsigned long long)st.valid_bytes, (unsigned long long)st.bytes,
			(unsigned long long)st.kept, (unsigned long long)st.closed);
}

int gt_cmd_run(int argc, char **argv, int (*usage)(const char *))
{
	const char *out = "gotrace.trace";
	char lib[PATH_MAX], abs[GT_PATH_MAX], pre[PATH_MAX * 2];
	int i = 2, status;

	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
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
	if (gt_prog_preloadable(argv[i], why, sizeof(why)) ||
	    gt_prog_writable(abs, why, sizeof(why))) {
		fprintf(stderr, "gotrace: %s\n", why);
		return 2;
	}
	struct stat ost;
	if (stat(abs, &ost) == 0 && S_ISREG(ost.st_mode) && unlink(abs)) {
		fprintf(stderr, "gotrace: cannot replace %s: %s; not run\n", abs, strerror(errno));
		return 2;
	}
	const char *old = getenv("LD_PRELOAD");
	snprintf(pre, sizeof(pre), "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
	setenv("LD_PRELOAD", pre, 1);
	setenv("GOTRACE_FILE", abs, 1);
	unsetenv("GOTRACE_OWNER");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "gotrace: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		char me[24];
		snprintf(me, sizeof(me), "%ld", (long)getpid());
		setenv("GOTRACE_OWNER", me, 1);   /* this process's trace, not its children's */
		execvp(argv[i], argv + i);
		fprintf(stderr, "gotrace: %s: %s\n", argv[i], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	/* ^C goes to the program; we wait for it to finish its trace. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFSIGNALED(status))
		fprintf(stderr, "gotrace: %s killed by signal %d (%s)\n", argv[i], WTERMSIG(status),
			strsignal(WTERMSIG(status)));
	if (access(abs, F_OK)) {
		fprintf(stderr, "gotrace: no trace was written to %s: the library did not load into "
			"%s (it cleared LD_PRELOAD, or exec'd a static or setuid program?)\n", abs,
			argv[i]);
	} else {
		/* A death by signal cuts the trace where the writer was: threads
		 * still running, the last batch half written. Go 1.19-1.22's
		 * viewer crashes on that; repair it here, as `gotrace repair`. */
		if (WIFSIGNALED(status))
			repair_cut(abs);
		summary(abs);
	}
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
	else
		fprintf(stderr, "gotrace: kept %llu of %llu bytes (%llu events); %llu threads "
			"ended at the cut\n", (unsigned long long)st.valid_bytes,
			(unsigned long long)st.bytes, (unsigned long long)st.kept,
			(unsigned long long)st.closed);
	summary(argc == 4 ? argv[3] : argv[2]);
	return 0;
}
