/* preload/init.c - the constructor: resolve the real functions, then start
 * core (config, main thread, service thread, GOTRACE_FILE). */
#include <errno.h>

#include "core/process/api.h"
#include "preload/hook.h"
#include "rpc/server/server.h"

/* errno at main is 0 (C11 7.5): whatever the start-up left in it (dlsym's
 * look-ups, a socket directory to create, the trace file's first write
 * waiting on a pipe: 2 and 11 were seen) is put back. */
__attribute__((constructor(101))) static void gt_preload_init(void)
{
	int saved = errno;

	gt_tls.in_tracer++;
	gt_real_init();
	gt_malloc_ready();
	gt_fatal_init(GT_REAL(sigaction));
	gt_service_set_client(&gt_rpc_server);
	gt_armed_init();
	gt_tls.in_tracer--;
	gt_init();
	errno = saved;
}
