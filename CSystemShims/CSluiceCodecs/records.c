/* The records walk of produce validation: one pass over a v2 records section, no allocation.
   The rules are those of Record.read in KafkaProtocol (and of Kafka's DefaultRecord); the Swift
   reader stays the reference and names the fault when this walk finds one. */
#include "CSluiceCodecs.h"

/* LEB128 of at most `bits` bits (32: readUnsignedVarint, 64: readUnsignedVarlong); 0 on
   success. Its last byte may hold only the bits that are left. */
static inline int read_uvarint(const uint8_t **p, const uint8_t *end, unsigned bits, uint64_t *out) {
    /* Most record fields are small: one byte. */
    if (*p < end && !(**p & 0x80)) { *out = *(*p)++; return 0; }
    const unsigned last_shift = (bits / 7) * 7;
    uint64_t result = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (*p >= end) return -1;
        uint8_t byte = *(*p)++;
        if (shift == last_shift && byte >> (bits - last_shift)) return -1;
        result |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) { *out = result; return 0; }
    }
}

static inline int read_varint(const uint8_t **p, const uint8_t *end, int32_t *out) {
    uint64_t wide;
    if (read_uvarint(p, end, 32, &wide)) return -1;
    uint32_t raw = (uint32_t)wide;
    *out = (int32_t)((raw >> 1) ^ (0u - (raw & 1)));
    return 0;
}

static inline int read_varlong(const uint8_t **p, const uint8_t *end, int64_t *out) {
    uint64_t raw;
    if (read_uvarint(p, end, 64, &raw)) return -1;
    *out = (int64_t)((raw >> 1) ^ (0ull - (raw & 1)));
    return 0;
}

/* Skips a length-prefixed byte field; null (-1) allowed when `nullable`. */
static inline int skip_bytes(const uint8_t **p, const uint8_t *end, int nullable, int32_t *length) {
    if (read_varint(p, end, length)) return -1;
    if (*length == -1 && nullable) return 0;
    if (*length < 0 || (size_t)(end - *p) < (size_t)*length) return -1;
    *p += *length;
    return 0;
}

int sluice_walk_records(const uint8_t *data, size_t length, int32_t declared_count, int64_t base_timestamp,
                        int64_t min_timestamp, int64_t max_timestamp, int require_keys, sluice_records_walk *out) {
    const uint8_t *p = data, *end = data + length;
    int32_t index = 0;
    out->status = SLUICE_RECORDS_OK;
    out->record_index = 0;
    out->timestamp_violations = 0;
    out->missing_keys = 0;
    if (declared_count < 0 || (size_t)declared_count > length / 7) {
        out->status = SLUICE_RECORDS_COUNT_MISMATCH;
        return out->status;
    }
    while (p < end) {
        out->record_index = index;
        if (index >= declared_count) { out->status = SLUICE_RECORDS_COUNT_MISMATCH; return out->status; }
        int32_t record_length;
        if (read_varint(&p, end, &record_length) || record_length < 6 || (size_t)(end - p) < (size_t)record_length) {
            out->status = SLUICE_RECORDS_MALFORMED;
            return out->status;
        }
        const uint8_t *body_end = p + record_length;
        int64_t timestamp_delta;
        int32_t offset_delta, key_length, value_length, header_count;
        p++; /* attributes */
        if (read_varlong(&p, body_end, &timestamp_delta) || read_varint(&p, body_end, &offset_delta) ||
            skip_bytes(&p, body_end, 1, &key_length) || skip_bytes(&p, body_end, 1, &value_length) ||
            read_varint(&p, body_end, &header_count) || header_count < 0 || header_count > body_end - p) {
            out->status = SLUICE_RECORDS_MALFORMED;
            return out->status;
        }
        for (int32_t h = 0; h < header_count; h++) {
            int32_t header_key_length, header_value_length;
            if (skip_bytes(&p, body_end, 0, &header_key_length) || skip_bytes(&p, body_end, 1, &header_value_length)) {
                out->status = SLUICE_RECORDS_MALFORMED;
                return out->status;
            }
        }
        if (p != body_end) { out->status = SLUICE_RECORDS_MALFORMED; return out->status; }
        if (offset_delta != index) { out->status = SLUICE_RECORDS_OFFSET_DELTA; return out->status; }
        int64_t timestamp = (int64_t)((uint64_t)base_timestamp + (uint64_t)timestamp_delta);
        if (timestamp != -1 && (timestamp < min_timestamp || timestamp > max_timestamp)) out->timestamp_violations++;
        if (require_keys && key_length < 0) out->missing_keys++;
        index++;
    }
    out->record_index = index;
    if (index != declared_count) out->status = SLUICE_RECORDS_COUNT_MISMATCH;
    return out->status;
}
