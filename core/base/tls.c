/* core/base/tls.c - the per-thread word (core/base/tls.h). */
#include "core/base/tls.h"

__thread struct gt_tls gt_tls __attribute__((tls_model("initial-exec")));
