/* rpc/cli/call.c - one JSON-RPC call from the `gotrace` command (see
 * client.h): over the endpoint's Unix socket (a JSON value, its reply read
 * by framing), or by HTTP POST to its GOTRACE_HTTP address (rpc/cli/http.h);
 * the note on stderr when the answer is late; the report of the result. */
#include "rpc/cli/client.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/base/config.h"
#include "rpc/cli/http.h"
#include "rpc/proto/endpoint.h"

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Why no answer came yet, from what the program is doing now (its pid is
 * the listener's, SO_PEERCRED): stopped, one thread, or busy writing. */
static void waiting_note(int fd, const char *target)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	char path[64], buf[1024], state = 0;
	long threads = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && cr.pid > 0) {
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)cr.pid);
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f)
			fclose(f);
		buf[n] = '\0';
		char *p = strrchr(buf, ')');
		/* ") S ppid pgrp session tty tpgid flags minflt cminflt majflt
		 * cmajflt utime stime cutime cstime priority nice num_threads" */
		if (p && p[1] == ' ') {
			state = p[2];
			for (int i = 0; i < 18 && p; i++)   /* the space before field 18 */
				p = strchr(p + 1, ' ');
			if (p)
				threads = strtol(p + 1, NULL, 10);
		}
	}
	/* A lazy program of one thread has our doorman beside it, a task
	 * named gotrace-door (core/process/door.c): that is the one-thread case. */
	if (threads > 1) {
		char comm[64];
		snprintf(path, sizeof(path), "/proc/%d/task", (int)cr.pid);
		DIR *dir = opendir(path);
		struct dirent *e;
		while (dir && (e = readdir(dir))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(buf, sizeof(buf), "%s/%s/comm", path, e->d_name);
			FILE *f = fopen(buf, "r");
			if (f && fgets(comm, sizeof(comm), f) && !strncmp(comm, "gotrace-door", 12))
				threads = 1;
			if (f)
				fclose(f);
		}
		if (dir)
			closedir(dir);
	}
	if (state == 'T' || state == 't')
		fprintf(stderr, "gotrace: no answer from %s yet: the program is stopped (%s); it "
			"answers once it runs again (kill -CONT %d); Ctrl-C gives up\n", target,
			state == 't' ? "by a debugger" : "SIGSTOP, Ctrl-Z", (int)cr.pid);
	else if (threads == 1)
		fprintf(stderr, "gotrace: no answer from %s yet; still waiting (a program of one "
			"thread that computes, or waits where it cannot be woken, answers at its "
			"next call: GOTRACE_LAZY=0 gives it a thread at start; Ctrl-C gives up)\n",
			target);
	else
		fprintf(stderr, "gotrace: no answer from %s yet; still waiting (a stop writes out "
			"the whole trace first; Ctrl-C gives up)\n", target);
}

