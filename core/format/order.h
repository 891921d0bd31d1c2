/* core/format/order.h - a whole trace in memory, ordered the way Go 1.19's parser
 * orders it (order1007): the checker of the tests and `gotrace repair` share
 * it. Client side (malloc); not used inside a traced process. */
#ifndef GT_ORDER_H
#define GT_ORDER_H

#include <stddef.h>
#include <stdint.h>

struct gt_oev {
	uint64_t ts;        /* absolute */
	uint64_t g;         /* goroutine the parser attributes it to */
	uint64_t args[5];   /* values after the timestamp delta */
	const uint8_t *str; /* UserLog message */
	size_t str_len;
	uint32_t nargs;
	uint16_t type;
	uint16_t seen;      /* merged (order) */
	uint32_t p;
};

struct gt_pstream {
	struct gt_oev *e;
	size_t n, cap, kept;
	uint64_t lastg;   /* while loading: the goroutine running on this P */
};

struct gt_trace {
	uint64_t freq;
	struct gt_pstream *ps;      /* indexed by P id */
	uint32_t np;                /* highest P id + 1 */
	const uint8_t **untimed;    /* String/Stack records, in file order */
	size_t *untimed_len, nuntimed, untimed_cap;
	uint64_t *stack_ids;        /* defined stack ids */
	size_t nstack_ids;
	size_t valid_end;           /* bytes of the file that decode */
	size_t size;
	uint64_t events, merged;
	int have_gomaxprocs;
};

/* Decode buf (a whole file). Stops quietly at the first record that does not
 * decode (valid_end says where). 0, or -1 with err (bad header). */
int gt_trace_load(const uint8_t *buf, size_t n, struct gt_trace *t, char *err, size_t errlen);

/* Merge the P streams like order1007. Sets each stream's kept (a prefix) and
 * t->merged. Returns 0 when every event was ordered, -1 with err
 * ("no consistent ordering of events possible", "time stamps out of order")
 * when it had to stop; the kept prefixes are then still consistent. If out is
 * not NULL it gets the merged events (caller frees). */
int gt_trace_order(struct gt_trace *t, struct gt_oev ***out, char *err, size_t errlen);

void gt_trace_free(struct gt_trace *t);

#endif
