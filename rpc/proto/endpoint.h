/* rpc/proto/endpoint.h - where endpoints live and how they are made safe, shared
 * by the server (inside the traced process) and the client. Errors go to a
 * caller's buffer; nothing here logs. Any thread. */
#ifndef GT_RPC_ENDPOINT_H
#define GT_RPC_ENDPOINT_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* The directory of default endpoints: runtime_dir/gotrace when runtime_dir
 * (XDG_RUNTIME_DIR) is set, else /tmp/gotrace-<euid>. 0 or -ENAMETOOLONG. */
int gt_ep_dir(const char *runtime_dir, char *out, size_t size);

/* Make dir usable for sockets: created 0700 if missing; refused (-1, err
 * filled) when it is a symlink, not a directory, or owned by another uid;
 * tightened to 0700 when ours but looser. */
int gt_ep_secure_dir(const char *dir, char *err, size_t errlen);

/* Bind and listen on a Unix socket at path, mode 0600, non-blocking,
 * close-on-exec. A stale socket there (nobody listening) is replaced; a
 * live one or a file that is not a socket is refused. fd, or -1 with err. */
int gt_ep_listen_unix(const char *path, char *err, size_t errlen);

/* Listen on a loopback TCP address "host:port" (127.0.0.0/8, localhost,
 * ::1, [::1]). fd, or -1 with err (non-loopback addresses are refused). */
int gt_ep_listen_tcp(const char *addr, char *err, size_t errlen);

/* host ("127.0.0.5", "localhost", "::1", "[::1]") as a loopback address,
 * port 0, into ss: 0, or -1 when it is not a loopback IP literal or
 * localhost (no name is looked up). The server's GOTRACE_HTTP and the
 * client's http:// URLs take the same hosts. */
int gt_ep_loopback(const char *host, struct sockaddr_storage *ss, socklen_t *len);

/* Connect to a Unix socket (blocking, close-on-exec). fd, or -errno. */
int gt_ep_connect_unix(const char *path);

#endif
