/* check_real.c - the constructor's own look-up (core/base/elfsym.c) gives
 * what dlsym(RTLD_NEXT) gives, for every real function of the table and for
 * the cases it must get right: a versioned name (the default version, not
 * the compat one), a name an object ahead of libc also defines (the first
 * wins), a name only hidden versions define (none), an absent name. Where it
 * cannot be sure (an IFUNC) it says so (NULL), and gt_real_init then asks
 * dlsym. The test executable is "our object" here: core is linked into
 * it, so RTLD_NEXT from it and the walk after its map search the same
 * objects, as they do from the preloaded library. */
#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/elfsym.h"
#include "core/base/real.h"
#include "tests/unit/check_main.h"

int gt_elfsym_ahead_only(void);

static const char *const names[] = {
#define NAME(name, ret, params) #name,
	GT_REAL_FNS(NAME)
#undef NAME
};

START_TEST(test_table_matches_dlsym)
{
	unsigned same = 0, unsure = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		void *ours = gt_elfsym_next(names[i]);
		void *theirs = dlsym(RTLD_NEXT, names[i]);

		if (!ours && theirs) {
			unsure++;
			continue;
		}
		ck_assert_msg(ours == theirs, "%s: %p, dlsym %p", names[i], ours, theirs);
		same++;
	}
	/* a few are IFUNCs or absent; most must be answered */
	ck_assert_msg(same > 100 && unsure < 8, "same %u, unsure %u", same, unsure);
}
END_TEST

static int in_libc(void *p)
{
	Dl_info di;

	return p && dladdr(p, &di) && di.dli_fname && strstr(di.dli_fname, "/libc.so");
}

START_TEST(test_cases)
{
	/* default version GLIBC_2.3.2, not the compat GLIBC_2.2.5 (where
	 * libc's comes first: a sanitizer's interceptor may) */
	ck_assert_ptr_eq(gt_elfsym_next("pthread_cond_wait"), dlsym(RTLD_NEXT, "pthread_cond_wait"));
	ck_assert_ptr_eq(gt_elfsym_next("realpath"), dlsym(RTLD_NEXT, "realpath"));
	if (in_libc(dlsym(RTLD_NEXT, "pthread_cond_wait"))) {
		ck_assert_ptr_eq(gt_elfsym_next("pthread_cond_wait"),
				 dlvsym(RTLD_NEXT, "pthread_cond_wait", "GLIBC_2.3.2"));
		ck_assert_ptr_ne(gt_elfsym_next("pthread_cond_wait"),
				 dlvsym(RTLD_NEXT, "pthread_cond_wait", "GLIBC_2.2.5"));
	}
	if (in_libc(dlsym(RTLD_NEXT, "realpath")))
		ck_assert_ptr_ne(gt_elfsym_next("realpath"), dlvsym(RTLD_NEXT, "realpath", "GLIBC_2.2.5"));
	/* the object ahead of libc wins, as for the loader */
	void *fry = gt_elfsym_next("strfry");
	ck_assert_ptr_nonnull(fry);
	ck_assert_ptr_eq(fry, dlsym(RTLD_NEXT, "strfry"));
	ck_assert_ptr_ne(fry, dlsym(dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD), "strfry"));
	ck_assert_ptr_eq(gt_elfsym_next("gt_elfsym_ahead_only"), (void *)gt_elfsym_ahead_only);
	/* only hidden (compat) versions: the loader gives none */
	ck_assert_ptr_null(dlsym(RTLD_NEXT, "sys_errlist"));
	ck_assert_ptr_null(gt_elfsym_next("sys_errlist"));
	ck_assert_ptr_null(gt_elfsym_next("gt_no_such_function_anywhere"));
	/* libc's strlen is an IFUNC: dlsym runs its resolver, we do not
	 * guess. Under a sanitizer its interceptor comes first: found. */
	void *d = dlsym(RTLD_NEXT, "strlen");
	ck_assert_ptr_nonnull(d);
	if (in_libc(d))
		ck_assert_ptr_null(gt_elfsym_next("strlen"));
	else
		ck_assert_ptr_eq(gt_elfsym_next("strlen"), d);
}
END_TEST

/* An object without a GNU hash table (dlopened RTLD_GLOBAL: last in the
 * chain, in the global scope), then one with it defining the same name:
 * the loader finds the first one's, which the look-up cannot read, so it
 * must leave the name to dlsym, not answer with the second's. */
START_TEST(test_sysv_only_object)
{
	const char *sysv = getenv("GT_ELFSYM_SYSV"), *later = getenv("GT_ELFSYM_LATER");

	ck_assert_msg(sysv && later, "GT_ELFSYM_SYSV, GT_ELFSYM_LATER not set (meson test sets them)");
	void *h = dlopen(sysv, RTLD_NOW | RTLD_GLOBAL), *h2 = dlopen(later, RTLD_NOW | RTLD_GLOBAL);
	ck_assert_msg(h && h2, "%s", dlerror());
	void *first = dlsym(RTLD_NEXT, "gt_elfsym_sysv_only");
	ck_assert_ptr_eq(first, dlsym(h, "gt_elfsym_sysv_only"));
	ck_assert_ptr_ne(first, dlsym(h2, "gt_elfsym_sysv_only"));
	gt_elfsym_forget();
	ck_assert_ptr_null(gt_elfsym_next("gt_elfsym_sysv_only"));
	/* names found before it are answered as before */
	ck_assert_ptr_eq(gt_elfsym_next("read"), dlsym(RTLD_NEXT, "read"));
	ck_assert_ptr_nonnull(gt_elfsym_next("read"));
}
END_TEST

/* gt_real_init fills the table through it, dlsym behind it. */
START_TEST(test_real_init)
{
	gt_real_init();
#define SAME(name, ret, params)                                                         \
	{                                                                               \
		void *d = dlsym(RTLD_NEXT, #name);                                      \
		if (d)                                                                  \
			ck_assert_msg((void *)gt_real.name == d, #name);                \
	}
	GT_REAL_FNS(SAME)
#undef SAME
}
END_TEST

int main(void)
{
	Suite *s = suite_create("real");
	TCase *tc = tcase_create("elfsym");

	tcase_add_test(tc, test_table_matches_dlsym);
	tcase_add_test(tc, test_cases);
	tcase_add_test(tc, test_real_init);
	tcase_add_test(tc, test_sysv_only_object);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
