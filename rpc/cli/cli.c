/* rpc/cli/cli.c - the `gotrace` command: its usage and dispatch, and the calls
 * to a running program's endpoint (ps, start, stop, trace, call, attach).
 * run and repair: rpc/cli/run.c; view: rpc/cli/view.c; summary: rpc/summary.c;
 * convert (to Go's 1.22 format): rpc/cli/convert.c;
 * attach: rpc/cli/console.c; the call itself: rpc/cli/call.c.
 * Exit status: 0 success, 1 an RPC or run-time error (message on stderr),
 * 2 a usage error. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "core/base/config.h"
#include "rpc/cli/client.h"
#include "rpc/cli/console.h"
#include "rpc/cli/cpu.h"
#include "rpc/cli/convert.h"
#include "rpc/cli/run.h"
#include "rpc/cli/summary.h"
#include "rpc/cli/tracefile.h"
#include "rpc/cli/view.h"

static const char usage_text[] =
	"usage: gotrace run [-f] [-o FILE] [--format go1.19|go1.22] [--cpu PROF] [--] CMD [ARGS...]\n"
	"                                                  trace CMD from start to end; -f: every\n"
	"                                                  process it runs, FILE.PID each; --cpu:\n"
	"                                                  a CPU profile of the run too, into PROF\n"
	"       gotrace ps                                 list live endpoints\n"
	"       gotrace start PID|SOCK|URL FILE            debug_startGoTrace(FILE)\n"
	"       gotrace stop PID|SOCK|URL                  debug_stopGoTrace()\n"
	"       gotrace trace PID|SOCK|URL FILE SECONDS    debug_goTrace(FILE, SECONDS)\n"
	"       gotrace cpu PID|SOCK|URL FILE SECONDS      debug_cpuProfile(FILE, SECONDS): a pprof\n"
	"                                                  CPU profile (go tool pprof reads it)\n"
	"       gotrace cpu-start PID|SOCK|URL FILE        debug_startCPUProfile(FILE)\n"
	"       gotrace cpu-stop PID|SOCK|URL              debug_stopCPUProfile()\n"
	"       gotrace block PID|SOCK|URL FILE SECONDS    debug_blockProfile(FILE, SECONDS): where\n"
	"                                                  threads waited, each blocking call\n"
	"       gotrace mutex PID|SOCK|URL FILE SECONDS    debug_mutexProfile(FILE, SECONDS): the\n"
	"                                                  contended locks' waits\n"
	"       gotrace heap PID|SOCK|URL FILE             debug_writeMemProfile(FILE): what holds\n"
	"                                                  the heap (sampling starts at the first)\n"
	"       gotrace stacks PID|SOCK|URL [FILTER]       debug_stacks(FILTER): every thread's state\n"
	"                                                  and stack, as Go's goroutine dump; FILTER:\n"
	"                                                  words with && || ! ( ), as geth's\n"
	"       gotrace call PID|SOCK|URL METHOD [JSON-PARAMS]\n"
	"                                                  any method; prints the result\n"
	"       gotrace attach PID|SOCK|URL [--exec STMT]  console: debug.goTrace(\"f\", 5),\n"
	"                                                  rpc.modules; history: ~/.gotrace_history\n"
	"                                                  URL: http://HOST:PORT, its GOTRACE_HTTP\n"
	"       gotrace repair FILE [OUT]                  make a cut-off trace readable\n"
	"       gotrace view FILE [--pprof KIND [--lines]]  open FILE in Go's viewer (the newest\n"
	"                                                  Go found); KIND: sync net syscall sched\n"
	"       gotrace summary FILE [--json] [--top N]    where the threads waited, as strace -c\n"
	"       gotrace convert IN OUT [--gen SECONDS]     IN in Go's 1.22 format (Go 1.22+ read\n"
	"                                                  it); a generation every SECONDS (1)\n"
	"       gotrace help [CMD] | CMD --help | --version\n";

/* The usage lines of one command ("gotrace help run", "gotrace run --help"):
 * 1 when cmd is one. */
static int help_for(const char *cmd, FILE *f)
{
	char key[32];
	int found = 0, in = 0;

	snprintf(key, sizeof(key), "gotrace %s ", cmd);
	for (const char *l = usage_text; *l;) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l) + 1 : strlen(l);
		const char *g = strstr(l, "gotrace ");
		if (g && g < l + n)   /* a command's first line; its continuation lines follow */
			in = !strncmp(g, key, strlen(key));
		if (in) {
			fwrite(l, 1, n, f);
			found = 1;
		}
		l += n;
	}
	return found;
}

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "gotrace: %s\n", why);
	fputs(usage_text, stderr);
	return 2;
}


/* Call and report (rpc/cli/call.c): 0 ok (result printed when print), 1
 * error, 2 a target refused. */
static int rpc(const char *target, const char *method, const char *params, int print,
	       int wait_s)
{
	return gt_client_report(target, method, params, print, wait_s);
}

static void file_param(struct gb *p, const char *file)
{
	char abs[GT_PATH_MAX];

	gt_client_absolute(file, abs, sizeof(abs));
	gb_puts(p, "[");
	gb_jstr(p, abs, strlen(abs));
}

/* After a trace: its summary on stderr (strace -c's place), when it is a
 * file this machine can read (not a FIFO: its reader has it), and how to
 * open it. */
static void end_summary(const char *file)
{
	struct stat st;

	if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && access(file, R_OK) == 0) {
		int v2 = gt_trace_file_minor(file) >= 22;   /* one line: no summary */
		if (!v2)
			fputc('\n', stderr);
		gt_summary_print(stderr, file, 3, 10);
		if (!v2)
			fputc('\n', stderr);
		fprintf(stderr, "open it with: gotrace view %s\n", file);
	}
}

