/* core/base/real.h - the real libc functions: the ones the hooks forward
 * to, and the only way core calls a function a hook of ours defines.
 * Resolved with dlsym(RTLD_NEXT) in the constructor, lazily by whoever
 * needs one first (a hook before main, in another library's constructor;
 * the unit tests, which have no hooks). While a one-thread program's
 * doorman is armed, some entries point at safe-point trampolines
 * (preload/armed.c), which pass through untouched while in_tracer is up. */
#ifndef GT_BASE_REAL_H
#define GT_BASE_REAL_H

#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "core/base/fdkind.h"
#include "core/base/visibility.h"

struct timespec;
typedef const struct timespec *gt_ts;
struct aiocb;
struct aiocb64;
struct gaicb;

/* X(name, return type, (params)) */
#define GT_REAL_FNS(X)                                                                     \
	X(pthread_create, int, (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *)) \
	X(execve, int, (const char *, char *const[], char *const[]))                      \
	X(execv, int, (const char *, char *const[]))                                      \
	X(execvp, int, (const char *, char *const[]))                                     \
	X(execvpe, int, (const char *, char *const[], char *const[]))                     \
	X(fexecve, int, (int, char *const[], char *const[]))                              \
	X(execveat, int, (int, const char *, char *const[], char *const[], int))          \
	X(_exit, void, (int))                                                             \
	X(pthread_setname_np, int, (pthread_t, const char *))                             \
	X(prctl, int, (int, ...))                                                         \
	X(setsid, pid_t, (void))                                                          \
	X(unshare, int, (int))                                                            \
	X(setns, int, (int, int))                                                         \
	X(dlclose, int, (void *))                                                         \
	X(_Exit, void, (int))                                                             \
	X(sigaction, int, (int, const struct sigaction *, struct sigaction *))            \
	X(signal, sighandler_t, (int, sighandler_t))                                      \
	X(sigaltstack, int, (const stack_t *, stack_t *))                                  \
	X(read, ssize_t, (int, void *, size_t))                                           \
	X(write, ssize_t, (int, const void *, size_t))                                    \
	X(readv, ssize_t, (int, const struct iovec *, int))                               \
	X(writev, ssize_t, (int, const struct iovec *, int))                              \
	X(pread, ssize_t, (int, void *, size_t, off_t))                                   \
	X(pread64, ssize_t, (int, void *, size_t, off_t))                                 \
	X(pwrite, ssize_t, (int, const void *, size_t, off_t))                            \
	X(pwrite64, ssize_t, (int, const void *, size_t, off_t))                          \
	X(preadv, ssize_t, (int, const struct iovec *, int, off_t))                       \
	X(preadv64, ssize_t, (int, const struct iovec *, int, off_t))                     \
	X(pwritev, ssize_t, (int, const struct iovec *, int, off_t))                      \
	X(pwritev64, ssize_t, (int, const struct iovec *, int, off_t))                    \
	X(preadv2, ssize_t, (int, const struct iovec *, int, off_t, int))                 \
	X(pwritev2, ssize_t, (int, const struct iovec *, int, off_t, int))                \
	X(__read_chk, ssize_t, (int, void *, size_t, size_t))                             \
	X(__pread_chk, ssize_t, (int, void *, size_t, off_t, size_t))                     \
	X(__pread64_chk, ssize_t, (int, void *, size_t, off_t, size_t))                   \
	X(open, int, (const char *, int, ...))                                            \
	X(open64, int, (const char *, int, ...))                                          \
	X(openat, int, (int, const char *, int, ...))                                     \
	X(openat64, int, (int, const char *, int, ...))                                   \
	X(__open_2, int, (const char *, int))                                             \
	X(__open64_2, int, (const char *, int))                                           \
	X(__openat_2, int, (int, const char *, int))                                      \
	X(__openat64_2, int, (int, const char *, int))                                    \
	X(close, int, (int))                                                              \
	X(close_range, int, (unsigned, unsigned, int))                                    \
	X(closefrom, void, (int))                                                         \
	X(pipe2, int, (int *, int))                                                       \
	X(dup2, int, (int, int))                                                          \
	X(dup3, int, (int, int, int))                                                     \
	X(fsync, int, (int))                                                              \
	X(fdatasync, int, (int))                                                          \
	X(flock, int, (int, int))                                                         \
	X(fcntl, int, (int, int, ...))                                                    \
	X(fcntl64, int, (int, int, ...))                                                  \
	X(lockf, int, (int, int, off_t))                                                  \
	X(lockf64, int, (int, int, off_t))                                                \
	X(wait, pid_t, (int *))                                                           \
	X(waitpid, pid_t, (pid_t, int *, int))                                            \
	X(waitid, int, (idtype_t, id_t, siginfo_t *, int))                                \
	X(wait3, pid_t, (int *, int, struct rusage *))                                    \
	X(wait4, pid_t, (pid_t, int *, int, struct rusage *))                             \
	X(socket, int, (int, int, int))                                                   \
	X(socketpair, int, (int, int, int, int *))                                        \
	X(accept, int, (int, struct sockaddr *, socklen_t *))                             \
	X(accept4, int, (int, struct sockaddr *, socklen_t *, int))                       \
	X(connect, int, (int, const struct sockaddr *, socklen_t))                        \
	X(listen, int, (int, int))                                                        \
	X(recv, ssize_t, (int, void *, size_t, int))                                      \
	X(recvfrom, ssize_t, (int, void *, size_t, int, struct sockaddr *, socklen_t *))  \
	X(recvmsg, ssize_t, (int, struct msghdr *, int))                                  \
	X(recvmmsg, int, (int, struct mmsghdr *, unsigned, int, struct timespec *))       \
	X(send, ssize_t, (int, const void *, size_t, int))                                \
	X(sendto, ssize_t, (int, const void *, size_t, int, const struct sockaddr *, socklen_t)) \
	X(sendmsg, ssize_t, (int, const struct msghdr *, int))                            \
	X(sendmmsg, int, (int, struct mmsghdr *, unsigned, int))                          \
	X(__recv_chk, ssize_t, (int, void *, size_t, size_t, int))                        \
	X(__recvfrom_chk, ssize_t, (int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *)) \
	X(poll, int, (struct pollfd *, nfds_t, int))                                      \
	X(ppoll, int, (struct pollfd *, nfds_t, gt_ts, const sigset_t *))                 \
	X(__poll_chk, int, (struct pollfd *, nfds_t, int, size_t))                        \
	X(__ppoll_chk, int, (struct pollfd *, nfds_t, gt_ts, const sigset_t *, size_t))   \
	X(select, int, (int, fd_set *, fd_set *, fd_set *, struct timeval *))             \
	X(pselect, int, (int, fd_set *, fd_set *, fd_set *, gt_ts, const sigset_t *))     \
	X(epoll_wait, int, (int, struct epoll_event *, int, int))                         \
	X(epoll_pwait, int, (int, struct epoll_event *, int, int, const sigset_t *))      \
	X(epoll_ctl, int, (int, int, int, struct epoll_event *))                          \
	X(nanosleep, int, (gt_ts, struct timespec *))                                     \
	X(clock_nanosleep, int, (clockid_t, int, gt_ts, struct timespec *))               \
	X(usleep, int, (useconds_t))                                                      \
	X(sleep, unsigned, (unsigned))                                                    \
	X(pause, int, (void))                                                             \
	X(sigsuspend, int, (const sigset_t *))                                            \
	X(sigwait, int, (const sigset_t *, int *))                                        \
	X(sigwaitinfo, int, (const sigset_t *, siginfo_t *))                              \
	X(sigtimedwait, int, (const sigset_t *, siginfo_t *, gt_ts))                      \
	X(pthread_mutex_lock, int, (pthread_mutex_t *))                                   \
	X(pthread_mutex_trylock, int, (pthread_mutex_t *))                                \
	X(pthread_mutex_timedlock, int, (pthread_mutex_t *, gt_ts))                       \
	X(pthread_mutex_clocklock, int, (pthread_mutex_t *, clockid_t, gt_ts))            \
	X(pthread_rwlock_rdlock, int, (pthread_rwlock_t *))                               \
	X(pthread_rwlock_wrlock, int, (pthread_rwlock_t *))                               \
	X(pthread_rwlock_tryrdlock, int, (pthread_rwlock_t *))                            \
	X(pthread_rwlock_trywrlock, int, (pthread_rwlock_t *))                            \
	X(pthread_rwlock_timedrdlock, int, (pthread_rwlock_t *, gt_ts))                   \
	X(pthread_rwlock_timedwrlock, int, (pthread_rwlock_t *, gt_ts))                   \
	X(pthread_rwlock_clockrdlock, int, (pthread_rwlock_t *, clockid_t, gt_ts))        \
	X(pthread_rwlock_clockwrlock, int, (pthread_rwlock_t *, clockid_t, gt_ts))        \
	X(pthread_cond_wait, int, (pthread_cond_t *, pthread_mutex_t *))                  \
	X(pthread_cond_timedwait, int, (pthread_cond_t *, pthread_mutex_t *, gt_ts))      \
	X(pthread_cond_clockwait, int, (pthread_cond_t *, pthread_mutex_t *, clockid_t, gt_ts)) \
	X(sem_wait, int, (sem_t *))                                                       \
	X(sem_trywait, int, (sem_t *))                                                    \
	X(sem_timedwait, int, (sem_t *, gt_ts))                                           \
	X(sem_clockwait, int, (sem_t *, clockid_t, gt_ts))                                \
	X(pthread_barrier_wait, int, (pthread_barrier_t *))                               \
	X(syscall, long, (long, ...))                                                     \
	X(pthread_join, int, (pthread_t, void **))                                        \
	X(pthread_timedjoin_np, int, (pthread_t, void **, gt_ts))                         \
	X(pthread_clockjoin_np, int, (pthread_t, void **, clockid_t, gt_ts))              \
	X(malloc, void *, (size_t))                                                       \
	X(free, void, (void *))                                                           \
	X(calloc, void *, (size_t, size_t))                                               \
	X(realloc, void *, (void *, size_t))                                              \
	X(reallocarray, void *, (void *, size_t, size_t))                                 \
	X(posix_memalign, int, (void **, size_t, size_t))                                 \
	X(aligned_alloc, void *, (size_t, size_t))                                        \
	X(memalign, void *, (size_t, size_t))                                             \
	X(valloc, void *, (size_t))                                                       \
	X(pvalloc, void *, (size_t))                                                      \
	X(malloc_usable_size, size_t, (void *))                                           \
	X(fopen, FILE *, (const char *, const char *))                                    \
	X(fopen64, FILE *, (const char *, const char *))                                  \
	X(fdopen, FILE *, (int, const char *))                                            \
	X(tmpfile, FILE *, (void))                                                        \
	X(tmpfile64, FILE *, (void))                                                      \
	X(popen, FILE *, (const char *, const char *))                                    \
	X(fmemopen, FILE *, (void *, size_t, const char *))                               \
	X(open_memstream, FILE *, (char **, size_t *))                                    \
	X(fopencookie, FILE *, (void *, const char *, cookie_io_functions_t))             \
	X(fclose, int, (FILE *))                                                          \
	X(pclose, int, (FILE *))                                                          \
	X(thrd_create, int, (unsigned long *, int (*)(void *), void *))                   \
	X(timer_create, int, (clockid_t, struct sigevent *, timer_t *))                   \
	X(mq_notify, int, (int, const struct sigevent *))                                 \
	X(aio_read, int, (struct aiocb *))                                                \
	X(aio_read64, int, (struct aiocb64 *))                                            \
	X(aio_write, int, (struct aiocb *))                                               \
	X(aio_write64, int, (struct aiocb64 *))                                           \
	X(aio_fsync, int, (int, struct aiocb *))                                          \
	X(aio_fsync64, int, (int, struct aiocb64 *))                                      \
	X(lio_listio, int, (int, struct aiocb *const[], int, struct sigevent *))          \
	X(lio_listio64, int, (int, struct aiocb64 *const[], int, struct sigevent *))      \
	X(getaddrinfo_a, int, (int, struct gaicb *[], int, struct sigevent *))

