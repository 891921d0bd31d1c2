/* rpc/cli.c - placeholder `gotrace` command. */
#include <stdio.h>

int main(void)
{
	fputs("usage: gotrace run [-o FILE] -- CMD [ARGS...]\n", stderr);
	return 2;
}
