"""The load side of a fault-injection run: producers that write unique values and log every
outcome, and the final full read. Both write history events for `history.py`.

Producers are confluent-kafka (librdkafka) with acks=all and idempotence, as the acceptance
tests in ../shared/notes/replication.md use them. A delivery report is an acknowledgement
(`ok`, with its partition and offset) or an error; librdkafka's own timeouts and transport
failures are `indeterminate` (the record may have been written), other errors `error`.
"""
import json
import threading
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

INDETERMINATE = {KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError.REQUEST_TIMED_OUT,
                 KafkaError._ALL_BROKERS_DOWN, KafkaError.NETWORK_EXCEPTION}


class HistoryFile:
    """Append-only JSON lines, shared by threads."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.file = open(path, "a", buffering=1)

    def write(self, event):
        line = json.dumps(event)
        with self.lock:
            self.file.write(line + "\n")

    def close(self):
        self.file.close()


def produce(bootstrap, topic, history, producer_id, records, rate=None, timeout_s=120.0, stats_path=None, **conf):
    """Sends `records` values `producer_id:0..records-1`, at most `rate` a second; logs each outcome.
    With `stats_path`, librdkafka's statistics (idempotence state, per-broker queues and
    in-flight requests) are appended there every 5 s: what a stalled producer was waiting for."""
    settings = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                "message.timeout.ms": 30000, "retry.backoff.ms": 100}
    if stats_path:
        stats_file = open(stats_path, "a", buffering=1)
        settings.update({"statistics.interval.ms": 5000, "stats_cb": lambda text: stats_file.write(text + "\n")})
    settings.update(conf)
    producer = Producer(settings)
    answered = set()

    def report(err, msg):
        value = msg.value().decode()
        answered.add(value)
        if err is None:
            history.write({"type": "send", "producer": producer_id, "value": value, "partition": msg.partition(),
                           "offset": msg.offset(), "outcome": "ok"})
        else:
            outcome = "indeterminate" if err.code() in INDETERMINATE else "error"
            history.write({"type": "send", "producer": producer_id, "value": value, "partition": None, "offset": None,
                           "outcome": outcome, "error": err.name()})

    started = time.monotonic()
    for seq in range(records):
        value = "%s:%d" % (producer_id, seq)
        while True:
            try:
                producer.produce(topic, value=value.encode(), on_delivery=report)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        if rate:
            ahead = started + (seq + 1) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    producer.flush(timeout_s)
    # Never answered before the deadline: the client cannot say whether they were written.
    for seq in range(records):
        value = "%s:%d" % (producer_id, seq)
        if value not in answered:
            history.write({"type": "send", "producer": producer_id, "value": value, "partition": None, "offset": None,
                           "outcome": "indeterminate", "error": "no delivery report"})


def read_all(bootstrap, topic, partitions, history, timeout_s=120.0):
    """Every record of every partition, from the log start to the high watermark at the start of the read."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "history-reader", "enable.auto.commit": False,
                         "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    try:
        ends = {}
        for p in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends] or [TopicPartition(topic, 0, 0)])
        done = {p for p in range(partitions) if p not in ends}
        deadline = time.monotonic() + timeout_s
        while len(done) < partitions and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF and msg.offset() >= ends.get(msg.partition(), 0):
                    done.add(msg.partition())
                continue
            if msg.offset() < ends.get(msg.partition(), 0):
                history.write({"type": "read", "partition": msg.partition(), "offset": msg.offset(), "value": msg.value().decode()})
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                done.add(msg.partition())
        if len(done) < partitions:
            raise RuntimeError("the final read did not reach the high watermark of partitions %s" % sorted(set(range(partitions)) - done))
    finally:
        consumer.close()
