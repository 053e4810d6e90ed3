#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <features.h>
#include <liburing.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/uio.h>
#include <sched.h>
#include <pthread.h>
#include "CSluiceUring.h"

const unsigned sluice_iosqe_io_link = IOSQE_IO_LINK;
const unsigned sluice_iosqe_io_drain = IOSQE_IO_DRAIN;
const unsigned sluice_iosqe_async = IOSQE_ASYNC;

struct io_uring *sluice_uring_create(unsigned entries, int *error) {
    struct io_uring *ring = calloc(1, sizeof *ring);
    if (!ring) { *error = -ENOMEM; return NULL; }
    int rc = io_uring_queue_init(entries, ring, 0);
    if (rc < 0) { free(ring); *error = rc; return NULL; }
    *error = 0;
    return ring;
}

void sluice_uring_destroy(struct io_uring *ring) {
    if (!ring) return;
    io_uring_queue_exit(ring);
    free(ring);
}

int sluice_uring_prep_write(struct io_uring *ring, int fd, const void *buffer, unsigned length,
                            uint64_t offset, uint64_t user_data, unsigned flags) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) return -EBUSY;
    io_uring_prep_write(sqe, fd, buffer, length, offset);
    io_uring_sqe_set_data64(sqe, user_data);
    io_uring_sqe_set_flags(sqe, flags);
    return 0;
}

int sluice_uring_prep_writev(struct io_uring *ring, int fd, const void *iovecs, unsigned count,
                             uint64_t offset, uint64_t user_data, unsigned flags) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) return -EBUSY;
    io_uring_prep_writev(sqe, fd, (const struct iovec *)iovecs, count, offset);
    io_uring_sqe_set_data64(sqe, user_data);
    io_uring_sqe_set_flags(sqe, flags);
    return 0;
}

int sluice_uring_prep_fdatasync(struct io_uring *ring, int fd, uint64_t user_data, unsigned flags) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) return -EBUSY;
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, user_data);
    io_uring_sqe_set_flags(sqe, flags);
    return 0;
}

int sluice_uring_submit(struct io_uring *ring) { return io_uring_submit(ring); }

int sluice_uring_reap(struct io_uring *ring, unsigned wait_for, uint64_t *user_data, int32_t *results,
                      unsigned capacity) {
    if (wait_for > 0) {
        struct io_uring_cqe *first;
        int rc;
        do { rc = io_uring_wait_cqe_nr(ring, &first, wait_for); } while (rc == -EINTR);
        if (rc < 0) return rc;
    }
    unsigned head, count = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(ring, head, cqe) {
        if (count == capacity) break;
        user_data[count] = io_uring_cqe_get_data64(cqe);
        results[count] = cqe->res;
        count++;
    }
    io_uring_cq_advance(ring, count);
    return (int)count;
}

int sluice_syncfs(int fd) {
    return syncfs(fd);
}

int sluice_start_writeback(int fd, int64_t offset, int64_t length) {
    return sync_file_range(fd, (off64_t)offset, (off64_t)length, SYNC_FILE_RANGE_WRITE);
}

int sluice_buffered_nowait_write_supported(int fd) {
    char byte = 0;
    struct iovec vector = { .iov_base = &byte, .iov_len = 1 };
    ssize_t n;
    do { n = pwritev2(fd, &vector, 1, 0, RWF_NOWAIT); } while (n < 0 && errno == EINTR);
    if (n >= 0 || errno == EAGAIN) return 1;
    if (errno == EOPNOTSUPP) return 0;
    return -errno;
}

int sluice_schedulable_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -errno;
    return CPU_COUNT(&set);
}

int sluice_configure_current_thread(const char *name, int batch) {
    int rc = pthread_setname_np(pthread_self(), name);
    if (rc != 0) return -rc;
    if (batch) {
        struct sched_param parameters = {0};
        if (sched_setscheduler(0, SCHED_BATCH, &parameters) != 0) return -errno;
    }
    return 0;
}