struct gt_real {
#define GT_REAL_FIELD(name, ret, params) ret(*name) params;
	GT_REAL_FNS(GT_REAL_FIELD)
#undef GT_REAL_FIELD
};

extern struct gt_real gt_real GT_HIDDEN;

/* > 0 while dlsym runs for us: dlsym may allocate, and the malloc hooks
 * then serve it from their bootstrap buffer (preload/malloc.c). */
extern int gt_real_resolving GT_HIDDEN;

/* Resolve one function (dlsym RTLD_NEXT). A function libc lacks (older
 * glibc) gets a stand-in that fails with ENOSYS. */
void *gt_real_resolve(const char *name);
/* Resolve every function of the table not resolved yet. */
void gt_real_init(void);
/* The name stacks show for the function of the table at fn ("read" for
 * __read_chk; the first entry's name where two share an address), or NULL
 * if fn is none of them. Asked when a trace or profile is written. */
const char *gt_real_name_of(uintptr_t fn);
/* fn stands in a slot of the table for as, now or once (the service
 * thread, core/process/solo.c): it is named as as is. */
void gt_real_alias(uintptr_t fn, uintptr_t as);

static inline void *gt_real_get(void **slot, const char *name)
{
	void *p = __atomic_load_n(slot, __ATOMIC_RELAXED);

	if (__builtin_expect(p == NULL, 0)) {
		p = gt_real_resolve(name);
		__atomic_store_n(slot, p, __ATOMIC_RELAXED);
	}
	return p;
}

