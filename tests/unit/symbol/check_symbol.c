/* check_symbol.c - the symboliser: names (static, global, demangled C++ and Rust),
 * file:line from DWARF for function entries and return addresses, inlined
 * frames, libraries loaded after the first lookup, bad pcs, reset, main. */
#include <check.h>
#include <stdarg.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/write/symbol.h"
#include "core/write/symhint.h"
#include "fixture.h"
#include "tests/unit/check_main.h"

int main(void);

static int callee_line;

static __attribute__((noinline)) uintptr_t callee(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

static __attribute__((noinline)) uintptr_t static_caller(int *line)
{
	*line = __LINE__ + 1;
	uintptr_t r = callee();
	__asm__ volatile("" ::: "memory");
	return r;
}

static inline __attribute__((always_inline)) uintptr_t inlined_helper(int *line)
{
	*line = __LINE__ + 1;
	uintptr_t r = callee();
	__asm__ volatile("" ::: "memory");
	return r;
}

__attribute__((noinline)) uintptr_t outer_function(int *line, int *call_line);
__attribute__((noinline)) uintptr_t outer_function(int *line, int *call_line)
{
	*call_line = __LINE__ + 1;
	uintptr_t r = inlined_helper(line);
	__asm__ volatile("" ::: "memory");
	return r;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

START_TEST(return_address_static)
{
	struct gt_sym s;
	int line;
	uintptr_t pc = static_caller(&line);

	ck_assert_int_eq(gt_sym_lookup(pc, 0, &s), 0);
	ck_assert_str_eq(s.func, "static_caller");
	ck_assert_msg(ends_with(s.file, "check_symbol.c"), "%s", s.file);
	ck_assert_uint_eq(s.line, (unsigned)line);
	ck_assert_uint_eq(s.entry, (uintptr_t)static_caller);
	(void)callee_line;
}
END_TEST

START_TEST(function_entry)
{
	struct gt_sym s;

	ck_assert_int_eq(gt_sym_lookup((uintptr_t)outer_function, 1, &s), 0);
	ck_assert_str_eq(s.func, "outer_function");
	ck_assert_uint_eq(s.entry, (uintptr_t)outer_function);
	ck_assert_uint_gt(s.line, 0);
}
END_TEST

START_TEST(inlined_frames)
{
	struct gt_sym f[GT_SYM_INLINE_MAX];
	int line, call_line;
	uintptr_t pc = outer_function(&line, &call_line);

	int n = gt_sym_frames(pc, 0, f, GT_SYM_INLINE_MAX);
	ck_assert_int_eq(n, 2);
	ck_assert_str_eq(f[0].func, "inlined_helper");
	ck_assert_uint_eq(f[0].line, (unsigned)line);
	ck_assert_str_eq(f[1].func, "outer_function");
	ck_assert_uint_eq(f[1].line, (unsigned)call_line);
	ck_assert(ends_with(f[1].file, "check_symbol.c"));
}
END_TEST

START_TEST(cpp_demangled)
{
	struct gt_sym s;
	int line;
	uintptr_t pc = fixture_cpp(&line);

	ck_assert_int_eq(gt_sym_lookup(pc, 0, &s), 0);
	ck_assert_str_eq(s.func, "ns::Klass::method(int*)");
	ck_assert_msg(ends_with(s.file, "fixture_cpp.cpp"), "%s", s.file);
	ck_assert_uint_eq(s.line, (unsigned)line);
}
END_TEST

/* Names as c++filt and rustc-demangle print them: Rust legacy (hash
 * dropped, $-escapes decoded), Rust v0 (what Rust's std is built with), C++,
 * and plain C names untouched. */
START_TEST(demangled_names)
{
	static const char *const cases[][2] = {
		{ "_ZN2rs4main17h6af98f44df74ee35E", "rs::main" },
		{ "_ZN4core3ops8function6FnOnce40call_once$u7b$$u7b$vtable.shim$u7d$$u7d$"
		  "17hdd9cd4af452b21b0E", "core::ops::function::FnOnce::call_once{{vtable.shim}}" },
		{ "_RNvNvMs0_NtNtNtCsjrHSEGnQ3l9_3std3sys6thread4unixNtB7_6Thread3new12thread_start",
		  "<std::sys::thread::unix::Thread>::new::thread_start" },
		{ "_RNvXsi_NtNtCsjrHSEGnQ3l9_3std2io5stdioNtB5_10StdoutLockNtB7_5Write9write_all",
		  "<std::io::stdio::StdoutLock as std::io::Write>::write_all" },
		{ "_ZN2ns5Klass6methodEPi", "ns::Klass::method(int*)" },
		{ "_ZNSt6vectorIiSaIiEE9push_backERKi",
		  "std::vector<int, std::allocator<int> >::push_back(int const&)" },
		{ "read", "read" },
		{ "_Znot_mangled", "_Znot_mangled" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = gt_sym_demangle(cases[i][0]);
		ck_assert_ptr_nonnull(d);
		ck_assert_str_eq(d, cases[i][1]);
		free(d);
	}
}
END_TEST

START_TEST(dlopen_after_first_lookup)
{
	struct gt_sym s;
	char path[1024];

	ck_assert_int_eq(gt_sym_lookup((uintptr_t)outer_function, 1, &s), 0);
	snprintf(path, sizeof(path), "%s/libsymplugin.so", getenv("GT_PLUGIN_DIR"));
	void *h = dlopen(path, RTLD_NOW);
	ck_assert_ptr_nonnull(h);
	uintptr_t fn = (uintptr_t)dlsym(h, "plugin_function");
	ck_assert_int_eq(gt_sym_lookup(fn, 1, &s), 0);
	ck_assert_str_eq(s.func, "plugin_function");
	ck_assert_msg(ends_with(s.file, "plugin.c"), "%s", s.file);
	ck_assert_uint_eq(s.entry, fn);
}
END_TEST

START_TEST(bad_pcs)
{
	struct gt_sym s;
	struct gt_sym f[4];

	ck_assert_int_eq(gt_sym_lookup(0x10, 1, &s), -ENOENT);
	ck_assert_str_eq(s.func, "?");
	ck_assert_int_eq(gt_sym_lookup(0xffffffffffffull, 0, &s), -ENOENT);
	ck_assert_int_eq(gt_sym_frames(0x10, 0, f, 4), 1);
	/* heap memory: mapped, but in no object */
	void *heap = malloc(64);
	ck_assert_int_eq(gt_sym_lookup((uintptr_t)heap, 1, &s), -ENOENT);
	free(heap);
}
END_TEST

START_TEST(reset_and_main)
{
	struct gt_sym s;

	ck_assert_uint_eq(gt_sym_main(), (uintptr_t)main);
	for (int i = 0; i < 3; i++) {
		gt_sym_reset();
		ck_assert_int_eq(gt_sym_lookup((uintptr_t)outer_function, 1, &s), 0);
		ck_assert_str_eq(s.func, "outer_function");
		ck_assert_uint_eq(gt_sym_main(), (uintptr_t)main);
	}
	/* many lookups: the cache grows */
	for (uintptr_t pc = (uintptr_t)outer_function; pc < (uintptr_t)outer_function + 20000; pc += 3)
		gt_sym_lookup(pc, 1, &s);
	ck_assert_int_eq(gt_sym_lookup((uintptr_t)outer_function, 1, &s), 0);
	ck_assert_str_eq(s.func, "outer_function");
}
END_TEST

/* What gt_symhint_report says: its notes, a "gotrace: " line each. */
static char buf[16384];
static size_t len;

static __attribute__((format(printf, 1, 2))) void say(const char *fmt, ...)
{
	va_list ap;

	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "gotrace: ");
	va_start(ap, fmt);
	len += (size_t)vsnprintf(buf + len, sizeof(buf) - len, fmt, ap);
	va_end(ap);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\n");
}

static char *report_text(void)
{
	len = 0;
	buf[0] = '\0';
	gt_symhint_report(say);
	return buf;
}

/* The end-of-trace hint: each pc counted once a trace, the objects with
 * the most such frames first, 16 named and the rest counted, the debug
 * file's build-id path, no build id said as such, nothing for [vdso], and
 * nothing at all for a trace whose frames all had names. */
START_TEST(symbol_hint)
{
	static const unsigned char id[] = { 0xab, 0xcd, 0x01, 0x23 };
	unsigned seen[40] = { 0 };
	char path[64];

	ck_assert_uint_eq(gt_symhint_object("[vdso]", NULL, 0), 0);
	unsigned a = gt_symhint_object("/opt/x/liba.so", id, sizeof(id));
	unsigned b = gt_symhint_object("/opt/x/b", NULL, 0);
	ck_assert_uint_gt(a, 0);
	ck_assert_uint_eq(gt_symhint_object("/opt/x/liba.so", id, sizeof(id)), a);
	for (int i = 0; i < 3; i++)      /* one pc looked up three times */
		gt_symhint_seen(a, &seen[0]);
	gt_symhint_seen(a, &seen[1]);
	for (int i = 2; i < 5; i++)
		gt_symhint_seen(b, &seen[i]);
	char *t = report_text();
	const char *la = strstr(t, "gotrace: 2 frames in /opt/x/liba.so have no symbol (shown as "
				"liba.so+0x...); its debug file would name them: "
				"/usr/lib/debug/.build-id/ab/cd0123.debug\n");
	const char *lb = strstr(t, "gotrace: 3 frames in /opt/x/b have no symbol (shown as "
				"b+0x...); it has no build id");
	ck_assert_msg(la && lb && lb < la, "%s", t);
	ck_assert_msg(strstr(t, "gotrace: to get a debug file: install its -dbgsym package"), "%s", t);
	ck_assert_str_eq(report_text(), "");   /* the next trace: nothing seen yet */
	gt_symhint_seen(a, &seen[0]);           /* the same pc, in the next trace */
	ck_assert_msg(strstr(report_text(), "gotrace: 1 frame in /opt/x/liba.so has no symbol"),
		      "counted again in a new trace");
	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/opt/y/lib%d.so", i);
		unsigned h = gt_symhint_object(path, id, sizeof(id));
		for (int k = 0; k <= i; k++) {
			seen[20 + k] = 0;
			gt_symhint_seen(h, &seen[20 + k]);
		}
	}
	t = report_text();
	ck_assert_msg(strstr(t, "gotrace: 20 frames in /opt/y/lib19.so") &&
		      strstr(t, "gotrace: 5 frames in /opt/y/lib4.so") &&
		      !strstr(t, "/opt/y/lib3.so") &&
		      strstr(t, "gotrace: and 4 more objects with frames without a symbol"), "%s", t);
	ck_assert_msg(strstr(t, "lib19.so") < strstr(t, "lib4.so"), "%s", t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("symbol");
	TCase *tc = tcase_create("lookup");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, return_address_static);
	tcase_add_test(tc, function_entry);
	tcase_add_test(tc, inlined_frames);
	tcase_add_test(tc, cpp_demangled);
	tcase_add_test(tc, demangled_names);
	tcase_add_test(tc, dlopen_after_first_lookup);
	tcase_add_test(tc, bad_pcs);
	tcase_add_test(tc, reset_and_main);
	tcase_add_test(tc, symbol_hint);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
