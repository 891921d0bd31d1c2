/* tests/bench/single.c - programs of one thread, where the library's own
 * service thread is what costs while idle: glibc takes its multi-threaded
 * paths (cancellable syscalls, stdio and arena locks) once a process has a
 * second thread. `single syscalls N`: N reads of 64 bytes from /dev/zero,
 * each written to /dev/null. `single stdio N`: N putc to /dev/null, then
 * the same number of getc from /dev/zero. `single spawn N`: N runs of
 * /bin/true (posix_spawn, then wait), the start-up cost of each process
 * that loads the library. `single malloc N`: mallocstorm's loop on the one
 * thread (N malloc/free pairs, 16 B - 4 KiB and 1 in 256 of 64-128 KiB, a
 * window of 64 live blocks): glibc's arena locks once threaded. Prints a
 * checksum. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 1000000;
	unsigned long sum = 0;

	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "syscalls")) {
		int in = open("/dev/zero", O_RDONLY), out = open("/dev/null", O_WRONLY);
		char b[64];
		for (long i = 0; i < n; i++) {
			if (read(in, b, sizeof(b)) != sizeof(b) || write(out, b, sizeof(b)) != sizeof(b))
				return 1;
			sum += (unsigned char)b[i & 63];
		}
	} else if (!strcmp(argv[1], "stdio")) {
		FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/zero", "r");
		if (!out || !in)
			return 1;
		for (long i = 0; i < n; i++)
			putc('a' + (int)(i & 7), out);
		for (long i = 0; i < n; i++)
			sum += (unsigned)getc(in);
		fclose(out);
		fclose(in);
	} else if (!strcmp(argv[1], "spawn")) {
		char *args[] = { "true", NULL };
		for (long i = 0; i < n; i++) {
			pid_t pid;
			int st;
			if (posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ) ||
			    waitpid(pid, &st, 0) != pid || st)
				return 1;
			sum++;
		}
	} else if (!strcmp(argv[1], "malloc")) {
		void *live[64] = { 0 };
		unsigned x = 2654435761u + 1;
		for (long i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			size_t size = (x & 0xff) == 0 ? 65536 + (x >> 16) : 16 + (x >> 20);
			int slot = (int)(x % 64);
			free(live[slot]);
			live[slot] = malloc(size);
			if (!live[slot])
				return 1;
			memset(live[slot], 1, 16);
			sum += size;
		}
		for (int i = 0; i < 64; i++)
			free(live[i]);
	} else {
		return 2;
	}
	printf("single %s: %lu\n", argv[1], sum);
	return 0;
}
