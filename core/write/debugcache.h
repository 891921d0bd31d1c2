/* core/write/debugcache.h - inflated copies of compressed debug files
 * (core/write/debugcache.c), for the symboliser. */
#ifndef GT_DEBUGCACHE_H
#define GT_DEBUGCACHE_H

#include <libelf.h>
#include <sys/types.h>

/* The debug file for build id `id`: the cache's inflated copy, else the
 * file under /usr/lib/debug/.build-id (its copy, written first, when its
 * sections are compressed). Its fd, *path its name (malloc'd); -1 when
 * neither is there or the cache is off. */
int gt_debugcache_find(const unsigned char *id, int id_len, char **path,
		       ssize_t (*build_id)(Elf *, const void **));
/* fd: a debug file found for the object of build id `id`, *path its name
 * (malloc'd). When that file's sections are compressed, the cache's
 * inflated copy instead (written first if missing): fd closed, *path
 * replaced, the copy's fd returned. Else fd. build_id: libdwelf's
 * dwelf_elf_gnu_build_id. Service thread. */
int gt_debugcache_swap(int fd, char **path, const unsigned char *id, int id_len,
		       ssize_t (*build_id)(Elf *, const void **));

#endif
