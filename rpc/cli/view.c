/* rpc/cli/view.c - `gotrace view FILE`: the trace in Go's own viewer, with the
 * newest Go toolchain found that reads it (GOTRACE_GO, PATH, GOROOT,
 * /usr/lib/go-*, /usr/local/go), or `--pprof KIND`: a profile's top on the
 * terminal. Go 1.19-1.22 read the 1.19 format whole; 1.23-1.25 convert it,
 * and their syscall and sched profiles come out wrong (docs/go-readers.md):
 * for those two kinds an older reader is preferred when there is one. A
 * trace in the 1.22 format (GOTRACE_FORMAT=go1.22) needs Go 1.22 or later;
 * its syscall profile is whole in each (docs/go122-trace-format.md 5). */
#include "rpc/cli/view.h"
#include "rpc/cli/tracefile.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct go {
	char path[PATH_MAX];
	int minor, patch;
};

/* The toolchain's version: GOROOT/VERSION ("go1.23.5"), else `go env
 * GOVERSION`. 0, or -1 when it is no Go or older than 1.19. */
static int version(struct go *g)
{
	char root[PATH_MAX], v[64] = "";
	FILE *f;

	snprintf(root, sizeof(root), "%s", g->path);
	for (int i = 0; i < 2; i++) {   /* ROOT/bin/go -> ROOT */
		char *s = strrchr(root, '/');
		if (s)
			*s = '\0';
	}
	char vf[PATH_MAX + 16];
	snprintf(vf, sizeof(vf), "%s/VERSION", root);
	if ((f = fopen(vf, "r"))) {
		if (!fgets(v, sizeof(v), f))
			v[0] = '\0';
		fclose(f);
	}
	if (strncmp(v, "go1.", 4)) {
		char cmd[PATH_MAX + 32];
		snprintf(cmd, sizeof(cmd), "'%s' env GOVERSION 2>/dev/null", g->path);
		if (strchr(g->path, '\'') || !(f = popen(cmd, "r")))
			return -1;
		if (!fgets(v, sizeof(v), f))
			v[0] = '\0';
		pclose(f);
	}
	g->patch = 0;
	if (sscanf(v, "go1.%d.%d", &g->minor, &g->patch) < 1 || g->minor < 19)
		return -1;
	return 0;
}

static void consider(struct go *best, int max_minor, const char *path)
{
	struct go g;
	char real[PATH_MAX];

	if (access(path, X_OK) || !realpath(path, real))
		return;
	snprintf(g.path, sizeof(g.path), "%s", real);
	if (version(&g) || (max_minor && g.minor > max_minor))
		return;
	if (!best->path[0] || g.minor > best->minor ||
	    (g.minor == best->minor && g.patch > best->patch))
		*best = g;
}

/* The newest Go (at most 1.max_minor when max_minor); 0, or -1. */
static int find_go(struct go *best, int max_minor)
{
	const char *env = getenv("GOTRACE_GO");
	char p[PATH_MAX];

	memset(best, 0, sizeof(*best));
	if (env && *env) {   /* the user's choice, alone */
		snprintf(best->path, sizeof(best->path), "%s", env);
		return version(best);
	}
	const char *path = getenv("PATH");
	while (path && *path) {
		size_t n = strcspn(path, ":");
		snprintf(p, sizeof(p), "%.*s/go", (int)n, path);
		if (n)
			consider(best, max_minor, p);
		path += n + (path[n] == ':');
	}
	const char *root = getenv("GOROOT");
	if (root && *root) {
		snprintf(p, sizeof(p), "%s/bin/go", root);
		consider(best, max_minor, p);
	}
	glob_t gl;
	if (glob("/usr/lib/go-1.*/bin/go", 0, NULL, &gl) == 0) {
		for (size_t i = 0; i < gl.gl_pathc; i++)
			consider(best, max_minor, gl.gl_pathv[i]);
		globfree(&gl);
	}
	consider(best, max_minor, "/usr/local/go/bin/go");
	return best->path[0] ? 0 : -1;
}

static int no_go(void)
{
	fprintf(stderr, "gotrace: no Go toolchain of 1.19 or later found (PATH, GOROOT, "
		"/usr/lib/go-*, /usr/local/go): on Debian `apt-get install golang-1.19-go`, or "
		"golang-1.23-go from bookworm-backports; or set GOTRACE_GO\n");
	return 1;
}

