/* preload/init.c - the constructor: resolve the real functions, then start
 * core (config, main thread, service thread, GOTRACE_FILE). */
#include "core/gotrace.h"
#include "preload/real.h"
#include "rpc/server.h"

__attribute__((constructor(101))) static void gt_preload_init(void)
{
	gt_tls.in_tracer++;
	gt_real_init();
	gt_service_set_client(&gt_rpc_server);
	gt_armed_init();
	gt_tls.in_tracer--;
	gt_init();
}