int gt_client_call(const char *path, const char *method, const char *params,
		   struct gb *result, int *code, char *err, size_t errlen, int note_ms,
		   const char *note)
{
	struct gb body = { 0 }, req = { 0 }, in = { 0 };
	struct gj_doc d = { 0 };
	struct gt_url url;
	char buf[4096];
	int fd, r = -1, http = gt_http_is_url(path), eof = 0;
	size_t off = 0, k = 0;

	*code = 0;
	if (http && gt_http_parse(path, &url, err, errlen))
		return -1;
	fd = http ? gt_http_connect(&url, path, err, errlen) : gt_ep_connect_unix(path);
	if (fd < 0) {
		if (!http)
			snprintf(err, errlen, "connect %s: %s", path, strerror(-fd));
		return -1;
	}
	gb_puts(&body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":");
	gb_jstr(&body, method, strlen(method));
	gb_puts(&body, ",\"params\":");
	gb_puts(&body, params && *params ? params : "[]");
	gb_puts(&body, "}\n");
	if (http)
		gt_http_request(&req, &url, body.p, body.len);
	else
		gb_put(&req, body.p, body.len);
	if (body.oom || req.oom || send_all(fd, req.p, req.len)) {
		snprintf(err, errlen, "send to %s: %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		if (http) {   /* Connection: close; the body, by its Content-Length */
			int h = gt_http_response(in.p, in.len, eof, &off, &k, err, errlen);
			if (h < 0) {
				char m[512];
				snprintf(m, sizeof(m), "%s", err);
				snprintf(err, errlen, "%s: %s", path, m);
				goto out;
			}
			if (h > 0)
				break;
		} else {
			long f = gj_frame(in.p, in.len, 0);
			if (f > 0) {
				k = (size_t)f;
				break;
			}
		}
		if (note_ms >= 0) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			int pr = poll(&p, 1, note_ms);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr == 0) {
				waiting_note(fd, note);
				note_ms = -1;
				continue;
			}
		}
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && http && !eof) {
			eof = 1;
			continue;
		}
		if (n <= 0) {
			snprintf(err, errlen, "%s: the connection closed before the reply "
				 "(did the program exit?)", path);
			goto out;
		}
		gb_put(&in, buf, (size_t)n);
	}
	const char *text = in.p + off;
	if (gj_parse(&d, text, k, buf, sizeof(buf))) {
		snprintf(err, errlen, "bad reply from %s: %s", path, buf);
		goto out;
	}
	int res = gj_get(&d, 0, "result"), e = gj_get(&d, 0, "error");
	if (e >= 0) {
		int c = gj_get(&d, e, "code"), m = gj_get(&d, e, "message");
		if (c >= 0)
			*code = atoi(text + d.t[c].start);
		if (m < 0 || gj_str(&d, m, err, errlen) < 0)
			snprintf(err, errlen, "error %d", *code);
		r = 1;
	} else if (res >= 0) {
		gb_put(result, text + d.t[res].start, d.t[res].end - d.t[res].start);
		r = 0;
	} else {
		snprintf(err, errlen, "bad reply from %s: neither result nor error", path);
	}
out:
	gj_free(&d);
	gb_free(&body);
	gb_free(&req);
	gb_free(&in);
	close(fd);
	return r;
}

int gt_client_report(const char *target, const char *method, const char *params, int print,
		     int wait_s)
{
	char sock[GT_PATH_MAX], err[GT_PATH_MAX + 256];
	struct gb res = { 0 };
	int code, r;

	r = gt_client_resolve(target, sock, sizeof(sock), err, sizeof(err));
	if (r) {
		fprintf(stderr, "gotrace: %s\n", err);
		return r == -2 ? 2 : 1;
	}
	if (wait_s < 0 && strcmp(method, "debug_goTrace"))
		wait_s = 0;
	/* no note when debug_goTrace's seconds are not known here, or huge */
	int note_ms = wait_s < 0 || wait_s > INT_MAX / 1000 - 3 ? -1 : (wait_s + 3) * 1000;
	r = gt_client_call(sock, method, params, &res, &code, err, sizeof(err), note_ms, target);
	if (r == 0 && print == 2 && res.p && res.p[0] == '"') {
		/* A string result as its text (debug_stacks' dump). */
		struct gj_doc d;
		char e[64];
		if (gj_parse(&d, res.p, res.len, e, sizeof(e)) == 0 && d.t[0].type == GJ_STR) {
			size_t cap = res.len + 1;
			char *txt = malloc(cap);
			long n = txt ? gj_str(&d, 0, txt, cap) : -1;
			if (n >= 0)
				fwrite(txt, 1, (size_t)n, stdout);
			free(txt);
		}
		gj_free(&d);
	} else if (r == 0 && print) {
		printf("%s\n", res.p ? res.p : "null");
	}
	else if (r == 1)
		fprintf(stderr, "gotrace: %s: %s (code %d)\n", method, err, code);
	else if (r < 0)
		fprintf(stderr, "gotrace: %s\n", err);
	gb_free(&res);
	return r ? 1 : 0;
}
