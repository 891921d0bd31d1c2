/* rpc/cli/summary.c - `gotrace summary FILE`: where a traced program waited, on
 * the terminal (core/format/report.c), as `strace -c` answers for syscalls; --json
 * for scripts. The totals are Go's: `go tool trace -pprof=KIND` gives the
 * same for syscall, net and sync (sleep has no Go profile). */
#include "rpc/cli/summary.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include "core/format/report.h"
#include "rpc/cli/tracefile.h"
#include "rpc/proto/json.h"

static void dur(char *out, size_t size, uint64_t ns)
{
	if (ns >= 10000000000ull)
		snprintf(out, size, "%.1fs", (double)ns / 1e9);
	else if (ns >= 1000000)
		snprintf(out, size, "%.2fms", (double)ns / 1e6);
	else
		snprintf(out, size, "%.1fus", (double)ns / 1e3);
}

static void bytes(char *out, size_t size, uint64_t n)
{
	if (n >= 10000000)
		snprintf(out, size, "%.0f MB", (double)n / 1e6);
	else if (n >= 1000000)
		snprintf(out, size, "%.1f MB", (double)n / 1e6);
	else
		snprintf(out, size, "%.1f KB", (double)n / 1e3);
}

/* A thread's time not in a recorded wait: running, or waiting in a call
 * shorter than GOTRACE_BLOCK_NS or not hooked (the CPU scheduler's
 * queue is not seen from user space). Waits still open at the trace's end
 * and those begun before it are waits. */
static uint64_t running(const struct gt_rthread *t)
{
	uint64_t w = t->before_ns;

	for (int k = 0; k < GT_CATS; k++)
		w += t->wait_ns[k];
	return w < t->life_ns ? t->life_ns - w : 0;
}

/* The trace's notes (gotrace's own, e.g. objects without symbols), each
 * line prefixed "gotrace: ", after lead. */
/* The Debian package that holds path (`dpkg -S path`): 0 with its name,
 * or -1 (no dpkg, not a packaged file). */
static int dpkg_s(const char *path, char *pkg, size_t size);

/* Remembered per path: run -f lists hundreds of traces naming the same
 * objects, and dpkg takes ~0.15 s a question (303 traces: 45 s). */
static int package_of(const char *path, char *pkg, size_t size)
{
	static struct {
		char path[256], pkg[64];
		int r;
	} seen[32];
	static unsigned n;

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(seen[i].path, path)) {
			snprintf(pkg, size, "%s", seen[i].pkg);
			return seen[i].r;
		}
	int r = dpkg_s(path, pkg, size);
	if (n < sizeof(seen) / sizeof(seen[0]) && strlen(path) < sizeof(seen[0].path) &&
	    (r || strlen(pkg) < sizeof(seen[0].pkg))) {
		snprintf(seen[n].path, sizeof(seen[n].path), "%s", path);
		snprintf(seen[n].pkg, sizeof(seen[n].pkg), "%s", r ? "" : pkg);
		seen[n++].r = r;
	}
	return r;
}

