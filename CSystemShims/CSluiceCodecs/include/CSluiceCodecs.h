#ifndef SLUICE_CODECS_H
#define SLUICE_CODECS_H
/* C glue for what Swift cannot reach directly: hardware CRC-32C and zlib's init macros.
   Everything here is safe for the client product: no liburing, no broker code. */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CRC-32C (Castagnoli), as Kafka's record batch v2 uses it. `crc` is the running value
   (start with 0); the result can be fed back in to continue over the next chunk. Uses
   SSE4.2 (x86-64) or the ARMv8 CRC extension when the CPU has it, else slicing-by-8. */
uint32_t sluice_crc32c(uint32_t crc, const void *data, size_t length);
/* The portable table implementation, exposed so tests and benchmarks can compare. */
uint32_t sluice_crc32c_portable(uint32_t crc, const void *data, size_t length);
/* 1 when sluice_crc32c uses a hardware instruction on this CPU. */
int sluice_crc32c_is_hardware(void);

/* zlib's deflateInit2/inflateInit2 are function-like macros Swift cannot import. `stream`
   is a z_stream*; kept as void* so this header needs no zlib.h. windowBits follow zlib:
   15+16 writes a gzip wrapper, 15+32 reads gzip or zlib. */
int sluice_deflate_init2(void *stream, int level, int windowBits, int memLevel);
int sluice_inflate_init2(void *stream, int windowBits);

/* Walks a v2 batch's records section (uncompressed bytes) once, checking what Kafka's
   LogValidator checks of each record: its length covers exactly its fields, varints are well
   formed, lengths fit, header keys are not null, offset deltas run 0, 1, 2, ... and the count
   matches the header's. Counts records whose timestamp (base + delta; -1 exempt) lies outside
   [min_timestamp, max_timestamp] and, with `require_keys`, records without a key. Returns
   out->status. */
enum {
    SLUICE_RECORDS_OK = 0,
    SLUICE_RECORDS_MALFORMED = 1,
    SLUICE_RECORDS_COUNT_MISMATCH = 2,
    SLUICE_RECORDS_OFFSET_DELTA = 3,
};
typedef struct {
    int32_t status;
    /* The record the walk stopped at (the count walked when it ran to the end). */
    int32_t record_index;
    int32_t timestamp_violations;
    int32_t missing_keys;
} sluice_records_walk;
int sluice_walk_records(const uint8_t *data, size_t length, int32_t declared_count, int64_t base_timestamp,
                        int64_t min_timestamp, int64_t max_timestamp, int require_keys, sluice_records_walk *out);

#ifdef __cplusplus
}
#endif
#endif