static int cmd_file(int argc, char **argv, const char *method, int with_secs)
{
	struct gb p = { 0 };
	int r;

	if (argc != (with_secs ? 5 : 4))
		return usage(with_secs ? "trace needs PID|SOCK|URL FILE SECONDS"
				 : "start needs PID|SOCK|URL FILE");
	if (with_secs && !gt_client_seconds_ok(argv[4]))
		return usage("SECONDS must be a whole number, at most 18446744073709551615");
	file_param(&p, argv[3]);
	if (with_secs)   /* as a JSON number: "010" is not one */
		gb_printf(&p, ",%llu", strtoull(argv[4], NULL, 10));
	gb_puts(&p, "]");
	long secs = with_secs ? strtol(argv[4], NULL, 10) : 0;
	r = rpc(argv[2], method, p.p, 0, secs > INT_MAX ? INT_MAX : (int)secs);
	if (!r) {
		char abs[GT_PATH_MAX];
		gt_client_absolute(argv[3], abs, sizeof(abs));
		if (with_secs) {
			fprintf(stderr, "gotrace: trace written to %s\n", abs);
			end_summary(abs);
		} else
			fprintf(stderr, "gotrace: tracing into %s; end it with: gotrace stop %s\n",
				abs, argv[2]);
	}
	gb_free(&p);
	return r;
}

static int cmd_call(int argc, char **argv)
{
	struct gj_doc d;
	char err[128];

	if (argc < 4 || argc > 5)
		return usage("call needs PID|SOCK|URL METHOD [JSON-PARAMS]");
	struct gb p = { 0 };
	if (argc == 5) {
		int bad = gj_parse(&d, argv[4], strlen(argv[4]), err, sizeof(err));
		char name[GT_PATH_MAX], abs[GT_PATH_MAX];
		/* A file first, relative: the client's, as everywhere else. */
		if (!bad && d.t[0].type == GJ_ARR && d.n > 1 && d.t[1].type == GJ_STR &&
		    gt_client_file_method(argv[3]) && gj_str(&d, 1, name, sizeof(name)) > 0 &&
		    name[0] != '/' && !(name[0] == '~' && name[1] == '/')) {
			gt_client_absolute(name, abs, sizeof(abs));
			gb_puts(&p, "[");
			gb_jstr(&p, abs, strlen(abs));
			gb_puts(&p, argv[4] + d.t[1].end);
		}
		gj_free(&d);
		if (bad) {
			fprintf(stderr, "gotrace: JSON-PARAMS: %s\n", err);
			return 2;
		}
	}
	int r = rpc(argv[2], argv[3], p.len ? p.p : argc == 5 ? argv[4] : "[]", 1, -1);
	gb_free(&p);
	return r;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	if (!strcmp(c, "--version") || !strcmp(c, "version")) {
		printf("gotrace %s (traces in Go's 1.19 or 1.22 execution-trace format)\n", GT_VERSION);
		return 0;
	}
	if (!strcmp(c, "help") && argc == 3) {
		if (help_for(argv[2], stdout))
			return 0;
		fprintf(stderr, "gotrace: help: no command %s\n", argv[2]);
		return usage(NULL);
	}
	if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")) &&
	    help_for(c, stdout))
		return 0;

	if (!strcmp(c, "run"))
		return gt_cmd_run(argc, argv, usage);
	if (!strcmp(c, "ps"))
		return argc == 2 ? (gt_client_ps(), 0) : usage("ps takes no arguments");
	if (!strcmp(c, "start"))
		return cmd_file(argc, argv, "debug_startGoTrace", 0);
	if (!strcmp(c, "stop")) {
		if (argc != 3)
			return usage("stop needs PID|SOCK|URL");
		char sock[GT_PATH_MAX], err[GT_PATH_MAX + 128], file[4096];
		int known = gt_client_resolve(argv[2], sock, sizeof(sock), err, sizeof(err)) == 0 &&
			    gt_trace_file_of(sock, file, sizeof(file)) == 0;
		int r = rpc(argv[2], "debug_stopGoTrace", "[]", 0, 0);
		if (!r && known) {
			fprintf(stderr, "gotrace: trace stopped, written to %s\n", file);
			end_summary(file);
		} else if (!r) {
			fprintf(stderr, "gotrace: trace stopped and complete on disk\n");
		}
		return r;
	}
	if (!strcmp(c, "trace"))
		return cmd_file(argc, argv, "debug_goTrace", 1);
	if (!strcmp(c, "call"))
		return cmd_call(argc, argv);
	if (gt_cmd_is_cpu(c))
		return gt_cmd_cpu(argc, argv, usage);
	if (!strcmp(c, "attach"))
		return gt_cmd_attach(argc, argv, usage);
	if (!strcmp(c, "repair"))
		return gt_cmd_repair(argc, argv, usage);
	if (!strcmp(c, "view"))
		return gt_cmd_view(argc, argv, usage);
	if (!strcmp(c, "summary"))
		return gt_cmd_summary(argc, argv, usage);
	if (!strcmp(c, "convert"))
		return gt_cmd_convert(argc, argv, usage);
	if (!strcmp(c, "-h") || !strcmp(c, "--help") || !strcmp(c, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (*c) {
		char why[96];
		snprintf(why, sizeof(why), "unknown command %.60s", c);
		return usage(why);
	}
	return usage(NULL);
}