#define GT_REAL(name) ((__typeof__(gt_real.name))gt_real_get((void **)&gt_real.name, #name))

/* Names core uses for the libc functions our hooks define: straight to
 * libc, never through a hook (scripts/check-layers holds core to it). */
/* Those that make or end fds tell core/base/fdkind.h as the hooks they
 * bypass do (which keeps the program's fds only: core calls them from
 * tracer code, in_tracer up, but for the unit tests). */
static inline int gt_close(int fd)
{
	int r = GT_REAL(close)(fd);

	gt_fd_note_call(fd, GT_FD_UNKNOWN);
	return r;
}
static inline ssize_t gt_read(int fd, void *b, size_t n) { return GT_REAL(read)(fd, b, n); }
static inline ssize_t gt_write(int fd, const void *b, size_t n) { return GT_REAL(write)(fd, b, n); }
static inline ssize_t gt_pwrite(int fd, const void *b, size_t n, off_t o)
{
	return GT_REAL(pwrite64)(fd, b, n, o);
}
#define gt_open(...) GT_REAL(open64)(__VA_ARGS__)
#define gt_fcntl(...) GT_REAL(fcntl64)(__VA_ARGS__)
static inline int gt_poll(struct pollfd *p, nfds_t n, int ms) { return GT_REAL(poll)(p, n, ms); }
static inline void *gt_malloc(size_t n) { return GT_REAL(malloc)(n); }
static inline void *gt_calloc(size_t n, size_t m) { return GT_REAL(calloc)(n, m); }
static inline void *gt_realloc(void *p, size_t n) { return GT_REAL(realloc)(p, n); }
static inline void gt_free(void *p) { GT_REAL(free)(p); }
/* Tracer strings in gt_malloc's memory (libc's strdup takes the program's
 * malloc, which may be an allocator of its own: gt_free would then be
 * handed a block it never made). */
