/* rpc/cli.c - the `gotrace` command: run a program traced from start to
 * end, or drive the endpoint of a running one (ps, start, stop, trace,
 * call, attach), and repair a cut-off trace. Exit status: 0 success, 1 an
 * RPC or run-time error (message on stderr), 2 a usage error. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "core/repair.h"
#include "core/summary.h"
#include "rpc/client.h"
#include "rpc/prog.h"
#include "rpc/summary.h"
#include "rpc/view.h"

static const char usage_text[] =
	"usage: gotrace run [-o FILE] [--] CMD [ARGS...]   trace CMD from start to end\n"
	"       gotrace ps                                 list live endpoints\n"
	"       gotrace start PID|SOCK FILE                debug_startGoTrace(FILE)\n"
	"       gotrace stop PID|SOCK                      debug_stopGoTrace()\n"
	"       gotrace trace PID|SOCK FILE SECONDS        debug_goTrace(FILE, SECONDS)\n"
	"       gotrace call PID|SOCK METHOD [JSON-PARAMS] any method; prints the result\n"
	"       gotrace attach PID|SOCK [--exec STMT]      console: debug.goTrace(\"f\", 5)\n"
	"       gotrace repair FILE [OUT]                  make a cut-off trace readable\n"
	"       gotrace view FILE [--pprof KIND [--lines]]  open FILE in Go's viewer (the newest\n"
	"                                                  Go found); KIND: sync net syscall sched\n"
	"       gotrace summary FILE [--json] [--top N]    where the threads waited, as strace -c\n"
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

/* FILE as the program should open it: absolute against our cwd. */
static void absolute(const char *file, char *out, size_t size)
{
	char cwd[PATH_MAX];

	int n;

	if (file[0] == '/' || (file[0] == '~' && file[1] == '/') || !getcwd(cwd, sizeof(cwd)))
		n = snprintf(out, size, "%s", file);
	else
		n = snprintf(out, size, "%s/%s", cwd, file);
	if (n < 0 || (size_t)n >= size)
		snprintf(out, size, "%s", file);   /* too long: the program says so */
}

/* Call and report: 0 ok (result printed when print), 1 error. wait_s:
 * how long the call itself waits (debug_goTrace's seconds), -1 unknown.
 * An answer 3 s later than that gets a note on why it may be late. */
static int rpc(const char *target, const char *method, const char *params, int print,
	       int wait_s)
{
	char sock[GT_PATH_MAX], err[GT_PATH_MAX + 256];
	struct gb res = { 0 };
	int code, r;

	if (gt_client_resolve(target, sock, sizeof(sock), err, sizeof(err))) {
		fprintf(stderr, "gotrace: %s\n", err);
		return 1;
	}
	if (wait_s < 0 && strcmp(method, "debug_goTrace"))
		wait_s = 0;
	/* no note when debug_goTrace's seconds are not known here, or huge */
	int note_ms = wait_s < 0 || wait_s > INT_MAX / 1000 - 3 ? -1 : (wait_s + 3) * 1000;
	r = gt_client_call(sock, method, params, &res, &code, err, sizeof(err), note_ms, target);
	if (r == 0 && print)
		printf("%s\n", res.p ? res.p : "null");
	else if (r == 1)
		fprintf(stderr, "gotrace: %s: %s (code %d)\n", method, err, code);
	else if (r < 0)
		fprintf(stderr, "gotrace: %s\n", err);
	gb_free(&res);
	return r ? 1 : 0;
}

static void file_param(struct gb *p, const char *file)
{
	char abs[GT_PATH_MAX];

	absolute(file, abs, sizeof(abs));
	gb_puts(p, "[");
	gb_jstr(p, abs, strlen(abs));
}

static int seconds_ok(const char *s)
{
	if (!*s || strlen(s) > 18)
		return 0;
	for (const char *c = s; *c; c++)
		if (*c < '0' || *c > '9')
			return 0;
	return 1;
}

