/* core/write/symhint.h - which objects had frames without a symbol in a
 * trace, and where the debug file that would name them goes; said once, at
 * the trace's end. Service thread only (no lock), as core/write/symbol.h. */
#ifndef GT_SYMHINT_H
#define GT_SYMHINT_H

/* The object at path (absolute) with build id id[0..len) (len <= 0: it has
 * none) holds a pc without a symbol. Returns its handle for gt_symhint_seen
 * (> 0); 0 when it gets no hint (not a file: [vdso]; out of memory). */
unsigned gt_symhint_object(const char *path, const unsigned char *id, int len);

/* That pc is in this trace's stacks: h is its object's handle (0: none),
 * *seen a word the caller keeps for the pc (0 at first), so that each pc
 * counts once a trace however often it is looked up. */
void gt_symhint_seen(unsigned h, unsigned *seen);

/* A trace starts: nothing seen in it yet (after a fork, the parent's
 * counts of a trace the child does not continue are dropped). */
void gt_symhint_start(void);

/* Once, through say (a line each; the writer's notes, gt_writer_note):
 * the objects with frames without a symbol since the last call (the trace
 * that is ending), each with the path its debug file would have
 * (/usr/lib/debug/.build-id/xx/yyyy.debug, where a Debian -dbgsym package
 * puts it), then how to get one. Nothing when every frame had a name. The
 * counts start again. */
void gt_symhint_report(void (*say)(const char *fmt, ...) __attribute__((format(printf, 1, 2))));

#endif
