#!/usr/bin/env python3
"""Decode Kafka record batches (magic 2) with kafka-python's own reader, as a third party.

Usage:  decode_batches.py FILE [FILE ...]

Each FILE holds one or more concatenated record batches exactly as they are stored in a
log segment or carried in a Produce request's / Fetch response's `records` field. Every
batch is CRC-checked (CRC-32C over attributes..end) and decompressed by kafka-python
(kafka.record.MemoryRecords / kafka.record.default_records.DefaultRecordBatch), so every
codec it supports works: none, gzip, snappy (raw or xerial-framed), lz4, zstd.

Prints JSON to stdout:
  {"files": [{"file": PATH, "batches": [
      {"baseOffset", "compression" ("none"|"gzip"|"snappy"|"lz4"|"zstd"),
       "timestampType" ("CreateTime"|"LogAppendTime"), "producerId", "producerEpoch",
       "baseSequence", "isTransactional", "isControl",
       "partitionLeaderEpoch", "lastOffsetDelta", "firstTimestamp", "maxTimestamp",
       "crc", "batchLength", "recordsCount", ["snappyFraming" ("raw"|"xerial")],
       "records": [{"offset", "timestamp", "key", "value", "headers": [[k, v], ...]}]}]}]}
Keys, values and header values are base64 strings or null; header keys are strings.

Exits 1 with a message on stderr if any batch fails its CRC, is truncated, is not magic 2,
or cannot be decoded. Needs kafka-python and the codec packages (the repo's .venv has them:
.venv/bin/python Tools/interop/decode_batches.py ...).
"""
import base64
import json
import struct
import sys

try:
    from kafka.record import MemoryRecords
    from kafka.record.default_records import DefaultRecordBatch
except ImportError as e:  # pragma: no cover
    sys.exit("decode_batches.py: kafka-python is not importable (%s); "
             "run it with the repo's .venv/bin/python (Tools/capture/capture.sh creates it)" % e)

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
XERIAL_MAGIC = b"\x82SNAPPY\x00"
# Offsets inside a v2 batch header.
MAGIC_OFFSET = 16
RECORDS_OFFSET = 61


class DecodeError(Exception):
    pass


def b64(b):
    return None if b is None else base64.b64encode(bytes(b)).decode("ascii")


def decode_file(path):
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise DecodeError("%s: empty file" % path)
    mr = MemoryRecords(data)
    batches = []
    pos = 0
    while mr.has_next():
        if len(data) - pos < RECORDS_OFFSET:
            raise DecodeError("%s: batch at byte %d is shorter than a v2 header" % (path, pos))
        magic = data[pos + MAGIC_OFFSET]
        if magic != 2:
            raise DecodeError("%s: batch at byte %d has magic %d, not 2" % (path, pos, magic))
        batch = mr.next_batch()
        if not isinstance(batch, DefaultRecordBatch):
            raise DecodeError("%s: batch at byte %d is not a v2 batch" % (path, pos))
        if not batch.validate_crc():
            raise DecodeError("%s: batch at byte %d (baseOffset %d) fails its CRC-32C"
                              % (path, pos, batch.base_offset))
        codec = batch.compression_type
        if codec not in CODECS:
            raise DecodeError("%s: batch at byte %d has unknown codec %d" % (path, pos, codec))
        out = {
            "baseOffset": batch.base_offset,
            "batchLength": struct.unpack_from(">i", data, pos + 8)[0],
            "partitionLeaderEpoch": batch.leader_epoch,
            "crc": batch.crc,
            "compression": CODECS[codec],
            "timestampType": "LogAppendTime" if batch.timestamp_type else "CreateTime",
            "isTransactional": bool(batch.is_transactional),
            "isControl": bool(batch.is_control_batch),
            "lastOffsetDelta": batch.last_offset_delta,
            "firstTimestamp": batch.first_timestamp,
            "maxTimestamp": batch.max_timestamp,
            "producerId": batch.producer_id,
            "producerEpoch": batch.producer_epoch,
            "baseSequence": batch.base_sequence,
            "recordsCount": batch.records_count,
        }
        if codec == 2:
            payload = data[pos + RECORDS_OFFSET:pos + RECORDS_OFFSET + 8]
            out["snappyFraming"] = "xerial" if payload == XERIAL_MAGIC else "raw"
        records = []
        try:
            for r in batch:
                records.append({
                    "offset": r.offset,
                    "timestamp": r.timestamp,
                    "key": b64(r.key),
                    "value": b64(r.value),
                    "headers": [[k, b64(v)] for k, v in r.headers],
                })
        except Exception as e:  # CorruptRecordError, codec errors, struct errors
            raise DecodeError("%s: batch at byte %d (baseOffset %d, %s) cannot be decoded: %s: %s"
                              % (path, pos, batch.base_offset, CODECS[codec],
                                 type(e).__name__, e))
        if len(records) != batch.records_count:
            raise DecodeError("%s: batch at byte %d holds %d records, header says %d"
                              % (path, pos, len(records), batch.records_count))
        out["records"] = records
        batches.append(out)
        pos += 12 + out["batchLength"]
    if pos != len(data):
        raise DecodeError("%s: %d trailing bytes after the last complete batch (truncated?)"
                          % (path, len(data) - pos))
    return batches


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    result = {"files": []}
    for path in argv[1:]:
        try:
            result["files"].append({"file": path, "batches": decode_file(path)})
        except DecodeError as e:
            print("decode_batches.py: " + str(e), file=sys.stderr)
            return 1
        except OSError as e:
            print("decode_batches.py: %s" % e, file=sys.stderr)
            return 1
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