/* Run argv; stdout into out_fd when >= 0. Its exit status, or -1. */
static int run(char *const argv[], int out_fd)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (out_fd >= 0)
			dup2(out_fd, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int pprof(const struct go *g, const char *file, const char *kind, int lines)
{
	char tmp[] = "/tmp/gotrace-pprof-XXXXXX", flag[32];
	int fd = mkstemp(tmp);

	if (fd < 0) {
		fprintf(stderr, "gotrace: mkstemp: %s\n", strerror(errno));
		return 1;
	}
	snprintf(flag, sizeof(flag), "-pprof=%s", kind);
	char *tr[] = { (char *)g->path, "tool", "trace", flag, (char *)file, NULL };
	int r = run(tr, fd);
	close(fd);
	if (r == 0) {
		char *top[] = { (char *)g->path, "tool", "pprof", "-top", lines ? "-lines" : "-nodecount=40",
				tmp, NULL };
		r = run(top, -1);
	}
	unlink(tmp);
	return r ? 1 : 0;
}

/* go tool trace -http=ADDR FILE, its output passed on, the URL said. */
static int viewer(const struct go *g, const char *file, const char *addr)
{
	char flag[160];
	int pfd[2];

	snprintf(flag, sizeof(flag), "-http=%s", addr);
	if (pipe(pfd))
		return 1;
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		execl(g->path, g->path, "tool", "trace", flag, file, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	signal(SIGINT, SIG_IGN);   /* ^C ends the viewer (our group); we wait for it */
	FILE *f = fdopen(pfd[0], "r");
	char line[4096];
	while (f && fgets(line, sizeof(line), f)) {
		fputs(line, stderr);
		char *u = strstr(line, "listening on http://");
		if (u) {
			u += strlen("listening on ");
			u[strcspn(u, " \r\n")] = '\0';
			fprintf(stderr, "gotrace: %s in Go 1.%d's viewer: %s (Ctrl-C ends it)\n", file,
				g->minor, u);
		}
	}
	if (f)
		fclose(f);
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int gt_cmd_view(int argc, char **argv, int (*usage)(const char *))
{
	const char *file = NULL, *kind = NULL, *addr = "127.0.0.1:0";
	int lines = 0;
	struct stat st;
	struct go g;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--pprof") && i + 1 < argc)
			kind = argv[++i];
		else if (!strcmp(argv[i], "--http") && i + 1 < argc)
			addr = argv[++i];
		else if (!strcmp(argv[i], "--lines"))
			lines = 1;
		else if (argv[i][0] == '-') {
			fprintf(stderr, "gotrace: view: unknown option %s\n", argv[i]);
			return usage(NULL);
		} else if (!file)
			file = argv[i];
		else
			return usage("view takes one FILE");
	}
	if (!file)
		return usage("view needs FILE");
	if (kind && strcmp(kind, "sync") && strcmp(kind, "net") && strcmp(kind, "syscall") &&
	    strcmp(kind, "sched"))
		return usage("--pprof KIND: sync, net, syscall or sched");
	if (stat(file, &st)) {
		fprintf(stderr, "gotrace: %s: %s\n", file, strerror(errno));
		return 1;
	}
	int v2 = gt_trace_file_minor(file) >= 22;
	int old = !v2 && kind && (!strcmp(kind, "syscall") || !strcmp(kind, "sched"));
	if ((!old || find_go(&g, 22)) && find_go(&g, 0))
		return no_go();
	if (v2 && g.minor < 22) {   /* the newest found: none reads it */
		fprintf(stderr, "gotrace: %s is in Go's 1.22 trace format: Go 1.22 or later reads "
			"it, and the newest Go found is 1.%d (%s). On Debian 12: apt-get install "
			"-t bookworm-backports golang-1.23-go (or golang-1.22-go), or set GOTRACE_GO; "
			"or trace again with GOTRACE_FORMAT=go1.19 (the default), which Go 1.19 "
			"reads\n", file, g.minor, g.path);
		return 1;
	}
	if (old && g.minor >= 23 && g.minor < 26)
		fprintf(stderr, "gotrace: only Go 1.%d found: its %s profile of a 1.19-format "
			"trace is short (GoSysExit and GoStart carry no stack); Go 1.19-1.22 "
			"read it whole%s%s%s\n", g.minor, kind,
			strcmp(kind, "syscall") ? "" : "; so does this Go once it is in the 1.22 "
			"format: gotrace convert ", strcmp(kind, "syscall") ? "" : file,
			strcmp(kind, "syscall") ? "" : " OUT");
	if (kind)
		fprintf(stderr, "gotrace: the %s profile of %s, read by Go 1.%d.%d (%s)\n", kind,
			file, g.minor, g.patch, g.path);
	return kind ? pprof(&g, file, kind, lines) : viewer(&g, file, addr);
}