static int cmd_file(int argc, char **argv, const char *method, int with_secs)
{
	struct gb p = { 0 };
	int r;

	if (argc != (with_secs ? 5 : 4))
		return usage(with_secs ? "trace needs PID|SOCK FILE SECONDS" : "start needs PID|SOCK FILE");
	if (with_secs && !seconds_ok(argv[4]))
		return usage("SECONDS must be a whole number");
	file_param(&p, argv[3]);
	if (with_secs) {
		gb_puts(&p, ",");
		gb_puts(&p, argv[4]);
	}
	gb_puts(&p, "]");
	long secs = with_secs ? strtol(argv[4], NULL, 10) : 0;
	r = rpc(argv[2], method, p.p, 0, secs > INT_MAX ? INT_MAX : (int)secs);
	if (!r) {
		char abs[GT_PATH_MAX];
		absolute(argv[3], abs, sizeof(abs));
		if (with_secs)
			fprintf(stderr, "gotrace: trace written to %s\nopen it with: gotrace view %s\n",
				abs, abs);
		else
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
		return usage("call needs PID|SOCK METHOD [JSON-PARAMS]");
	if (argc == 5) {
		int bad = gj_parse(&d, argv[4], strlen(argv[4]), err, sizeof(err));
		gj_free(&d);
		if (bad) {
			fprintf(stderr, "gotrace: JSON-PARAMS: %s\n", err);
			return 2;
		}
	}
	return rpc(argv[2], argv[3], argc == 5 ? argv[4] : "[]", 1, -1);
}

/* A console statement: ns.method(args...) with string and number
 * literals, as geth's console takes them. 0 with method and params (a
 * JSON array; file names made absolute), or -1 with err. */
static int statement(const char *s, char *method, size_t msize, struct gb *params,
		     char *err, size_t errlen)
{
	const char *p = s, *dot, *open;
	int first = 1;

	while (*p == ' ' || *p == '\t')
		p++;
	dot = strchr(p, '.');
	open = strchr(p, '(');
	if (!dot || !open || dot > open || (size_t)(open - p) + 1 > msize) {
		snprintf(err, errlen, "not a call: %s (try debug.stopGoTrace())", s);
		return -1;
	}
	snprintf(method, msize, "%.*s_%.*s", (int)(dot - p), p, (int)(open - dot - 1), dot + 1);
	for (char *m = method; *m; m++)
		if (*m == ' ')
			*m = '\0';
	gb_puts(params, "[");
	p = open + 1;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == ')')
			break;
		if (!first) {
			if (*p != ',') {
				snprintf(err, errlen, "expected ',' or ')' at: %s", p);
				return -1;
			}
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
			gb_puts(params, ",");
		}
		if (*p == '"' || *p == '\'') {
			char q = *p++, lit[GT_PATH_MAX], abs[GT_PATH_MAX];
			size_t n = 0;
			while (*p && *p != q && n + 1 < sizeof(lit)) {
				if (*p == '\\' && p[1])
					p++;
				lit[n++] = *p++;
			}
			if (*p != q) {
				snprintf(err, errlen, "unterminated string");
				return -1;
			}
			p++;
			lit[n] = '\0';
			if (first && (!strcmp(method, "debug_goTrace") ||
				      !strcmp(method, "debug_startGoTrace")))
				absolute(lit, abs, sizeof(abs));
			else
				snprintf(abs, sizeof(abs), "%s", lit);
			gb_jstr(params, abs, strlen(abs));
		} else {
			const char *e = p;
			while (*e && *e != ',' && *e != ')' && *e != ' ')
				e++;
			if (e == p) {
				snprintf(err, errlen, "expected a value at: %s", p);
				return -1;
			}
			gb_put(params, p, (size_t)(e - p));
			p = e;
		}
		first = 0;
	}
	p++;
	while (*p == ' ' || *p == '\t' || *p == ';' || *p == '\n' || *p == '\r')
		p++;
	if (*p) {
		snprintf(err, errlen, "unexpected text after the call: %s", p);
		return -1;
	}
	gb_puts(params, "]");
	return 0;
}

static int console_one(const char *target, const char *line)
{
	char method[128], err[512];
	struct gb params = { 0 };
	int r;

	if (statement(line, method, sizeof(method), &params, err, sizeof(err))) {
		fprintf(stderr, "Error: %s\n", err);
		gb_free(&params);
		return 2;
	}
	r = rpc(target, method, params.p, 1, -1);
	gb_free(&params);
	return r;
}

static int cmd_attach(int argc, char **argv)
{
	char line[8192], sock[GT_PATH_MAX], err[GT_PATH_MAX + 128];
	int tty = isatty(0), r = 0;

	if (argc == 5 && !strcmp(argv[3], "--exec"))
		return console_one(argv[2], argv[4]);
	if (argc != 3)
		return usage("attach needs PID|SOCK [--exec STMT]");
	if (gt_client_resolve(argv[2], sock, sizeof(sock), err, sizeof(err))) {
		fprintf(stderr, "gotrace: %s\n", err);
		return 1;
	}
	if (tty)
		printf("attached to %s; debug.startGoTrace(\"f\"), debug.stopGoTrace(), "
		       "debug.goTrace(\"f\", SECONDS); exit to leave\n", sock);
	for (;;) {
		if (tty) {
			fputs("> ", stdout);
			fflush(stdout);
		}
		if (!fgets(line, sizeof(line), stdin))
			break;
		line[strcspn(line, "\r\n")] = '\0';
		if (!strcmp(line, "exit") || !strcmp(line, "quit"))
			break;
		if (line[strspn(line, " \t")] == '\0')
			continue;
		r = console_one(sock, line);
		fflush(stdout);
	}
	return r;
}

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

static int cmd_run(int argc, char **argv)
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
	absolute(out, abs, sizeof(abs));
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

static int cmd_repair(int argc, char **argv)
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

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	if (!strcmp(c, "--version") || !strcmp(c, "version")) {
		printf("gotrace %s (traces in Go's 1.19 execution-trace format)\n", GT_VERSION);
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
		return cmd_run(argc, argv);
	if (!strcmp(c, "ps"))
		return argc == 2 ? (gt_client_ps(), 0) : usage("ps takes no arguments");
	if (!strcmp(c, "start"))
		return cmd_file(argc, argv, "debug_startGoTrace", 0);
	if (!strcmp(c, "stop")) {
		if (argc != 3)
			return usage("stop needs PID|SOCK");
		int r = rpc(argv[2], "debug_stopGoTrace", "[]", 0, 0);
		if (!r)
			fprintf(stderr, "gotrace: trace stopped and complete on disk\n");
		return r;
	}
	if (!strcmp(c, "trace"))
		return cmd_file(argc, argv, "debug_goTrace", 1);
	if (!strcmp(c, "call"))
		return cmd_call(argc, argv);
	if (!strcmp(c, "attach"))
		return cmd_attach(argc, argv);
	if (!strcmp(c, "repair"))
		return cmd_repair(argc, argv);
	if (!strcmp(c, "view"))
		return gt_cmd_view(argc, argv, usage);
	if (!strcmp(c, "summary"))
		return gt_cmd_summary(argc, argv, usage);
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
