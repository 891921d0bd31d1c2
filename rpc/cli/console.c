/* rpc/cli/console.c - `gotrace attach` (see console.h): statements as geth's
 * console takes them (debug.goTrace("f", 5), rpc.modules), one call each;
 * --exec runs one. On a terminal, line editing and history kept in
 * ~/.gotrace_history (geth keeps ~/.ethereum/history) through libedit when
 * gotrace is built with it (meson option libedit; BSD-licensed, the
 * editline of the BSDs, Debian's libedit2), else plain lines. Standard
 * input that is not a terminal is read line by line, nothing kept. */
#include "rpc/cli/console.h"

#include <locale.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef GT_HAVE_LIBEDIT
#include <histedit.h>
#endif

#include "core/base/config.h"
#include "rpc/cli/client.h"

/* geth's console properties, read without parentheses (web3ext's RpcJs). */
static const char *const properties[][2] = { { "rpc.modules", "rpc_modules" } };

/* A console statement: ns.method(args...) with string and number
 * literals, or a property (rpc.modules), as geth's console takes them. 0
 * with method and params (a JSON array; file names made absolute), or -1
 * with err. */
static int statement(const char *s, char *method, size_t msize, struct gb *params,
		     char *err, size_t errlen)
{
	const char *p = s, *dot, *open;
	int first = 1;

	while (*p == ' ' || *p == '\t')
		p++;
	for (size_t i = 0; i < sizeof(properties) / sizeof(properties[0]); i++) {
		size_t n = strlen(properties[i][0]);
		if (!strncmp(p, properties[i][0], n) && !p[n + strspn(p + n, " \t;\r\n")]) {
			snprintf(method, msize, "%s", properties[i][1]);
			gb_puts(params, "[]");
			return 0;
		}
	}
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
			if (first && gt_client_file_method(method))
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
	r = gt_client_report(target, method, params.p, strcmp(method, "debug_stacks") ? 1 : 2, -1);
	gb_free(&params);
	return r;
}

/* Where the lines come from: libedit on a terminal, else stdin. */
struct lines {
	int tty;   /* stdin is a terminal: prompt */
#ifdef GT_HAVE_LIBEDIT
	EditLine *el;
	History *h;
	char hist[GT_PATH_MAX];   /* "" when there is no home */
#endif
};

#ifdef GT_HAVE_LIBEDIT
static char *prompt(EditLine *el)
{
	(void)el;
	return (char *)"> ";
}
#endif

static void lines_open(struct lines *l)
{
	memset(l, 0, sizeof(*l));
	l->tty = isatty(0);
#ifdef GT_HAVE_LIBEDIT
	HistEvent ev;
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (!l->tty || !isatty(1))
		return;
	if ((!home || !*home) && (pw = getpwuid(getuid())))
		home = pw->pw_dir;
	if (home && *home &&
	    (size_t)snprintf(l->hist, sizeof(l->hist), "%s/.gotrace_history", home) >= sizeof(l->hist))
		l->hist[0] = '\0';
	setlocale(LC_CTYPE, "");   /* multibyte input, as the terminal sends it */
	l->h = history_init();
	l->el = l->h ? el_init("gotrace", stdin, stdout, stderr) : NULL;
	if (!l->el) {
		if (l->h)
			history_end(l->h);
		l->h = NULL;
		return;   /* plain lines, as without libedit */
	}
	history(l->h, &ev, H_SETSIZE, 1000);
	history(l->h, &ev, H_SETUNIQUE, 1);
	if (l->hist[0])
		history(l->h, &ev, H_LOAD, l->hist);   /* none yet: fine */
	el_set(l->el, EL_EDITOR, "emacs");
	el_set(l->el, EL_PROMPT, prompt);
	el_set(l->el, EL_HIST, history, l->h);
	el_set(l->el, EL_SIGNAL, 1);   /* the terminal restored on Ctrl-C, Ctrl-Z */
	el_source(l->el, NULL);        /* the user's ~/.editrc (bind -v for vi) */
#endif
}

