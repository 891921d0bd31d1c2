/* Built with -fno-omit-frame-pointer: every frame keeps its record. */
#include "hop.h"

__attribute__((noinline)) unsigned hop_fp(const struct hop *h)
{
	unsigned r = h->next->fn(h->next);

	__asm__ volatile("" : "+r"(r) : : "memory");
	return r + 1;
}

__attribute__((noinline)) unsigned hop_rec(unsigned depth, const struct hop *h)
{
	unsigned r = depth ? hop_rec(depth - 1, h) : h->fn(h);

	__asm__ volatile("" : "+r"(r) : : "memory");
	return r + 1;
}
