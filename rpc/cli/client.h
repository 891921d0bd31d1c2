/* rpc/cli/client.h - the client side of the endpoint: find a process's socket,
 * call a method, list live endpoints. Used by the `gotrace` command only
 * (never inside a traced process); single-threaded, uses malloc and stdio. */
#ifndef GT_RPC_CLIENT_H
#define GT_RPC_CLIENT_H

#include <stddef.h>

#include "rpc/proto/json.h"

/* PID, socket path or http:// URL -> socket path or URL. 0, or -1 with err
 * filled ("no process 123", "process 123 has no gotrace endpoint (expected
 * ...)"), or -2 for a URL refused (https, not loopback, malformed: a usage
 * error; rpc/cli/http.h). */
int gt_client_resolve(const char *target, char *path, size_t size, char *err, size_t errlen);

/* Call method with params (a JSON array text) on the socket at path, or by
 * HTTP POST to an http:// URL (rpc/cli/call.c); wait
 * for the reply however long it takes, printing on stderr once why it may
 * be late (the program stopped, of one thread, or writing; note names the
 * target) when none came in note_ms (< 0: never). 0: the result's JSON text in result;
 * 1: an RPC error (*code, message in err); -1: no reply (err says why). */
int gt_client_call(const char *path, const char *method, const char *params,
		   struct gb *result, int *code, char *err, size_t errlen, int note_ms,
		   const char *note);

/* Resolve target, call, and report: the result printed on stdout when
 * print (2: a string result as its text), errors on stderr ("gotrace: METHOD: MESSAGE (code N)"). wait_s:
 * how long the call itself waits (debug_goTrace's seconds), -1 unknown; an
 * answer 3 s later than that gets a note on why it may be late. The exit
 * status: 0 ok, 1 an RPC or connection error, 2 a target refused (a bad
 * URL). */
int gt_client_report(const char *target, const char *method, const char *params, int print,
		     int wait_s);

/* Print the live endpoints (pid, socket, command) to stdout and remove
 * stale sockets in the default directories. Returns how many are live. */
int gt_client_ps(void);

/* Does method take a file first (debug_goTrace, debug_writeMemProfile...)? */
int gt_client_file_method(const char *method);

/* FILE as the program should open it: absolute against our cwd ("~/"
 * kept: the program expands it). */
void gt_client_absolute(const char *file, char *out, size_t size);
/* SECONDS as the methods take it: a whole number that fits a uint64. */
int gt_client_seconds_ok(const char *s);

#endif
