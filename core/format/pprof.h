/* core/format/pprof.h - pprof's profile.proto (github.com/google/pprof,
 * proto/profile.proto), written as Go's runtime/pprof writes it: the
 * messages a CPU profile needs, protobuf's wire format, and the gzip
 * around it. Pure code: memory from core/base/real.h's gt_malloc family,
 * no I/O. Any thread; a buffer belongs to its caller. */
#ifndef GT_FORMAT_PPROF_H
#define GT_FORMAT_PPROF_H

#include <stddef.h>
#include <stdint.h>

/* A growing buffer. err: memory ran out (what follows is dropped). */
struct gt_pb {
	uint8_t *p;
	size_t len, cap;
	int err;
};
void gt_pb_free(struct gt_pb *b);
void gt_pb_raw(struct gt_pb *b, const void *s, size_t n);

/* Fields (wire format): a varint (proto3: nothing when v is 0; an int64
 * is its two's complement), bytes (always written), packed varints. */
void gt_pb_varint(struct gt_pb *b, unsigned field, uint64_t v);
void gt_pb_bytes(struct gt_pb *b, unsigned field, const void *s, size_t n);
void gt_pb_packed(struct gt_pb *b, unsigned field, const uint64_t *v, size_t n);
/* A sub-message: begin returns the mark end takes; the length goes in
 * front of what was written between them. */
size_t gt_pb_begin(struct gt_pb *b, unsigned field);
void gt_pb_end(struct gt_pb *b, size_t mark);

/* profile.proto's Profile fields. */
enum {
	GT_PPROF_SAMPLE_TYPE = 1, GT_PPROF_SAMPLE, GT_PPROF_MAPPING, GT_PPROF_LOCATION,
	GT_PPROF_FUNCTION, GT_PPROF_STRING, GT_PPROF_DROP_FRAMES, GT_PPROF_KEEP_FRAMES,
	GT_PPROF_TIME_NANOS, GT_PPROF_DURATION_NANOS, GT_PPROF_PERIOD_TYPE, GT_PPROF_PERIOD,
	GT_PPROF_COMMENT, GT_PPROF_DEFAULT_SAMPLE_TYPE,
};

/* The string table: index 0 is "", each string once, in first-use order
 * (Profile.string_table). */
struct gt_pprof_strings {
	struct gt_pb text;       /* the strings' field-6 records, in order */
	uint64_t n;              /* strings so far */
	struct { uint64_t hash, idx; size_t off, len; } *slot;   /* by hash */
	size_t cap;
	int err;
};
void gt_pprof_strings_init(struct gt_pprof_strings *t);
uint64_t gt_pprof_str(struct gt_pprof_strings *t, const char *s);
void gt_pprof_strings_free(struct gt_pprof_strings *t);

/* The messages; string fields are indexes into the string table. */
void gt_pprof_value_type(struct gt_pb *b, unsigned field, uint64_t type, uint64_t unit);
void gt_pprof_sample(struct gt_pb *b, const uint64_t *loc, size_t nloc, const int64_t *val,
		     size_t nval);
struct gt_pprof_mapping {
	uint64_t id, start, limit, offset, file, build_id;
	int symbolized;          /* has_functions, _filenames, _line_numbers, _inline_frames */
};
void gt_pprof_mapping(struct gt_pb *b, const struct gt_pprof_mapping *m);
struct gt_pprof_line {
	uint64_t function;
	int64_t line;
};
/* Lines innermost first: the last is the function the others were
 * inlined into. */
void gt_pprof_location(struct gt_pb *b, uint64_t id, uint64_t mapping, uint64_t address,
		       const struct gt_pprof_line *line, size_t nline);
void gt_pprof_function(struct gt_pb *b, uint64_t id, uint64_t name, uint64_t system_name,
		       uint64_t file, int64_t start_line);

/* gzip (RFC 1952) around n bytes as deflate's stored blocks (RFC 1951
 * 3.2.4): what Go's tools read where zlib is not at hand. */
uint32_t gt_crc32(uint32_t crc, const void *p, size_t n);
void gt_gzip_stored(struct gt_pb *out, const void *in, size_t n);

#endif
