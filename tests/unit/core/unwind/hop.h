/* tests/unit/core/unwind/hop.h - a call chain built from hops, each a frame
 * of a known kind, for check_unwind.c: hop_fp keeps its frame record
 * (built with frame pointers), hop_nofp does not (-fomit-frame-pointer),
 * hop_clobber does not and calls on with rbp holding garbage. Each calls
 * h->next->fn(h->next) and adds 1 after, so that no call is a tail call. */
#ifndef GT_TEST_HOP_H
#define GT_TEST_HOP_H

struct hop {
	unsigned (*fn)(const struct hop *h);
	const struct hop *next;
};

unsigned hop_fp(const struct hop *h);
unsigned hop_nofp(const struct hop *h);
unsigned hop_clobber(const struct hop *h);
/* depth frames of hop_fp, then h->fn(h) */
unsigned hop_rec(unsigned depth, const struct hop *h);

#endif
