"""The history checker: one verdict for every fault-injection run (issue #11's proofs).

A run leaves two kinds of history, written as JSON lines while it runs and checked after it:

- producer events, one per outcome of one send: `{"type": "send", "producer": P, "value": V,
  "partition": N or null, "offset": O or null, "outcome": "ok" | "error" | "indeterminate",
  "error": text}`. Values are unique across the run (`P:seq`); `ok` means the broker
  acknowledged the record at (partition, offset); `error` means the client was told it failed
  (it may still have been written: Kafka's errors do not all mean "not written");
  `indeterminate` means no answer came (a timeout, a closed connection).
- the final full read, one record per line: `{"type": "read", "partition": N, "offset": O,
  "value": V}`, every partition read from its log start to its high watermark.

The verdict uses Jepsen's vocabulary (jepsen-io/redpanda), so figures compare:

- **lost**: acknowledged, and absent from the final read;
- **duplicated**: one value at two or more offsets;
- **inconsistent offset**: acknowledged at (partition, offset) but the read holds another value
  there, or holds it at another offset;
- **reordered**: for one producer and one partition, a later send (higher sequence) read at a
  lower offset than an earlier one (an idempotent producer must not reorder);
- **unexpected**: a value in the read that no producer ever sent;
- and, as information only: records acknowledged, failed or indeterminate that were read
  (a failed send that is present is allowed), and those that were not.
"""
import json
import sys
from collections import defaultdict


def load(paths):
    """Events from JSON-lines files (or iterables of dicts), in file order."""
    for path in paths:
        if isinstance(path, (list, tuple)):
            yield from path
            continue
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    yield json.loads(line)


def sequence_of(value):
    """The producer and sequence a `P:seq` value carries; (value, None) when it has none."""
    producer, _, seq = value.rpartition(":")
    try:
        return producer, int(seq)
    except ValueError:
        return value, None


def check(events):
    sends = {}
    outcome_counts = defaultdict(int)
    reads_by_value = defaultdict(list)
    reads_by_offset = defaultdict(set)
    for event in events:
        if event["type"] == "send":
            value = event["value"]
            previous = sends.get(value)
            # A value is sent once; a later outcome for it (a retry's answer) wins over none.
            if previous is None or previous["outcome"] != "ok":
                sends[value] = event
        elif event["type"] == "read":
            reads_by_value[event["value"]].append((event["partition"], event["offset"]))
            reads_by_offset[(event["partition"], event["offset"])].add(event["value"])
    for event in sends.values():
        outcome_counts[event["outcome"]] += 1

    lost = sorted(v for v, e in sends.items() if e["outcome"] == "ok" and v not in reads_by_value)
    duplicated = sorted(v for v, places in reads_by_value.items() if len(places) > 1)
    inconsistent = []
    for (partition, offset), values in reads_by_offset.items():
        if len(values) > 1:
            inconsistent.append({"partition": partition, "offset": offset, "values": sorted(values)})
    for value, e in sends.items():
        if e["outcome"] != "ok" or value not in reads_by_value or e.get("offset") is None:
            continue
        acked = (e["partition"], e["offset"])
        if acked not in reads_by_value[value]:
            inconsistent.append({"value": value, "acknowledged_at": list(acked),
                                 "read_at": [list(p) for p in reads_by_value[value]]})
    unexpected = sorted(v for v in reads_by_value if v not in sends)

    reordered = []
    by_stream = defaultdict(list)
    for value, places in reads_by_value.items():
        producer, seq = sequence_of(value)
        if seq is None:
            continue
        for partition, offset in places:
            by_stream[(producer, partition)].append((offset, seq, value))
    for (producer, partition), entries in by_stream.items():
        entries.sort()
        highest = None
        for offset, seq, value in entries:
            if highest is not None and seq < highest[0]:
                reordered.append({"producer": producer, "partition": partition, "value": value, "offset": offset,
                                  "after": highest[1]})
            if highest is None or seq > highest[0]:
                highest = (seq, value)

    present = defaultdict(int)
    absent = defaultdict(int)
    for value, e in sends.items():
        (present if value in reads_by_value else absent)[e["outcome"]] += 1
    return {
        "sent": len(sends), "outcomes": dict(outcome_counts),
        "read": sum(len(p) for p in reads_by_value.values()),
        "lost": lost, "duplicated": duplicated, "inconsistent": inconsistent, "reordered": reordered,
        "unexpected": unexpected, "present_by_outcome": dict(present), "absent_by_outcome": dict(absent),
        "valid": not (lost or duplicated or inconsistent or reordered or unexpected),
    }


def summary(verdict):
    def count(key):
        return len(verdict[key])
    return ("sent %d (%s), read %d: lost %d, duplicated %d, inconsistent offsets %d, reordered %d, unexpected %d -> %s"
            % (verdict["sent"], ", ".join("%s %d" % kv for kv in sorted(verdict["outcomes"].items())), verdict["read"],
               count("lost"), count("duplicated"), count("inconsistent"), count("reordered"), count("unexpected"),
               "VALID" if verdict["valid"] else "INVALID"))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: history.py HISTORY.jsonl [MORE.jsonl ...]  (prints the verdict; exit 1 when invalid)")
    verdict = check(load(sys.argv[1:]))
    print(summary(verdict))
    print(json.dumps({k: v[:20] if isinstance(v, list) else v for k, v in verdict.items()}, indent=1))
    sys.exit(0 if verdict["valid"] else 1)
