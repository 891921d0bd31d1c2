/* core/base/urcu.c - liburcu, loaded on first use (see urcu.h). */
#include "core/base/urcu.h"

#include <dlfcn.h>

#include "core/base/lock.h"
#include "core/base/log.h"

struct gt_urcu gt_urcu;

static void *lib(const char *name)
{
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);

	if (!h)
		gt_log("%s not loaded (%s): no tracing", name, dlerror());
	return h;
}

int gt_urcu_load(void)
{
	static struct gt_lock lock = GT_LOCK_INIT;
	static int tried;
	struct gt_urcu u = { 0 };
	void *h[3];

	if (gt_urcu_ready())
		return 1;
	gt_lock(&lock);
	if (tried) {
		gt_unlock(&lock);
		return gt_urcu_ready();
	}
	tried = 1;
	if (!(h[0] = lib("liburcu-common.so.8")) || !(h[1] = lib("liburcu-bp.so.8")) ||
	    !(h[2] = lib("liburcu-cds.so.8"))) {
		gt_unlock(&lock);
		return 0;
	}
#define GT_URCU_LOAD(f)                                                           \
	for (int i = 0; i < 3 && !u.f; i++)                                       \
		u.f = (__typeof__(f) *)dlsym(h[i], #f);                           \
	if (!u.f) {                                                               \
		gt_log("liburcu: %s missing: no tracing", #f);                    \
		gt_unlock(&lock);                                                 \
		return 0;                                                         \
	}
	GT_URCU_FNS(GT_URCU_LOAD)
#undef GT_URCU_LOAD
	u.flavor = dlsym(h[1], "urcu_bp_flavor");
	if (!u.flavor) {
		gt_log("liburcu: urcu_bp_flavor missing: no tracing");
		gt_unlock(&lock);
		return 0;
	}
	u.mm_order = dlsym(h[2], "cds_lfht_mm_order");
	if (!u.mm_order) {
		gt_log("liburcu: cds_lfht_mm_order missing: no tracing");
		gt_unlock(&lock);
		return 0;
	}
	gt_urcu = u;
	__atomic_store_n(&gt_urcu.ok, 1, __ATOMIC_RELEASE);
	gt_unlock(&lock);
	return 1;
}
