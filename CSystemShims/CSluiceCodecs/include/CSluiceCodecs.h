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

#ifdef __cplusplus
}
#endif
#endif
