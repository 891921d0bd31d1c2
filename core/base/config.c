/* core/base/config.c - the one table of environment variables. Runs in the
 * constructor, single-threaded as far as the tracer is concerned. */
#include "core/base/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/tls.h"
#include "core/base/log.h"

struct gt_config gt_cfg = { .file = "", .cpu_file = "", .socket = "", .http = "", .http_vhosts = "localhost",
			    .http_cors = "", .runtime_dir = "", .home = "",
			    .cache_home = "", .debug_cache = "" };

#define GT_BLOCK_NS_DEFAULT 10000ull    /* see README: chosen by measurement */
#define GT_BUFFER_MB_DEFAULT 64ull
#define GT_GEN_MS_DEFAULT 1000u        /* see README: chosen by measurement */

/* Copies of the strings, each below GT_PATH_MAX (http: 128, vhosts and
 * cors: 512 each). */
static char pool[7 * GT_PATH_MAX + 128 + 2 * 512] GT_COLD_BSS;
static size_t pool_used;

static const char *copy_env(const char *name, size_t max)
{
	const char *v = getenv(name);

	if (!v || !*v)
		return "";
	size_t n = strlen(v);
	if (n >= max) {
		gt_log("%s is too long (max %zu bytes), ignored", name, max - 1);
		return "";
	}
	char *dst = pool + pool_used;
	memcpy(dst, v, n + 1);
	pool_used += n + 1;
	return dst;
}

static uint64_t env_num(const char *name, uint64_t def, uint64_t min, uint64_t max, int say)
{
	const char *v = getenv(name);
	char *end;

	if (!v || !*v)
		return def;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || *end || x < min || x > max || *v == '-') {
		if (say)
			gt_log("%s=%s: not a number in [%llu, %llu], using %llu", name, v,
			       (unsigned long long)min, (unsigned long long)max,
			       (unsigned long long)def);
		return def;
	}
	return x;
}

static uint64_t num_env(const char *name, uint64_t def, uint64_t min, uint64_t max)
{
	return env_num(name, def, min, max, 1);
}

/* One of n words (2 or 3): its index; unset, empty or another, 0 (the
 * last said on stderr). */
static int env_word(const char *name, const char *const *words, int n)
{
	const char *v = getenv(name);

	if (!v || !*v)
		return 0;
	for (int i = 0; i < n; i++)
		if (!strcmp(v, words[i]))
			return i;
	if (n == 2)
		gt_log("%s=%s: want %s or %s; using %s", name, v, words[0], words[1], words[0]);
	else
		gt_log("%s=%s: want %s, %s or %s; using %s", name, v, words[0], words[1], words[2],
		       words[0]);
	return 0;
}

int gt_config_debug(void)
{
	return (int)env_num("GOTRACE_DEBUG", 0, 0, 9, 0);
}

void gt_config_load(void)
{
	int saved = errno;

	pool_used = 0;
	gt_cfg.file = copy_env("GOTRACE_FILE", GT_PATH_MAX);
	gt_cfg.file_has_pid = strstr(gt_cfg.file, "%p") != NULL;
	gt_cfg.cpu_file = copy_env("GOTRACE_CPU_FILE", GT_PATH_MAX);
	gt_cfg.cpu_file_has_pid = strstr(gt_cfg.cpu_file, "%p") != NULL;
	gt_cfg.owner = (long)num_env("GOTRACE_OWNER", 0, 0, 1u << 30);
	gt_cfg.socket = copy_env("GOTRACE_SOCKET", GT_PATH_MAX);
	gt_cfg.socket_off = strcmp(gt_cfg.socket, "off") == 0;
	gt_cfg.http = copy_env("GOTRACE_HTTP", 128);
	gt_cfg.http_vhosts = getenv("GOTRACE_HTTP_VHOSTS") ? copy_env("GOTRACE_HTTP_VHOSTS", 512)
							   : "localhost";
	gt_cfg.http_cors = copy_env("GOTRACE_HTTP_CORS", 512);
	gt_cfg.block_ns = num_env("GOTRACE_BLOCK_NS", GT_BLOCK_NS_DEFAULT, 0,
				  3600ull * 1000000000ull);
	gt_cfg.buffer_bytes = num_env("GOTRACE_BUFFER_MB", GT_BUFFER_MB_DEFAULT, 1,
				      1u << 20) << 20;
	gt_cfg.stack_depth = (unsigned)num_env("GOTRACE_STACK_DEPTH", 64, 1, 64);
	static const char *const unwind[] = { "auto", "libunwind", "fp" };   /* GT_UNWIND_* */
	static const char *const hook_return[] = { "auto", "call", "jump" };   /* GT_HOOK_RETURN_* */
	static const char *const format[] = { "go1.19", "go1.22" };   /* GT_FORMAT_* */
	gt_cfg.unwind = env_word("GOTRACE_UNWIND", unwind, 3);
	gt_cfg.hook_return = env_word("GOTRACE_HOOK_RETURN", hook_return, 3);
	gt_cfg.format = env_word("GOTRACE_FORMAT", format, 2);
	gt_cfg.gen_ms = (unsigned)num_env("GOTRACE_GEN_MS", GT_GEN_MS_DEFAULT, 1, 3600000);
	gt_cfg.malloc_log_bytes = num_env("GOTRACE_MALLOC_LOG", 1u << 20, 1, UINT64_MAX);
	gt_cfg.debug = (int)num_env("GOTRACE_DEBUG", 0, 0, 9);
	gt_cfg.rpc_idle_ms = (unsigned)num_env("GOTRACE_RPC_IDLE_MS", 60000, 1, 86400000);
	gt_cfg.rpc_max_conns = (unsigned)num_env("GOTRACE_RPC_MAX_CONNS", 64, 1, 1024);
	gt_cfg.lazy = (int)num_env("GOTRACE_LAZY", 1, 0, 1);
	gt_cfg.cpu_hz = (unsigned)num_env("GOTRACE_CPU_HZ", 100, 1, 10000);
	gt_cfg.mem_rate = getenv("GOTRACE_MEMPROFILE_RATE") ?
		(int64_t)num_env("GOTRACE_MEMPROFILE_RATE", 0, 0, 1ull << 40) : -1;
	const char *pre = getenv("LD_PRELOAD");
	gt_cfg.valgrind = pre && strstr(pre, "/vgpreload_") != NULL;
	gt_cfg.runtime_dir = copy_env("XDG_RUNTIME_DIR", GT_PATH_MAX);
	gt_cfg.home = copy_env("HOME", GT_PATH_MAX);
	gt_cfg.cache_home = copy_env("XDG_CACHE_HOME", GT_PATH_MAX);
	gt_cfg.debug_cache = copy_env("GOTRACE_DEBUG_CACHE", GT_PATH_MAX);
	errno = saved;
}

int gt_config_expand(const char *pattern, long pid, char *out, unsigned size)
{
	unsigned n = 0;
	char num[24];

	for (const char *s = pattern; *s; s++) {
		const char *add = NULL;
		char one[2] = { *s, 0 };

		if (s[0] == '%' && s[1] == 'p') {
			gt_fmt(num, sizeof(num), "%ld", pid);
			add = num;
			s++;
		} else if (s[0] == '%' && s[1] == '%') {
			one[0] = '%';
			add = one;
			s++;
		} else {
			add = one;
		}
		size_t l = strlen(add);
		if (n + l + 1 > size)
			return -ENAMETOOLONG;
		memcpy(out + n, add, l);
		n += (unsigned)l;
	}
	out[n] = '\0';
	return 0;
}
