/* core/write/describe.c - the process's description, GT_STR_PROCESS: made
 * at each trace's open (core/write/writer.c). Service thread only. */
#include "core/write/writer.h"

#include <fcntl.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/format/events.h"
#include "core/base/real.h"

char gt_process_desc[GT_PROCESS_MAX + 1];

/* "pid 1234: ./app arg1 arg2": the process's pid and command line (its
 * arguments as they are now, spaces between; cut at GT_PROCESS_MAX), for
 * the summary and as its main thread's label, so that the traces of a
 * process tree (gotrace run -f, GOTRACE_FILE with %p) say whose they are.
 * Control characters become spaces: Go prints labels in lines. */
void gt_describe_process(void)
{
	char *process = gt_process_desc;
	size_t n = gt_fmt(process, sizeof(gt_process_desc), "pid %ld: ", (long)getpid());
	int fd = gt_open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t k = 0;

	if (fd >= 0) {
		k = gt_read(fd, process + n, sizeof(gt_process_desc) - 1 - n);
		gt_close(fd);
	}
	if (k <= 0) {
		process[n - 2] = '\0';   /* "pid 1234" */
		return;
	}
	while (k > 0 && !process[n + (size_t)k - 1])
		k--;
	for (ssize_t i = 0; i < k; i++)   /* one line: arguments may hold newlines */
		if ((unsigned char)process[n + (size_t)i] < ' ' || process[n + (size_t)i] == 0x7f)
			process[n + (size_t)i] = ' ';
	process[n + (size_t)k] = '\0';
}
