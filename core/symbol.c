/* core/symbol.c - placeholder until the libdw symboliser lands. */
#include "core/symbol.h"

#include <errno.h>

int gt_sym_lookup(uintptr_t pc, int exact, struct gt_sym *out)
{
	(void)pc;
	(void)exact;
	out->func = "?";
	out->file = "?";
	out->line = 0;
	out->entry = 0;
	return -ENOENT;
}

uintptr_t gt_sym_main(void)
{
	return 0;
}

void gt_sym_reset(void)
{
}