static int dpkg_s(const char *path, char *pkg, size_t size)
{
	int fd[2], st;
	ssize_t n = 0, k;

	if (access("/usr/bin/dpkg", X_OK) || pipe(fd))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		unsetenv("LD_PRELOAD");   /* not traced, whoever runs us */
		unsetenv("GOTRACE_FILE");
		dup2(fd[1], 1);
		dup2(null, 2);
		execl("/usr/bin/dpkg", "dpkg", "-S", path, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	while (pid > 0 && n < (ssize_t)size - 1 &&
	       (k = read(fd[0], pkg + n, size - 1 - (size_t)n)) > 0)
		n += k;
	close(fd[0]);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	pkg[n] = '\0';
	char *c = strchr(pkg, ':');   /* "coreutils: /usr/bin/sleep", "libc6:amd64: ..." */
	if (!c || c == pkg)
		return -1;
	*c = '\0';
	return 0;
}

static void say_notes(FILE *f, const struct gt_report *r, const char *lead)
{
	char path[4096], pkg[4200];

	if (!r->notes)
		return;
	/* A line said already (run -f lists many traces of the same objects)
	 * is not said again. */
	static uint64_t said[256];
	static unsigned nsaid;
	fputs(lead, f);
	for (const char *p = r->notes, *e; *p; p = e + 1) {
		e = strchr(p, '\n');
		uint64_t h = 14695981039346656037ull;
		for (const char *c = p; c < e; c++)
			h = (h ^ (uint8_t)*c) * 1099511628211ull;
		unsigned k = 0;
		while (k < nsaid && said[k] != h)
			k++;
		if (k < nsaid)
			continue;
		if (nsaid < sizeof(said) / sizeof(said[0]))
			said[nsaid++] = h;
		fprintf(f, "gotrace: %.*s\n", (int)(e - p), p);
		/* "N frames in PATH have no symbol ...; its debug file would
		 * name them: ...": which -dbgsym package that is, here. */
		const char *in = strstr(p, " in /"), *no = in ? strstr(in, " ha") : NULL;
		if (in && no && no < e && strstr(p, "its debug file would name") &&
		    (size_t)(no - in - 4) < sizeof(path)) {
			snprintf(path, sizeof(path), "%.*s", (int)(no - in - 4), in + 4);
			/* merged /usr: dpkg may know /bin/x for /usr/bin/x */
			if (!package_of(path, pkg, sizeof(pkg)) ||
			    (!strncmp(path, "/usr/", 5) && !package_of(path + 4, pkg, sizeof(pkg))))
				fprintf(f, "gotrace: %s is Debian's %s: apt install %s-dbgsym "
					"(from the debian-debug archive)\n", path, pkg, pkg);
		}
	}
}

static void text(FILE *f, const char *file, const struct gt_report *r, int top, size_t rows)
{
	char a[32], b[32], c[32];

	dur(a, sizeof(a), r->duration_ns);
	bytes(b, sizeof(b), r->heap_peak);
	bytes(c, sizeof(c), r->heap_final);
	if (r->process[0])
		fprintf(f, "%s\n", r->process);
	fprintf(f, "%s: %s, %zu thread%s, heap peak %s, at the end %s%s\n", file, a, r->nthreads, r->nthreads == 1 ? "" : "s", b, c,
	       r->ordered ? "" : " (the file ends cut: figures of its readable part)");
	fprintf(f, "\n%-8s %8s %12s %12s\n", "waits", "count", "total", "mean");
	for (int k = 0; k < GT_CATS; k++) {
		dur(a, sizeof(a), r->total_ns[k]);
		dur(b, sizeof(b), r->count[k] ? r->total_ns[k] / r->count[k] : 0);
		fprintf(f, "%-8s %8llu %12s %12s\n", gt_cat_name[k], (unsigned long long)r->count[k], a, b);
	}
	for (int k = 0; k < GT_CATS; k++) {
		int shown = 0;
		for (size_t i = 0; i < r->nsites && shown < top; i++) {
			const struct gt_site *s = &r->sites[i];
			if (s->cat != (unsigned)k)
				continue;
			if (!shown++)
				fprintf(f, "\n%s: %8s %12s %12s %12s  %s\n", gt_cat_name[k], "count", "total",
				       "mean", "max", "call  <- caller");
			dur(a, sizeof(a), s->total_ns);
			dur(b, sizeof(b), s->total_ns / s->count);
			dur(c, sizeof(c), s->max_ns);
			fprintf(f, "%*s %8llu %12s %12s %12s  %s  <- %s\n", (int)strlen(gt_cat_name[k]) + 1, "",
			       (unsigned long long)s->count, a, b, c, s->call, s->where);
		}
	}
	int before = 0;   /* the column of waits begun before the trace, if any */
	for (size_t i = 0; i < r->nthreads; i++)
		before |= r->threads[i].before_ns != 0;
	fprintf(f, "\n%6s %-28s %12s %12s", "thread", "start routine", "lifetime", "running");
	for (int k = 0; k < GT_CATS; k++)
		fprintf(f, " %12s", gt_cat_name[k]);
	fprintf(f, before ? " %12s\n" : "\n", "waiting");
	for (size_t i = 0; i < r->nthreads; i++) {
		const struct gt_rthread *t = &r->threads[i];
		if (i == rows) {
			fprintf(f, "%6s (%zu thread%s more: gotrace summary %s)\n", "", r->nthreads - i,
				r->nthreads - i == 1 ? "" : "s",
				file);
			break;
		}
		dur(a, sizeof(a), t->life_ns);
		dur(c, sizeof(c), running(t));
		fprintf(f, "%6llu %-28.28s %12s %12s", (unsigned long long)t->g, t->name, a, c);
		for (int k = 0; k < GT_CATS; k++) {
			dur(b, sizeof(b), t->wait_ns[k]);
			fprintf(f, " %12s", t->wait_ns[k] ? b : "-");
		}
		dur(b, sizeof(b), t->before_ns);
		fprintf(f, before ? " %12s\n" : "\n", t->before_ns ? b : "-");
	}
	if (before)
		fprintf(f, "%6s waiting: in a wait the trace found in progress, of a kind it does not record\n", "");
	say_notes(f, r, "\n");
}

static void json(const char *file, const struct gt_report *r)
{
	struct gb o = { 0 };

	gb_puts(&o, "{\"file\":");
	gb_jstr(&o, file, strlen(file));
	gb_puts(&o, ",\"process\":");
	gb_jstr(&o, r->process, strlen(r->process));
	gb_printf(&o, ",\"duration_ns\":%llu,\"complete\":%s,\"heap_peak\":%llu,\"heap_final\":%llu,"
		  "\"totals\":{", (unsigned long long)r->duration_ns, r->ordered ? "true" : "false",
		  (unsigned long long)r->heap_peak, (unsigned long long)r->heap_final);
	for (int k = 0; k < GT_CATS; k++)
		gb_printf(&o, "%s\"%s\":{\"count\":%llu,\"total_ns\":%llu}", k ? "," : "",
			  gt_cat_name[k], (unsigned long long)r->count[k],
			  (unsigned long long)r->total_ns[k]);
	gb_puts(&o, "},\"sites\":[");
	for (size_t i = 0; i < r->nsites; i++) {
		const struct gt_site *s = &r->sites[i];
		gb_printf(&o, "%s{\"category\":\"%s\",\"call\":", i ? "," : "", gt_cat_name[s->cat]);
		gb_jstr(&o, s->call, strlen(s->call));
		gb_puts(&o, ",\"caller\":");
		gb_jstr(&o, s->where, strlen(s->where));
		gb_printf(&o, ",\"count\":%llu,\"total_ns\":%llu,\"max_ns\":%llu}",
			  (unsigned long long)s->count, (unsigned long long)s->total_ns,
			  (unsigned long long)s->max_ns);
	}
	gb_puts(&o, "],\"threads\":[");
	for (size_t i = 0; i < r->nthreads; i++) {
		const struct gt_rthread *t = &r->threads[i];
		gb_printf(&o, "%s{\"g\":%llu,\"name\":", i ? "," : "", (unsigned long long)t->g);
		gb_jstr(&o, t->name, strlen(t->name));
		gb_printf(&o, ",\"lifetime_ns\":%llu,\"running_ns\":%llu",
			  (unsigned long long)t->life_ns, (unsigned long long)running(t));
		for (int k = 0; k < GT_CATS; k++)
			gb_printf(&o, ",\"%s_ns\":%llu", gt_cat_name[k], (unsigned long long)t->wait_ns[k]);
		gb_printf(&o, ",\"waiting_ns\":%llu}", (unsigned long long)t->before_ns);
	}
	gb_puts(&o, "],\"notes\":[");
	for (const char *p = r->notes, *e; p && *p; p = e + 1) {
		e = strchr(p, '\n');
		gb_puts(&o, p == r->notes ? "" : ",");
		gb_jstr(&o, p, (size_t)(e - p));
	}
	gb_puts(&o, "]}\n");
	if (o.p)
		fputs(o.p, stdout);
	gb_free(&o);
}

int gt_cmd_summary(int argc, char **argv, int (*usage)(const char *))
{
	const char *file = NULL;
	int as_json = 0, top = 5;
	struct gt_report r;
	char err[4200];

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			as_json = 1;
		else if (!strcmp(argv[i], "--top") && i + 1 < argc && atoi(argv[i + 1]) > 0)
			top = atoi(argv[++i]);
		else if (argv[i][0] == '-') {
			fprintf(stderr, "gotrace: summary: unknown option %s\n", argv[i]);
			return usage(NULL);
		} else if (!file)
			file = argv[i];
		else
			return usage("summary takes one FILE");
	}
	if (!file)
		return usage("summary needs FILE");
	if (gt_trace_file_minor(file) >= 22) {
		fprintf(stderr, "gotrace: %s is a Go 1.22-format trace: gotrace summary reads the "
			"1.19 format only (GOTRACE_FORMAT=go1.19, the default); open it with "
			"gotrace view %s (Go 1.22 or later)\n", file, file);
		return 1;
	}
	if (gt_report_read(file, &r, err, sizeof(err))) {
		fprintf(stderr, "gotrace: %s\n", err);
		return 1;
	}
	if (as_json)
		json(file, &r);
	else
		text(stdout, file, &r, top, SIZE_MAX);
	gt_report_free(&r);
	return 0;
}

