/* Built with -fomit-frame-pointer: no frame records. */
#include "hop.h"

__attribute__((noinline)) unsigned hop_nofp(const struct hop *h)
{
	unsigned r = h->next->fn(h->next);

	__asm__ volatile("" : "+r"(r) : : "memory");
	return r + 1;
}

/* rbp is callee-saved: the compiler saves it in the prologue (with its
 * CFI) and restores it; the callee sees (and pushes) 0x1234 as its
 * caller's record. check_unwind asserts that a frame-record walk breaks
 * here, so that the test shows the clobber took effect. */
__attribute__((noinline)) unsigned hop_clobber(const struct hop *h)
{
	__asm__ volatile("mov $0x1234, %%rbp" : : : "rbp");
	unsigned r = h->next->fn(h->next);

	__asm__ volatile("" : "+r"(r) : : "memory");
	return r + 1;
}
