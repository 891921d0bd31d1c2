/* rpc/server/server.h - the JSON-RPC endpoint, plugged into the service loop. */
#ifndef GT_RPC_SERVER_H
#define GT_RPC_SERVER_H

#include "core/process/service.h"

extern const struct gt_svc_client gt_rpc_server;

#endif
