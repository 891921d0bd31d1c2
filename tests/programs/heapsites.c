/* tests/programs/heapsites.c - a known live heap for the heap profile
 * (issue 26): keep64 holds 8 blocks of 8 MiB (64 MiB), keep32 4 (32 MiB),
 * keep8 1 (8 MiB): at Go's 512 KiB rate a block of 8 MiB is missed with
 * probability e^-16 (one of 4 MiB, e^-8: CI once lost one of keep32's,
 * 12% of the site); churn allocates and frees 262144 blocks of 4 KiB (1 GiB
 * allocated, none kept).
 *
 *   heapsites      prints "ready", waits for a line, allocates, prints
 *                  "held", waits for a line, frees all, prints "freed",
 *                  waits for a line, exits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MB (1u << 20)

static char *blocks[32];
static int nblocks;

static __attribute__((noinline)) void keep(int n)
{
	for (int i = 0; i < n; i++) {
		char *p = malloc(8 * MB);
		memset(p, 1, 8 * MB);
		blocks[nblocks++] = p;
	}
}

static __attribute__((noinline)) void keep64(void) { keep(8); }
static __attribute__((noinline)) void keep32(void) { keep(4); }
static __attribute__((noinline)) void keep8(void) { keep(1); }

static __attribute__((noinline)) void churn(void)
{
	for (int i = 0; i < 262144; i++) {
		volatile char *p = malloc(4096);
		p[0] = (char)i;
		free((void *)p);
	}
}

static int line(void)
{
	char b[16];

	return fgets(b, sizeof(b), stdin) != NULL;
}

int main(void)
{
	printf("ready\n");
	fflush(stdout);
	if (!line())
		return 1;
	keep64();
	keep32();
	keep8();
	churn();
	printf("held\n");
	fflush(stdout);
	if (!line())
		return 1;
	for (int i = 0; i < nblocks; i++)
		free(blocks[i]);
	printf("freed\n");
	fflush(stdout);
	return line() ? 0 : 1;
}
