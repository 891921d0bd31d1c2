/* rpc/cli/cli.c - the `gotrace` command: its usage and dispatch, and the calls
 * to a running program's endpoint (ps, start, stop, trace, call, attach).
 * run and repair: rpc/cli/run.c; view: rpc/cli/view.c; summary: rpc/summary.c.
 * Exit status: 0 success, 1 an RPC or run-time error (message on stderr),
 * 2 a usage error. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/base/config.h"
#include "rpc/cli/client.h"
#include "rpc/cli/run.h"
#include "rpc/cli/summary.h"
#include "rpc/cli/view.h"

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

	gt_client_absolute(file, abs, sizeof(abs));
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
		gt_client_absolute(argv[3], abs, sizeof(abs));
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
				gt_client_absolute(lit, abs, sizeof(abs));
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
		return gt_cmd_run(argc, argv, usage);
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
		return gt_cmd_repair(argc, argv, usage);
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
