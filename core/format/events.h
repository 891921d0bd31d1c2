/* core/format/events.h - the Go 1.19 trace records libgotrace writes, declared once.
 * Expanded by the encoder, the decoder, the writer (stack discovery) and the
 * tests. Pure data; no state. */
#ifndef GT_EVENTS_H
#define GT_EVENTS_H

/* Timed events: X(name, wire type, args, stack)
 *   args  = values after the timestamp delta, including the stack id;
 *   stack = 1 when the last arg is a stack id (GoCreate's new-goroutine
 *           stack is arg 1 and is handled by name).
 * CPUSample's args: the sample's own time (absolute), P (~0: none), goid,
 * stack; Go's readers take it out of its batch and order it by that time,
 * so any batch may carry it (the service thread's, on P 0).
 * Numbers and layouts are those of Go 1.19 runtime/trace.go. */
#define GT_EVENTS(X)                  \
	X(Gomaxprocs, 4, 2, 1)        \
	X(ProcStart, 5, 1, 0)         \
	X(ProcStop, 6, 0, 0)          \
	X(GoCreate, 13, 3, 1)         \
	X(GoStart, 14, 2, 0)          \
	X(GoEnd, 15, 0, 0)            \
	X(GoStop, 16, 1, 1)           \
	X(GoSched, 17, 1, 1)          \
	X(GoPreempt, 18, 1, 1)        \
	X(GoSleep, 19, 1, 1)          \
	X(GoBlock, 20, 1, 1)          \
	X(GoUnblock, 21, 3, 1)        \
	X(GoBlockSend, 22, 1, 1)      \
	X(GoBlockRecv, 23, 1, 1)      \
	X(GoBlockSelect, 24, 1, 1)    \
	X(GoBlockSync, 25, 1, 1)      \
	X(GoBlockCond, 26, 1, 1)      \
	X(GoBlockNet, 27, 1, 1)       \
	X(GoSysCall, 28, 1, 1)        \
	X(GoSysExit, 29, 3, 0)        \
	X(GoSysBlock, 30, 0, 0)       \
	X(GoWaiting, 31, 1, 0)        \
	X(GoInSyscall, 32, 1, 0)      \
	X(HeapAlloc, 33, 1, 0)        \
	X(HeapGoal, 34, 1, 0)         \
	X(GoStartLabel, 41, 3, 0)     \
	X(UserLog, 48, 3, 1)          \
	X(CPUSample, 49, 4, 1)

enum gt_ev {
#define GT_EV_ENUM(name, type, args, stack) GT_EV_##name = type,
	GT_EVENTS(GT_EV_ENUM)
#undef GT_EV_ENUM
	GT_EV_Batch = 1,       /* untimed: p, ts (absolute) */
	GT_EV_Frequency = 2,   /* untimed: ticks per second */
	GT_EV_Stack = 3,       /* untimed: id, n, n x (pc, func, file, line) */
	GT_EV_String = 37,     /* untimed: id, len, bytes */
	GT_EV_COUNT = 50,
};

#define GT_TRACE_HEADER "go 1.19 trace\0\0\0"   /* exactly 16 bytes */
#define GT_TRACE_HEADER_LEN 16
#define GT_FREQUENCY 1000000000ull             /* CLOCK_MONOTONIC ns */
#define GT_MAX_ARGS 8                          /* any event we write */
#define GT_STACK_PAYLOAD_MAX 2048              /* Go 1.23+ limit */

/* Ids of the strings gotrace's writer defines at the start of every trace
 * (core/write/writer.c), before any other. */
enum gt_fixed_string {
	GT_STR_WAIT = 1,   /* "gotrace.wait" */
	GT_STR_MALLOC,     /* "malloc": big allocations */
	GT_STR_THREAD_NAME,/* "thread.name" */
	GT_STR_PROCESS,    /* "pid 1234: ./app arg...": the process, the label
			      of its main thread's goroutine (unless named) */
	GT_STR_FIXED_END,
};
#define GT_PROCESS_MAX 512   /* GT_STR_PROCESS's length at most */
/* Strings with ids from GT_STR_NOTES on are the writer's notes to whoever
 * reads the trace, in id order, written at its end ("16 frames in
 * /usr/bin/git have no symbol ..."): `gotrace run`, `stop`, `trace` and
 * `summary` print them; Go ignores strings no event names. */
#define GT_STR_NOTES (1ull << 48)
#define GT_NOTE_MAX 1000

#endif
