#ifndef SLUICE_URING_H
#define SLUICE_URING_H
/* io_uring glue for the storage engine. liburing.h is included only in the .c file:
   including it here would change glibc's feature macros for every importer (see the
   CLiburing shim). Only the broker links this target; the client never does. */
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct io_uring;

/* SQE flags that liburing defines from enum members, which Swift cannot see. */
extern const unsigned sluice_iosqe_io_link;
extern const unsigned sluice_iosqe_io_drain;
extern const unsigned sluice_iosqe_async;

/* Allocates and initialises a ring with `entries` slots; NULL with -errno in *error when
   the kernel, a seccomp profile or a sandbox refuses io_uring. */
struct io_uring *sluice_uring_create(unsigned entries, int *error);
void sluice_uring_destroy(struct io_uring *ring);

/* Queue a write or fdatasync. Returns 0, or -EBUSY when the submission queue is full.
   `flags` are IOSQE_* flags (for example sluice_iosqe_io_link to chain an fdatasync). */
int sluice_uring_prep_write(struct io_uring *ring, int fd, const void *buffer, unsigned length,
                            uint64_t offset, uint64_t user_data, unsigned flags);
/* Queue a vectored write of `count` iovecs (`iovecs` points at struct iovec entries, which must
   stay valid until the completion arrives). */
int sluice_uring_prep_writev(struct io_uring *ring, int fd, const void *iovecs, unsigned count,
                             uint64_t offset, uint64_t user_data, unsigned flags);
int sluice_uring_prep_fdatasync(struct io_uring *ring, int fd, uint64_t user_data, unsigned flags);

/* Submits queued SQEs; returns the count submitted or -errno. */
int sluice_uring_submit(struct io_uring *ring);

/* Waits for at least `wait_for` completions (0: do not block), then copies up to `capacity`
   completions into the arrays and marks them seen. Returns the number copied or -errno. */
int sluice_uring_reap(struct io_uring *ring, unsigned wait_for, uint64_t *user_data, int32_t *results,
                      unsigned capacity);

/* syncfs(2), which glibc declares only under _GNU_SOURCE (set for this target): makes every file
   written on fd's file system durable. Returns 0 or -1 with errno. */
int sluice_syncfs(int fd);

/* sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE): starts writeback of a byte range
   without waiting for it. Returns 0 or -1 with errno. */
int sluice_start_writeback(int fd, int64_t offset, int64_t length);

/* Whether fd's file system takes a buffered write with RWF_NOWAIT (FMODE_BUF_WASYNC): 1 yes,
   0 no (EOPNOTSUPP: io_uring then hands every buffered write of that file system to its worker
   threads), -errno when the probe itself failed. Writes one byte at offset 0 of fd. */
int sluice_buffered_nowait_write_supported(int fd);

/* How many CPUs this thread may run on (sched_getaffinity): fewer than the machine has under
   taskset or a cpuset. -errno when the call failed. */
int sluice_schedulable_cpu_count(void);

/* Names the calling thread (top, perf, /proc; Linux keeps 15 bytes) and, when batch is
   nonzero, moves it to SCHED_BATCH: its wake-ups then do not preempt the thread that woke it.
   0, or -errno of the first call that failed. */
int sluice_configure_current_thread(const char *name, int batch);

#ifdef __cplusplus
}
#endif
#endif