char *gt_strdup(const char *s);
/* Memory a library made for us (libdw's arrays, the demangler's names,
 * libc's strdup for libdw) goes back to the free those libraries call:
 * the process's first, which is an allocator the program brings where it
 * has one (rustc's jemalloc, another preloaded before us), else ours
 * (then gt_real's free, past our hook). Service thread. Which one is
 * asked of the loader (dlsym, dladdr) by gt_free_lib_prepare, before the
 * first symbols (gt_sym_prepare): see gt_ctl_prepare. */
void gt_free_lib(void *p);
void gt_free_lib_prepare(void);
static inline int gt_usleep(useconds_t us) { return GT_REAL(usleep)(us); }
static inline int gt_pause(void) { return GT_REAL(pause)(); }
static inline int gt_socketpair(int d, int t, int p, int sv[2])
{
	int r = GT_REAL(socketpair)(d, t, p, sv);

	if (r == 0) {
		gt_fd_note_call(sv[0], GT_FD_SOCKET);
		gt_fd_note_call(sv[1], GT_FD_SOCKET);
	}
	return r;
}
static inline ssize_t gt_recvmsg(int fd, struct msghdr *m, int f) { return GT_REAL(recvmsg)(fd, m, f); }
static inline ssize_t gt_sendmsg(int fd, const struct msghdr *m, int f) { return GT_REAL(sendmsg)(fd, m, f); }
static inline int gt_dup3(int a, int b, int f)
{
	int r = GT_REAL(dup3)(a, b, f);

	gt_fd_note_call(b, GT_FD_UNKNOWN);
	return r;
}
static inline int gt_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
	return GT_REAL(pthread_create)(t, a, fn, arg);
}
static inline int gt_pthread_join(pthread_t t, void **r) { return GT_REAL(pthread_join)(t, r); }
/* libc's syscall(): -1 and errno on failure (core/base/sys.h has raw ones). */
#define gt_syscall(...) GT_REAL(syscall)(__VA_ARGS__)

#endif