int gt_summary_print(FILE *f, const char *file, int top, size_t rows)
{
	struct gt_report r;
	char err[4200];

	if (gt_trace_file_minor(file) >= 22) {
		gt_trace_no_summary(f, file);
		return -1;
	}
	if (gt_report_read(file, &r, err, sizeof(err))) {
		fprintf(f, "gotrace: %s\n", err);
		return -1;
	}
	text(f, file, &r, top, rows);
	gt_report_free(&r);
	return 0;
}

int gt_summary_line(FILE *f, const char *file)
{
	struct gt_report r;
	char err[4200], d[32], w[GT_CATS][32];

	if (gt_trace_file_minor(file) >= 22) {
		fputs("  ", f);
		gt_trace_no_summary(f, file);
		return -1;
	}
	if (gt_report_read(file, &r, err, sizeof(err))) {
		fprintf(f, "  %s: %s\n", file, err);
		return -1;
	}
	dur(d, sizeof(d), r.duration_ns);
	for (int k = 0; k < GT_CATS; k++)
		if (r.total_ns[k])
			dur(w[k], sizeof(w[k]), r.total_ns[k]);
		else
			snprintf(w[k], sizeof(w[k]), "0");
	fprintf(f, "  %s  %s\n    %s, %zu thread%s; waits: syscall %s, net %s, sync %s, sleep %s%s\n",
		file, r.process[0] ? r.process : "(no process label)", d, r.nthreads,
		r.nthreads == 1 ? "" : "s", w[GT_CAT_SYSCALL],
		w[GT_CAT_NET], w[GT_CAT_SYNC], w[GT_CAT_SLEEP],
		r.ordered ? "" : " (cut: figures of its readable part)");
	say_notes(f, &r, "");
	gt_report_free(&r);
	return 0;
}
