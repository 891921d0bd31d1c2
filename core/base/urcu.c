/* core/base/urcu.c - liburcu, loaded on first use (see urcu.h). */
#include "core/base/urcu.h"

#include <dlfcn.h>
#include <signal.h>
#include <time.h>
#include <sys/syscall.h>

#include "core/base/lock.h"
#include "core/base/log.h"
#include "core/base/sys.h"

struct gt_urcu gt_urcu;
struct gt_lock gt_urcu_fork_lock = GT_LOCK_INIT;

/* Signals blocked meanwhile: a handler's hook that recorded a stack would
 * register again, under the lock this thread holds. */
void gt_urcu_register(void)
{
	sigset_t all, old;

	sigfillset(&all);
	gt_raw6(SYS_rt_sigprocmask, SIG_BLOCK, (long)&all, (long)&old, _NSIG / 8, 0, 0);
	gt_lock(&gt_urcu_fork_lock);
	gt_urcu.urcu_bp_register();
	gt_unlock(&gt_urcu_fork_lock);
	gt_tls.urcu_reg = 1;
	gt_raw6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, _NSIG / 8, 0, 0);
}

static void *lib(const char *name)
{
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);

	if (!h)
		gt_log("%s not loaded (%s): no tracing", name, dlerror());
	return h;
}

int gt_urcu_fork_hold(void)
{
	struct timespec ms = { 0, 1000000 };

	for (int i = 0; i < 2000; i++) {
		if (gt_trylock(&gt_urcu_fork_lock))
			return 1;
		gt_raw(SYS_nanosleep, (long)&ms, 0, 0);
	}
	return 0;
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
	gt_lock(&gt_urcu_fork_lock);   /* liburcu-bp's constructor: its init_lock */
	int loaded = (h[0] = lib("liburcu-common.so.8")) && (h[1] = lib("liburcu-bp.so.8")) &&
		     (h[2] = lib("liburcu-cds.so.8"));
	gt_unlock(&gt_urcu_fork_lock);
	if (!loaded) {
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
