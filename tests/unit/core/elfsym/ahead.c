/* ahead.c - a library the test links in front of libc that defines one of
 * libc's names: RTLD_NEXT from the executable finds this one first. */
#include <string.h>

char *strfry(char *s)
{
	return s;
}

/* A name no other object defines. */
int gt_elfsym_ahead_only(void)
{
	return 42;
}
