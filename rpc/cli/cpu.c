/* rpc/cli/cpu.c - profiles of a running program, over its endpoint:
 * `gotrace cpu` = debug_cpuProfile(FILE, SECONDS), `cpu-start` =
 * debug_startCPUProfile(FILE), `cpu-stop` = debug_stopCPUProfile(),
 * `block` = debug_blockProfile(FILE, SECONDS), `mutex` =
 * debug_mutexProfile(FILE, SECONDS), `heap` = debug_writeMemProfile(FILE).
 * FILE is made absolute against the client's directory, as for traces. */
#include "rpc/cli/cpu.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/config.h"
#include "rpc/cli/client.h"

int gt_cmd_is_cpu(const char *cmd)
{
	return !strcmp(cmd, "cpu") || !strcmp(cmd, "cpu-start") || !strcmp(cmd, "cpu-stop") ||
	       !strcmp(cmd, "block") || !strcmp(cmd, "mutex") || !strcmp(cmd, "heap") ||
	       !strcmp(cmd, "stacks");
}

int gt_cmd_cpu(int argc, char **argv, int (*usage)(const char *))
{
	const char *cmd = argv[1];
	char abs[GT_PATH_MAX];
	struct gb p = { 0 };

	if (!strcmp(cmd, "cpu-stop")) {
		if (argc != 3)
			return usage("cpu-stop needs PID|SOCK|URL");
		int r = gt_client_report(argv[2], "debug_stopCPUProfile", "[]", 0, 0);
		if (!r)
			fprintf(stderr, "gotrace: CPU profile stopped and written\n");
		return r;
	}
	if (!strcmp(cmd, "stacks")) {
		if (argc != 3 && argc != 4)
			return usage("stacks needs PID|SOCK|URL [FILTER]");
		if (argc == 4) {
			gb_puts(&p, "[");
			gb_jstr(&p, argv[3], strlen(argv[3]));
			gb_puts(&p, "]");
		}
		int r = gt_client_report(argv[2], "debug_stacks", argc == 4 ? p.p : "[]", 2, 0);
		gb_free(&p);
		return r;
	}
	int block = !strcmp(cmd, "block"), mutex = !strcmp(cmd, "mutex");
	int heap = !strcmp(cmd, "heap");
	int with_secs = !strcmp(cmd, "cpu") || block || mutex;
	const char *method = block ? "debug_blockProfile" : mutex ? "debug_mutexProfile"
			     : heap ? "debug_writeMemProfile"
			     : with_secs ? "debug_cpuProfile" : "debug_startCPUProfile";
	if (argc != (with_secs ? 5 : 4))
		return usage(block ? "block needs PID|SOCK|URL FILE SECONDS"
			     : mutex ? "mutex needs PID|SOCK|URL FILE SECONDS"
			     : heap ? "heap needs PID|SOCK|URL FILE"
			     : with_secs ? "cpu needs PID|SOCK|URL FILE SECONDS"
			     : "cpu-start needs PID|SOCK|URL FILE");
	if (with_secs && !gt_client_seconds_ok(argv[4]))
		return usage("SECONDS must be a whole number, at most 18446744073709551615");
	gt_client_absolute(argv[3], abs, sizeof(abs));
	gb_puts(&p, "[");
	gb_jstr(&p, abs, strlen(abs));
	if (with_secs)   /* as a JSON number: "010" is not one */
		gb_printf(&p, ",%llu", strtoull(argv[4], NULL, 10));
	gb_puts(&p, "]");
	long secs = with_secs ? strtol(argv[4], NULL, 10) : 0;
	int r = gt_client_report(argv[2], method, p.p, 0, secs > INT_MAX ? INT_MAX : (int)secs);
	gb_free(&p);
	if (r)
		return r;
	if (heap)
		fprintf(stderr, "gotrace: heap profile written to %s (empty if sampling started "
			"with this call, as the program's stderr then says: ask again later)\nopen "
			"it with: go tool pprof -top -sample_index=inuse_space %s\n", abs, abs);
	else if (block || mutex)
		fprintf(stderr, "gotrace: %s profile written to %s (every wait of the %ld s, and "
			"those counted before at the rate set)\nopen it with: go tool pprof -top %s\n",
			block ? "block" : "mutex", abs, secs, abs);
	else if (with_secs)
		fprintf(stderr, "gotrace: CPU profile written to %s\n"
			"open it with: go tool pprof -top %s (or -http=: for the flame graph)\n",
			abs, abs);
	else
		fprintf(stderr, "gotrace: CPU profiling into %s; end it with: gotrace cpu-stop %s\n",
			abs, argv[2]);
	return 0;
}
