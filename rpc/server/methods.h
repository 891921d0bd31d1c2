/* rpc/server/methods.h - what the endpoint's methods do (rpc/server/methods.c)
 * and the replies they hold: debug_goTrace's and debug_cpuProfile's, sent
 * when their trace or profile ends. Service thread only. */
#ifndef GT_RPC_METHODS_H
#define GT_RPC_METHODS_H

#include <stdint.h>

#include "rpc/proto/proto.h"

extern const struct rpc_ops gt_rpc_methods;

/* The connections are rpc/server/server.c's. */
struct conn;
/* A reply with held items, from c: head (the text before the first) and
 * held become the wait's (not to be freed by the caller). */
void gt_rpc_hold(struct conn *c, struct gb *head, struct rpc_held *held);
/* server.c sends a held reply, complete, to its connection. */
void gt_rpc_send(struct conn *c, struct gb *body);
/* The earliest deadline of a method that waits (UINT64_MAX: none). */
uint64_t gt_rpc_waits_next(void);
/* Does a method wait (its trace or profile ends by itself)? */
int gt_rpc_waits_any(void);
/* Finish the waits whose time is up or whose trace or profile ended
 * otherwise (a stop from another client, GOTRACE_FILE's at exit); all
 * (now UINT64_MAX) at exit. */
void gt_rpc_waits_check(uint64_t now);
/* Does c wait for a held reply? */
int gt_rpc_waiting(const struct conn *c);
/* c closes: its held replies go nowhere (the trace or profile goes on). */
void gt_rpc_conn_gone(const struct conn *c);
/* Forget every wait without a word (a forked child's copies). */
void gt_rpc_waits_reset(void);

#endif
