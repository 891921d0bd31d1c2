/* trace_stats.c - "EVENTS BYTES GOROUTINES STACKS" of a trace file, for
 * scripts/bench (events/s, bytes/s, ns per event). */
#include <stdio.h>

#include "core/format/summary.h"

int main(int argc, char **argv)
{
	struct gt_summary s;
	char err[512];

	if (argc != 2) {
		fprintf(stderr, "usage: trace_stats FILE\n");
		return 2;
	}
	if (gt_summary_read(argv[1], &s, err, sizeof(err))) {
		fprintf(stderr, "trace_stats: %s\n", err);
		return 1;
	}
	printf("%llu %llu %llu %llu\n", (unsigned long long)s.events, (unsigned long long)s.bytes,
	       (unsigned long long)s.goroutines, (unsigned long long)s.stacks);
	return 0;
}