/* The next line into line (no newline): 1, or 0 at the end. */
static int lines_get(struct lines *l, char *line, size_t size)
{
#ifdef GT_HAVE_LIBEDIT
	if (l->el) {
		int n = 0;
		const char *s = el_gets(l->el, &n);
		if (!s || n <= 0) {
			fputc('\n', stdout);   /* Ctrl-D: the shell's prompt on a line of its own */
			return 0;
		}
		snprintf(line, size, "%s", s);
		line[strcspn(line, "\r\n")] = '\0';
		return 1;
	}
#endif
	if (l->tty) {
		fputs("> ", stdout);
		fflush(stdout);
	}
	if (!fgets(line, (int)size, stdin))
		return 0;
	line[strcspn(line, "\r\n")] = '\0';
	return 1;
}

/* A statement entered: into the history, and the file saved (0600, as
 * geth's), so a console ended by Ctrl-C keeps it too. */
static void lines_keep(struct lines *l, const char *line)
{
#ifdef GT_HAVE_LIBEDIT
	HistEvent ev;

	if (!l->el)
		return;
	history(l->h, &ev, H_ENTER, line);
	if (l->hist[0] && history(l->h, &ev, H_SAVE, l->hist) < 0)
		l->hist[0] = '\0';   /* unwritable: kept for this session only */
#else
	(void)l;
	(void)line;
#endif
}

static void lines_close(struct lines *l)
{
#ifdef GT_HAVE_LIBEDIT
	if (l->el) {
		el_end(l->el);
		history_end(l->h);
	}
#else
	(void)l;
#endif
}

/* On a terminal, as geth's console greets: where, and the modules the
 * endpoint serves (rpc_modules). 0, or 1 when it cannot be reached. */
static int welcome(const char *target, const char *sock)
{
	struct gb res = { 0 };
	struct gj_doc d = { 0 };
	char err[GT_PATH_MAX + 256];
	int code, r;

	r = gt_client_call(sock, "rpc_modules", "[]", &res, &code, err, sizeof(err), 3000, target);
	if (r < 0) {
		fprintf(stderr, "gotrace: %s\n", err);
		return 1;
	}
	printf("attached to %s\n", sock);
	if (r == 0 && res.p && !gj_parse(&d, res.p, res.len, err, sizeof(err)) &&
	    d.t[0].type == GJ_OBJ) {
		fputs(" modules:", stdout);
		for (uint32_t m = 0, k = 1; m < d.t[0].size; m++, k = d.t[k + 1].next) {
			char key[64], ver[32];
			if (gj_str(&d, (int)k, key, sizeof(key)) >= 0 &&
			    gj_str(&d, (int)k + 1, ver, sizeof(ver)) >= 0)
				printf(" %s:%s", key, ver);
		}
		fputc('\n', stdout);
	}
	gj_free(&d);
	gb_free(&res);
	printf("\ndebug.startGoTrace(\"f\"), debug.stopGoTrace(), debug.goTrace(\"f\", SECONDS), "
	       "debug.stacks(), rpc.modules\nTo exit, press Ctrl-D or type exit\n");
	fflush(stdout);
	return 0;
}

int gt_cmd_attach(int argc, char **argv, int (*usage)(const char *))
{
	char line[8192], sock[GT_PATH_MAX], err[GT_PATH_MAX + 128];
	struct lines l;
	int r = 0;

	if (argc == 5 && !strcmp(argv[3], "--exec"))
		return console_one(argv[2], argv[4]);
	if (argc != 3)
		return usage("attach needs PID|SOCK|URL [--exec STMT]");
	r = gt_client_resolve(argv[2], sock, sizeof(sock), err, sizeof(err));
	if (r) {
		fprintf(stderr, "gotrace: %s\n", err);
		return r == -2 ? 2 : 1;
	}
	if (isatty(0) && welcome(argv[2], sock))
		return 1;
	lines_open(&l);
	while (lines_get(&l, line, sizeof(line))) {
		if (!strcmp(line, "exit") || !strcmp(line, "quit"))
			break;
		if (line[strspn(line, " \t")] == '\0')
			continue;
		lines_keep(&l, line);
		r = console_one(sock, line);
		fflush(stdout);
	}
	lines_close(&l);
	return r;
}
