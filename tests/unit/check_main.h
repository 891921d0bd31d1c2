/* tests/unit/check_main.h - how every unit test's main() ends: run the
 * suite (CK_NORMAL output) and exit non-zero if any test failed. */
#ifndef GT_CHECK_MAIN_H
#define GT_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static inline int gt_check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
