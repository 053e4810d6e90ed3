#include "CSluiceCodecs.h"
#include <zlib.h>

int sluice_deflate_init2(void *stream, int level, int windowBits, int memLevel) {
    return deflateInit2((z_stream *)stream, level, Z_DEFLATED, windowBits, memLevel, Z_DEFAULT_STRATEGY);
}

int sluice_inflate_init2(void *stream, int windowBits) {
    return inflateInit2((z_stream *)stream, windowBits);
}
