"""Consumer groups (the classic rebalance protocol) against real clients: librdkafka through
confluent-kafka and kafka-python, plus raw requests for the error codes clients hide.

What this file proves, as users rely on it:
  - consumers in one group split a topic's partitions disjointly and between them read every
    message exactly once; a member that leaves hands its partitions over, and the next owner
    starts exactly at the committed offsets (only what was never committed is read again);
  - a restarted consumer resumes after its last commit; commit metadata round-trips (confluent
    and kafka-python, each reading what the other wrote);
  - commits and the group itself survive a broker restart (SIGTERM) and kill -9: a live member
    keeps its membership and generation, a new consumer resumes exactly at the commit;
  - static members (group.instance.id) come back without rebalancing the others; a dynamic
    member leaving rebalances;
  - cooperative-sticky (incremental) rebalancing and a minute of churn (four members joining and
    leaving while a producer runs): according to the clients' own callbacks no partition is ever
    owned by two members at once, no member is handed a message of a partition it does not own,
    every produced message is consumed, and nothing below a committed offset is read twice;
  - the initial rebalance delay batches members that join within it into one generation; a
    member that stops heartbeating is expired after its session timeout and its partitions move;
    a silent static member is gone right at its session deadline (the group deletable 250 ms
    after it, not before);
  - admin: ListGroups (with state filters), DescribeGroups, DeleteGroups (NON_EMPTY_GROUP while
    members remain), OffsetFetch through both admin clients, OffsetDelete
    (GROUP_SUBSCRIBED_TO_TOPIC while subscribed), kafka-python and librdkafka sharing a group;
  - DescribeGroups answers the authorized operations when asked (kafka-python's admin client
    always asks and decodes the bit field; confluent when told);
  - raw protocol: MEMBER_ID_REQUIRED from JoinGroup v4+ only, a static member's new incarnation
    fencing the old one (FENCED_INSTANCE_ID), INVALID_SESSION_TIMEOUT, UNKNOWN_MEMBER_ID for an
    unknown group, simple (generation -1) commits and how such groups are listed, OffsetFetch of
    a never-committed partition, OffsetCommit v2's retention time.

Most tests share one broker started with no initial rebalance delay; the tests of the delay use
the session broker (Kafka's 3 s default); restarts and the churn get brokers of their own.
"""
import json
import random
import signal
import subprocess
import threading
import time

import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaError, KafkaException, \
    TopicPartition

import clients as C
import kwire
from broker import Broker
from kwire import Reader, array, i16, i32, i64, nbytes, string

# Kafka error codes
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
MEMBER_ID_REQUIRED = 79
FENCED_INSTANCE_ID = 82
GROUP_SUBSCRIBED_TO_TOPIC = 86

API_OFFSET_COMMIT, API_OFFSET_FETCH, API_JOIN_GROUP, API_HEARTBEAT = 8, 9, 11, 12
API_LEAVE_GROUP, API_SYNC_GROUP, API_OFFSET_DELETE = 13, 14, 47

FAST = {"group.initial.rebalance.delay.ms": "0", "group.min.session.timeout.ms": "1000",
        "offsets.retention.check.interval.ms": "500"}


@pytest.fixture(scope="module")
def fast_broker(sluice_bin, tmp_path_factory):
    """One broker for this module's short tests: no initial rebalance delay, session timeouts
    down to 1 s, offset expiry checked twice a second."""
    d = tmp_path_factory.mktemp("sluice-groups")
    b = Broker(sluice_bin, d / "data", d / "broker.log", settings=FAST)
    b.start()
    yield b
    b.close()
    for bs in b.bootstraps:
        C.forget(bs)


@pytest.fixture
def fast(fast_broker):
    if not fast_broker.alive():
        fast_broker.start()
    yield fast_broker
    assert fast_broker.alive(), "the broker died during this test\n%s" % fast_broker.tail()


_MEMBERS = []


@pytest.fixture(autouse=True)
def _close_members():
    """Closes every Member a test left open (a failed assertion skips its close()): a subscribed
    librdkafka consumer that is only garbage-collected can hang the interpreter's exit."""
    yield
    while _MEMBERS:
        m = _MEMBERS.pop()
        if not m.closed:
            try:
                m.close()
            except Exception:  # noqa: BLE001 - best effort after a failure
                pass


# ---------------------------------------------------------------------------- group members
class Ledger:
    """What the members of one group saw, in one global order (appends under a lock): their
    rebalance callbacks, every message handed to them, every commit. Callbacks run in the
    member's poll() before the client goes on with the protocol (a revoked partition is
    recorded as given up before the member rejoins), so a partition handed to a second member
    before the first one's revoke is in this list in the wrong order."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events = []

    def add(self, *event):
        with self.lock:
            self.events.append((time.monotonic(),) + event)

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def delivered(self, member=None):
        return [(e[3], e[4]) for e in self.snapshot() if e[1] == "msg" and (member is None or e[2] == member)]


class Member:
    """A confluent consumer subscribed to one topic, recording everything in a Ledger. It tracks
    what it processed (the next offset per partition) and commits exactly that, synchronously:
    in on_revoke (unless commit_on_revoke=False) and when asked."""

    def __init__(self, bootstrap, group, topic, name, ledger, commit_on_revoke=True, **conf):
        self.name = name
        self.topic = topic
        self.ledger = ledger
        self.commit_on_revoke = commit_on_revoke
        self.owned = set()
        self.position = {}       # partition -> next offset to process
        self.committed = {}      # partition -> last offset this member committed
        self.errors = []
        self.revokes = []
        self.assigns = []
        self.closed = False
        self.c = C.group_consumer(bootstrap, group, **dict({"client.id": name}, **conf))
        _MEMBERS.append(self)
        self.c.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)

    def _on_assign(self, _c, tps):
        parts = frozenset(tp.partition for tp in tps)
        self.ledger.add("assign", self.name, parts)
        self.assigns.append(parts)
        self.owned |= parts

    def _on_revoke(self, _c, tps):
        parts = frozenset(tp.partition for tp in tps)
        if self.commit_on_revoke:
            self.commit(parts)
        self.ledger.add("revoke", self.name, parts)
        self.revokes.append(parts)
        self.owned -= parts

    def _on_lost(self, _c, tps):
        parts = frozenset(tp.partition for tp in tps)
        self.ledger.add("lost", self.name, parts)
        self.owned -= parts

    def commit(self, parts=None):
        """Synchronously commit the processed position of `parts` (default: all owned)."""
        offs = {p: self.position[p] for p in (self.owned if parts is None else parts)
                if p in self.position and self.committed.get(p) != self.position[p]}
        if not offs:
            return {}
        try:
            res = self.c.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in sorted(offs.items())],
                                asynchronous=False)
        except KafkaException as e:
            self.ledger.add("commit-failed", self.name, offs, str(e), self.closed)
            return {}
        done = {}
        for tp in res:
            if tp.error is not None:
                self.ledger.add("commit-failed", self.name, {tp.partition: offs.get(tp.partition)}, str(tp.error), self.closed)
            else:
                done[tp.partition] = offs[tp.partition]
        self.committed.update(done)
        if done:
            self.ledger.add("commit", self.name, done)
        return done

    def poll(self, timeout=0.05):
        """Hand the member what the client has (up to 500 messages; serves the rebalance
        callbacks); returns how many messages it got."""
        got = 0
        for m in self.c.consume(500, timeout):
            if m.error():
                if m.error().code() not in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
                    self.errors.append(str(m.error()))
                continue
            self.ledger.add("msg", self.name, m.partition(), m.offset(), m.value())
            self.position[m.partition()] = m.offset() + 1
            got += 1
        return got

    def close(self):
        if not self.closed:
            self.closed = True
            self.c.close()  # serves on_revoke (and its commit), then LeaveGroup
            self.ledger.add("closed", self.name)


def poll_all(members, seconds, until=None):
    """Poll every member in turn for `seconds`, or until until() is true; returns until()'s value."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        for m in members:
            m.poll(0.02)
        if until is not None and until():
            return True
    return until() if until is not None else None


def settle(members, partitions, timeout=30.0, counts=None):
    """Poll until the members own disjoint sets covering `partitions` (each non-empty, or of the
    sizes in `counts`) and the clients agree (assignment()); fails after `timeout`."""
    want = set(partitions)

    def done():
        sets = [m.owned for m in members]
        if any(not s for s in sets) or set().union(*sets) != want or sum(len(s) for s in sets) != len(want):
            return False
        if counts is not None and sorted(len(s) for s in sets) != sorted(counts):
            return False
        return all({tp.partition for tp in m.c.assignment()} == m.owned for m in members)

    if not poll_all(members, timeout, done):
        raise AssertionError("group did not settle within %.0fs: owned %r (want a disjoint cover of %r%s)" % (
            timeout, {m.name: sorted(m.owned) for m in members}, sorted(want),
            "" if counts is None else " with sizes %r" % (counts,)))


def check_ledger(ledger, produced=None):
    """The group-wide invariants, from the clients' own callbacks in their global order:
      - a partition is assigned to a member only once its previous owner revoked it, lost it
        or closed (never two owners at once);
      - a member is handed messages only of partitions it owns;
      - no message below a committed offset is handed out again after that commit;
      - (with `produced`, a set of (partition, offset)) every produced message was consumed;
      - a synchronous commit of owned partitions succeeds, except UNKNOWN_MEMBER_ID for one made
        while the member was closing: when close() meets a rebalance already under way,
        librdkafka may send LeaveGroup before the application's on_revoke commit, and a broker
        (Kafka's too) no longer knows a member that left. Those commits are lost, not wrong:
        the next owner reads from the previous commit, which the checks above allow.
    Returns {(partition, offset): times delivered}."""
    owner = {}
    left_first = []
    overlaps, foreign, below_commit, commit_failures = [], [], [], []
    committed = {}
    seen = {}
    for ev in ledger.snapshot():
        t, kind, who = ev[0], ev[1], ev[2]
        if kind == "assign":
            for p in ev[3]:
                if owner.get(p) not in (None, who):
                    overlaps.append("partition %d assigned to %s while %s still owned it" % (p, who, owner[p]))
                owner[p] = who
        elif kind in ("revoke", "lost"):
            for p in ev[3]:
                if owner.get(p) == who:
                    del owner[p]
        elif kind == "closed":
            for p in [p for p, o in owner.items() if o == who]:
                del owner[p]
        elif kind == "msg":
            p, o = ev[3], ev[4]
            if owner.get(p) != who:
                foreign.append("%s got %d@%d while the owner was %s" % (who, p, o, owner.get(p)))
            if o < committed.get(p, -1):
                below_commit.append("%s got %d@%d after offset %d was committed" % (who, p, o, committed[p]))
            seen[(p, o)] = seen.get((p, o), 0) + 1
        elif kind == "commit":
            for p, o in ev[3].items():
                committed[p] = max(committed.get(p, -1), o)
        elif kind == "commit-failed":
            if ev[5] and "UNKNOWN_MEMBER_ID" in ev[4]:
                left_first.append("%s: %r" % (who, ev[3]))
            else:
                commit_failures.append("%s: %r %s" % (who, ev[3], ev[4]))
    assert not overlaps, "%d times a partition had two owners at once; first: %r" % (len(overlaps), overlaps[:5])
    assert not foreign, "%d messages handed to a member that did not own their partition; first: %r" % (
        len(foreign), foreign[:5])
    assert not below_commit, "%d messages read again below a committed offset; first: %r" % (
        len(below_commit), below_commit[:5])
    assert not commit_failures, "synchronous commits of owned partitions failed: %r" % commit_failures[:5]
    if left_first:
        print("commits at close answered UNKNOWN_MEMBER_ID (LeaveGroup went first): %r" % left_first)
    if produced is not None:
        missing = sorted(set(produced) - set(seen))
        assert not missing, "%d of %d produced messages were never consumed by the group; first: %r" % (
            len(missing), len(produced), missing[:10])
    return seen


def produce_keyed(bootstrap, topic, n, start=0):
    """n keyed messages (values 'v<i>'); returns {(partition, offset): value}."""
    msgs = [{"key": b"k%d" % (i % 97), "value": b"v%d" % i} for i in range(start, start + n)]
    reports = C.produce_confluent(bootstrap, topic, msgs)
    return {po: m["value"] for po, m in zip(reports, msgs)}


def end_offsets(bootstrap, topic, partitions):
    return {p: C.watermarks(bootstrap, topic, p)[1] for p in partitions}


# ---------------------------------------------------------------------------- splitting and handing over
@pytest.mark.timeout(90)
def test_two_consumers_split_partitions_and_read_everything_exactly_once(fast):
    boot = fast.bootstrap
    topic = C.create_topic(boot, 4, "g-split")
    group = C.unique("g-split")
    ledger = Ledger()
    a = Member(boot, group, topic, "a", ledger)
    b = Member(boot, group, topic, "b", ledger)
    try:
        settle([a, b], range(4), counts=[2, 2])
        owned = {"a": set(a.owned), "b": set(b.owned)}
        produced = produce_keyed(boot, topic, 2000)
        assert len({p for p, _ in produced}) == 4, "the keys did not spread over all 4 partitions: %r" % (
            sorted({p for p, _ in produced}),)
        poll_all([a, b], 30, lambda: len(ledger.delivered()) >= len(produced))
        poll_all([a, b], 1.0)  # anything delivered twice would show up now
        seen = check_ledger(ledger, produced)
        dups = {po: n for po, n in seen.items() if n > 1}
        assert not dups, "%d messages delivered more than once: %r" % (len(dups), sorted(dups)[:10])
        for m in (a, b):
            got = {p for p, _ in ledger.delivered(m.name)}
            assert got <= owned[m.name], "%s read partitions %r but was assigned %r" % (
                m.name, sorted(got), sorted(owned[m.name]))
            assert m.owned == owned[m.name], "%s's assignment changed with no member joining or leaving: %r -> %r" % (
                m.name, sorted(owned[m.name]), sorted(m.owned))
            assert not m.errors, "%s: consumer errors %r" % (m.name, m.errors)
        values = {(e[3], e[4]): e[5] for e in ledger.snapshot() if e[1] == "msg"}
        assert values == produced, "the group read different values than were produced"
    finally:
        a.close()
        b.close()


@pytest.mark.timeout(90)
def test_leaving_member_hands_over_at_its_committed_offsets(fast):
    """A commits, reads on without committing, and leaves; B takes over all four partitions and
    starts A's exactly at A's commit: what A read after it is read again, nothing before it is,
    and nothing is skipped."""
    boot = fast.bootstrap
    topic = C.create_topic(boot, 4, "g-leave")
    group = C.unique("g-leave")
    ledger = Ledger()
    a = Member(boot, group, topic, "a", ledger, commit_on_revoke=False)
    b = Member(boot, group, topic, "b", ledger)
    try:
        settle([a, b], range(4), counts=[2, 2])
        a_parts = set(a.owned)
        first = produce_keyed(boot, topic, 1000)
        poll_all([a, b], 30, lambda: len(ledger.delivered()) >= len(first))
        a_commit = a.commit()
        ends1 = end_offsets(boot, topic, range(4))
        assert a_commit == {p: ends1[p] for p in a_parts if ends1[p] > 0}, \
            "A committed %r, expected its partitions' end offsets %r" % (a_commit, {p: ends1[p] for p in a_parts})
        second = produce_keyed(boot, topic, 1000, start=1000)
        produced = {**first, **second}
        ends2 = end_offsets(boot, topic, range(4))
        poll_all([a, b], 30, lambda: len(ledger.delivered()) >= len(produced))
        mark = len(ledger.snapshot())
        a.close()  # no commit on revoke: what A read from the second batch is uncommitted
        poll_all([b], 30, lambda: b.owned == {0, 1, 2, 3} and all(
            b.position.get(p, 0) >= ends2[p] for p in range(4) if ends2[p] > 0))
        assert b.owned == {0, 1, 2, 3}, "after A left, B owns %r (expected all 4 partitions)" % sorted(b.owned)
        after = [(e[3], e[4]) for e in ledger.snapshot()[mark:] if e[1] == "msg"]
        for p in a_parts:
            offs = [o for pp, o in after if pp == p]
            want = list(range(ends1[p], ends2[p]))
            assert offs == want, "partition %d (A's, A committed %d): B read offsets %s, expected %d..%d" % (
                p, ends1[p], offs[:5] + ["..."] + offs[-3:] if len(offs) > 8 else offs, ends1[p], ends2[p] - 1)
        for p in set(range(4)) - a_parts:
            offs = [o for pp, o in after if pp == p]
            assert offs == [], "partition %d (B's own, committed on revoke): read again from %r" % (p, offs[:5])
        seen = check_ledger(ledger, produced)
        dups = sorted(po for po, n in seen.items() if n > 1)
        expected_dups = sorted((p, o) for p in a_parts for o in range(ends1[p], ends2[p]))
        assert dups == expected_dups, "read twice: %d messages, expected exactly A's %d uncommitted ones" % (
            len(dups), len(expected_dups))
        b.commit()
        committed = {tp.partition: tp.offset for tp in b.c.committed([TopicPartition(topic, p) for p in range(4)],
                                                                      timeout=10)}
        assert committed == {p: (ends2[p] if ends2[p] else -1001) for p in range(4)}, \
            "committed offsets %r, expected the end offsets %r" % (committed, ends2)
    finally:
        a.close()
        b.close()


@pytest.mark.timeout(90)
def test_restarted_consumer_resumes_after_its_commit_and_metadata_round_trips(fast):
    boot = fast.bootstrap
    topic = C.create_topic(boot, 2, "g-resume")
    group = C.unique("g-resume")
    produced = produce_keyed(boot, topic, 200)
    ends = end_offsets(boot, topic, range(2))
    c1 = C.group_consumer(boot, group)
    try:
        c1.subscribe([topic])
        got = []
        deadline = time.time() + 30
        while len(got) < 120 and time.time() < deadline:
            m = c1.poll(0.2)
            if m is not None and not m.error():
                got.append((m.partition(), m.offset()))
        assert len(got) >= 120, "the first consumer read only %d of 200 messages in 30 s" % len(got)
        stop = {p: max(o for pp, o in got if pp == p) + 1 for p in range(2) if any(pp == p for pp, _ in got)}
        commit = {p: min(stop.get(p, 0), ends[p] - 3) for p in range(2)}  # leave a few unread in each
        C.commit_sync(c1, [TopicPartition(topic, p, o, metadata="checkpoint p%d by confluent" % p)
                           for p, o in commit.items()])
    finally:
        c1.close()

    c2 = C.group_consumer(boot, group)
    try:
        back = c2.committed([TopicPartition(topic, p) for p in range(2)], timeout=10)
        assert {tp.partition: tp.offset for tp in back} == commit, "committed() after the restart: %r, " \
            "committed %r" % ({tp.partition: tp.offset for tp in back}, commit)
        assert {tp.partition: tp.metadata for tp in back} == \
            {p: "checkpoint p%d by confluent" % p for p in range(2)}, \
            "commit metadata did not round-trip: %r" % ({tp.partition: tp.metadata for tp in back},)
        c2.subscribe([topic])
        first = {}
        resumed = []
        deadline = time.time() + 30
        while len(resumed) < sum(ends[p] - commit[p] for p in range(2)) and time.time() < deadline:
            m = c2.poll(0.2)
            if m is not None and not m.error():
                first.setdefault(m.partition(), m.offset())
                resumed.append((m.partition(), m.offset()))
        assert first == commit, "the new consumer started at %r, expected the committed offsets %r" % (first, commit)
        assert sorted(resumed) == sorted((p, o) for p in range(2) for o in range(commit[p], ends[p])), \
            "the new consumer read %d messages, expected exactly the %d after the commit" % (
                len(resumed), sum(ends[p] - commit[p] for p in range(2)))
        assert all(po in produced for po in resumed)
    finally:
        c2.close()

    # Across clients. confluent-kafka-python sends metadata with its C string's NUL terminator
    # (strlen + 1 bytes), so other clients see a trailing "\x00"; and it reads metadata that has no
    # NUL (everyone else's) past the end of the buffer, so its metadata is only compared with its own.
    from kafka import KafkaConsumer, TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata
    kp = KafkaConsumer(bootstrap_servers=[boot], group_id=group, enable_auto_commit=False)
    try:
        seen = kp.committed(KTP(topic, 1), metadata=True)
        assert (seen.offset, seen.metadata.rstrip("\x00")) == (commit[1], "checkpoint p1 by confluent"), \
            "kafka-python reads confluent's commit as %r" % (seen,)
        # a simple (generation -1) commit into the now empty group
        kp.commit({KTP(topic, 0): OffsetAndMetadata(5, "kafka-python was here", -1),
                   KTP(topic, 1): OffsetAndMetadata(7, "", -1)})
        seen = kp.committed(KTP(topic, 0), metadata=True)
        assert (seen.offset, seen.metadata) == (5, "kafka-python was here"), "kafka-python reads back %r" % (seen,)
    finally:
        kp.close()
    with kwire.Conn(boot) as conn:
        err, raw = offset_fetch(conn, group, [(topic, 0), (topic, 1)])
        assert (err, raw) == (0, {(topic, 0): (5, "kafka-python was here", 0), (topic, 1): (7, "", 0)}), \
            "OffsetFetch v5 after kafka-python's commit: %d %r" % (err, raw)
    c3 = C.group_consumer(boot, group)
    try:
        back = c3.committed([TopicPartition(topic, p) for p in range(2)], timeout=10)
        assert [tp.offset for tp in back] == [5, 7], "confluent reads kafka-python's commit as %r" % back
    finally:
        c3.close()


# ---------------------------------------------------------------------------- broker restarts
@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_commits_and_group_survive_broker_restart(broker_factory, how):
    """An acknowledged synchronous commit survives SIGTERM and kill -9 right after it; the group
    comes back Stable with its member, whose generation is still valid (its next commit is
    accepted, no rebalance), and a new consumer resumes exactly at the last commit."""
    b = broker_factory(settings={"group.initial.rebalance.delay.ms": "0"})
    topic = C.create_topic(b.bootstrap, 3, "g-restart-" + how)
    group = C.unique("g-restart-" + how)
    produce_keyed(b.bootstrap, topic, 300)
    ends = end_offsets(b.bootstrap, topic, range(3))
    ledger = Ledger()
    a = Member(b.bootstrap, group, topic, "a", ledger, commit_on_revoke=False,
               **{"reconnect.backoff.max.ms": 500, "client.id": "restart-a"})
    newcomer = None
    try:
        poll_all([a], 30, lambda: sum(a.position.values()) >= 300)
        assert a.owned == {0, 1, 2}, "the only member owns %r" % sorted(a.owned)
        member_id = a.c.memberid()
        want = {p: ends[p] // 2 + p for p in range(3)}
        C.commit_sync(a.c, [TopicPartition(topic, p, o, metadata="before-%s-%d" % (how, p)) for p, o in want.items()])
        old_port = b.port
        if how == "kill9":
            b.kill9()
        else:
            rc = b.stop(signal.SIGTERM)
            assert rc == 0, "SIGTERM: exit status %r\n%s" % (rc, b.tail())
        b.start(port=old_port)
        boot = b.bootstrap

        newcomer = C.group_consumer(boot, group)  # not subscribed: committed() needs no membership
        back = newcomer.committed([TopicPartition(topic, p) for p in range(3)], timeout=20)
        assert {tp.partition: (tp.offset, tp.metadata) for tp in back} == \
            {p: (o, "before-%s-%d" % (how, p)) for p, o in want.items()}, \
            "after %s the committed offsets read %r, committed %r" % (
                how, {tp.partition: (tp.offset, tp.metadata) for tp in back}, want)

        adm = C.admin(boot)
        listed = adm.list_consumer_groups(request_timeout=15).result(timeout=20)
        states = {g.group_id: g.state for g in listed.valid}
        assert states.get(group) == ConsumerGroupState.STABLE, \
            "after %s group %s is listed as %r (expected STABLE): %r" % (how, group, states.get(group), states)
        desc = adm.describe_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
        assert desc.state == ConsumerGroupState.STABLE and [m.member_id for m in desc.members] == [member_id], \
            "after %s: %s with members %r, expected STABLE with %s" % (
                how, desc.state, [m.member_id for m in desc.members], member_id)
        assert {tp.partition for tp in desc.members[0].assignment.topic_partitions} == {0, 1, 2}, \
            "the member's assignment after %s: %r" % (how, desc.members[0].assignment.topic_partitions)

        # the live member rides through: same member id, generation still accepted (unless the
        # old port was taken and the broker came back elsewhere, where the member cannot find it)
        later = want
        if b.port == old_port:
            later = {p: o + 1 for p, o in want.items()}
            deadline = time.time() + 30
            while True:
                try:
                    C.commit_sync(a.c, [TopicPartition(topic, p, o, metadata="after") for p, o in later.items()])
                    break
                except (KafkaException, AssertionError) as e:
                    # the client may still be reconnecting to the coordinator
                    if time.time() > deadline:
                        raise AssertionError("the member's commit after the %s restart kept failing: %s" % (how, e))
                    a.poll(0.2)
            poll_all([a], 2.0)
            assert a.c.memberid() == member_id and len(a.assigns) == 1 and not a.revokes, \
                "the member was rebalanced across the %s restart (member id %s -> %s, assigns %r, revokes %r)" % (
                    how, member_id, a.c.memberid(), a.assigns, a.revokes)
        a.close()

        newcomer.subscribe([topic])
        first = {}
        deadline = time.time() + 30
        while len(first) < 3 and time.time() < deadline:
            m = newcomer.poll(0.2)
            if m is not None and not m.error():
                first.setdefault(m.partition(), m.offset())
        assert first == later, "after %s a new consumer started at %r, expected the last commit %r" % (
            how, first, later)
    finally:
        a.close()
        if newcomer is not None:
            newcomer.close()


# ---------------------------------------------------------------------------- static membership
@pytest.mark.timeout(120)
def test_static_member_rejoins_without_rebalancing_the_group(fast):
    """KIP-345: a static member (group.instance.id) that closes sends no LeaveGroup; coming back
    within session.timeout.ms it gets its old assignment and nobody else is rebalanced. A dynamic
    member leaving does rebalance."""
    boot = fast.bootstrap
    topic = C.create_topic(boot, 4, "g-static")
    group = C.unique("g-static")
    ledger = Ledger()
    static = {"session.timeout.ms": 30000}
    x = Member(boot, group, topic, "x", ledger, **dict(static, **{"group.instance.id": "inst-x"}))
    y = Member(boot, group, topic, "y", ledger, **dict(static, **{"group.instance.id": "inst-y"}))
    x2 = z = None
    try:
        settle([x, y], range(4), counts=[2, 2])
        x_parts, y_parts = set(x.owned), set(y.owned)
        y_events = (len(y.assigns), len(y.revokes))
        x.close()
        poll_all([y], 2.0)
        x2 = Member(boot, group, topic, "x2", ledger, **dict(static, **{"group.instance.id": "inst-x"}))
        poll_all([x2, y], 30, lambda: bool(x2.owned))
        poll_all([x2, y], 3.0)  # y heartbeats every 0.5 s: a rebalance would reach it now
        assert x2.owned == x_parts, "the static member came back with %r, had %r" % (sorted(x2.owned), sorted(x_parts))
        assert (len(y.assigns), len(y.revokes)) == y_events and y.owned == y_parts, \
            "the other member was rebalanced when a static member came back (assigns %r, revokes %r)" % (
                y.assigns, y.revokes)
        desc = C.admin(boot).describe_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
        assert desc.state == ConsumerGroupState.STABLE, "group state %s after the static rejoin" % desc.state
        assert sorted((m.group_instance_id, m.member_id) for m in desc.members) == \
            sorted([("inst-x", x2.c.memberid()), ("inst-y", y.c.memberid())]), \
            "members after the static rejoin: %r" % ([(m.group_instance_id, m.member_id) for m in desc.members],)

        # a dynamic member joining and leaving rebalances the static ones
        z = Member(boot, group, topic, "z", ledger)
        settle([x2, y, z], range(4))
        revokes_before = len(y.revokes) + len(x2.revokes)
        z.close()
        settle([x2, y], range(4), counts=[2, 2])
        assert len(y.revokes) + len(x2.revokes) > revokes_before, \
            "a dynamic member left and the static members were not rebalanced"
        check_ledger(ledger)
    finally:
        for m in (x, y, x2, z):
            if m is not None:
                m.close()


# ---------------------------------------------------------------------------- producers feeding groups
class Feeder:
    """A producer thread: batches of keyed messages every few ms until stopped; every
    acknowledged (partition, offset) is recorded."""

    def __init__(self, bootstrap, topic, per_batch=20, pause=0.02):
        self.topic = topic
        self.acked = set()
        self.failed = []
        self.stop_flag = threading.Event()
        self.p = C.confluent_producer(bootstrap, acks="all")
        self.per_batch = per_batch
        self.pause = pause
        self.thread = threading.Thread(target=self._run, name="feeder", daemon=True)
        self.thread.start()

    def _cb(self, err, msg):
        if err is not None:
            self.failed.append(err)
        else:
            self.acked.add((msg.partition(), msg.offset()))

    def _run(self):
        i = 0
        while not self.stop_flag.is_set():
            for _ in range(self.per_batch):
                try:
                    self.p.produce(self.topic, key=b"k%d" % (i % 101), value=b"f%d" % i, on_delivery=self._cb)
                except BufferError:
                    break
                i += 1
            self.p.poll(0)
            time.sleep(self.pause)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(10)
        left = self.p.flush(30)
        assert left == 0 and not self.failed, "feeder: %d undelivered, failures %r" % (left, self.failed[:3])
        return self.acked


class Runner:
    """Polls one Member in its own thread until stopped, then closes it (from that thread)."""

    def __init__(self, member):
        self.member = member
        self.stop_flag = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, name="member-" + member.name, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while not self.stop_flag.is_set():
                self.member.poll(0.05)
            self.member.close()
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.error = e

    def stop(self):
        self.stop_flag.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "member %s did not close within 60 s" % self.member.name
        assert self.error is None, "member %s failed: %r" % (self.member.name, self.error)


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("%s: not within %.0f s" % (what, timeout))


def drain(ledger, produced, members_factory, timeout=60):
    """After the producer stopped: consume with fresh members until every produced message was
    delivered at least once (to someone), then close them."""
    runners = [Runner(m) for m in members_factory()]
    try:
        wait_for(lambda: set(produced) <= {po for po in ledger.delivered()}, timeout,
                 "the group consuming the last produced messages (%d produced)" % len(produced))
    finally:
        for r in runners:
            r.stop()


@pytest.mark.timeout(150)
def test_swift_member_shares_a_cooperative_group_with_librdkafka(fast, sluice_bin):
    """`sluice consume --group` (the Swift client's cooperative-sticky assignor and member) in
    one group with a librdkafka member: librdkafka gives up only the two partitions that move,
    the Swift member is handed only those, and when it exits (commit, LeaveGroup) librdkafka
    takes them back from the Swift member's commits: every message is read exactly once."""
    boot = fast.bootstrap
    topic = C.create_topic(boot, 4, "g-mixed")
    group = C.unique("g-mixed")
    ledger = Ledger()
    m1 = Member(boot, group, topic, "m1", ledger, **{"partition.assignment.strategy": "cooperative-sticky"})
    runner = Runner(m1)
    feeder, swift = None, None
    try:
        wait_for(lambda: m1.owned == set(range(4)), 30, "m1 owning all 4 partitions")
        swift = subprocess.Popen([sluice_bin, "consume", "--bootstrap", boot, "--topic", topic, "--group", group,
                                  "--assignment-strategy", "cooperative-sticky", "--from-beginning", "--count", "600",
                                  "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: len(m1.owned) == 2, 30, "m1 giving up two partitions to the Swift member")
        kept = set(m1.owned)
        feeder = Feeder(boot, topic)
        out, err = swift.communicate(timeout=90)
        assert swift.returncode == 0, err.decode()
        records = [json.loads(line) for line in out.decode().splitlines()]
        assert len(records) == 600
        assert {r["partition"] for r in records}.isdisjoint(kept), "the Swift member read a partition m1 kept"
        wait_for(lambda: m1.owned == set(range(4)), 30, "m1 taking the Swift member's partitions back")
        revokes = list(m1.revokes)
        produced = feeder.stop()
        swift_read = [(r["partition"], r["offset"]) for r in records]
        wait_for(lambda: set(produced) <= set(ledger.delivered()) | set(swift_read), 30, "every message consumed")
    finally:
        if feeder is not None and not feeder.stop_flag.is_set():
            feeder.stop_flag.set()
        if swift is not None and swift.poll() is None:
            swift.kill()
        runner.stop()
    assert [len(r) for r in revokes] == [2], "m1's revokes %r: expected one incremental revoke of 2" % (revokes,)
    both = ledger.delivered() + swift_read
    assert len(both) == len(set(both)), "%d messages read twice across the two clients" % (len(both) - len(set(both)))
    check_ledger(ledger)


@pytest.mark.timeout(150)
def test_cooperative_sticky_rebalancing_moves_only_what_it_must(fast):
    """librdkafka's cooperative-sticky assignor (incremental rebalancing) over the classic
    protocol: 2 then 3 members on a 6-partition topic while messages flow. A member keeps the
    partitions it is not giving up (it is never left with nothing mid-rebalance), a partition
    is never owned twice, and every message is consumed; nothing committed is read twice."""
    boot = fast.bootstrap
    topic = C.create_topic(boot, 6, "g-coop")
    group = C.unique("g-coop")
    ledger = Ledger()
    coop = {"partition.assignment.strategy": "cooperative-sticky"}
    feeder = Feeder(boot, topic)
    m1 = Member(boot, group, topic, "m1", ledger, **coop)
    runners = [Runner(m1)]
    try:
        wait_for(lambda: m1.owned == set(range(6)), 30, "m1 owning all 6 partitions")
        m2 = Member(boot, group, topic, "m2", ledger, **coop)  # members join as soon as they subscribe
        runners.append(Runner(m2))
        wait_for(lambda: sorted(len(m.owned) for m in (m1, m2)) == [3, 3] and not m1.owned & m2.owned, 30,
                 "m1 and m2 owning 3 partitions each")
        kept = set(m1.owned)
        m3 = Member(boot, group, topic, "m3", ledger, **coop)
        runners.append(Runner(m3))
        wait_for(lambda: sorted(len(m.owned) for m in (m1, m2, m3)) == [2, 2, 2], 30,
                 "three members owning 2 partitions each")
        time.sleep(1.0)
        final = [set(m.owned) for m in (m1, m2, m3)]
        assert set().union(*final) == set(range(6)) and sum(map(len, final)) == 6, \
            "final assignment is not a disjoint cover: %r" % final
        assert final[0] <= kept, "m1 gained %r when m3 joined (sticky: it should only give up)" % (final[0] - kept,)
        # incremental: the revokes were partial, never "everything" as the eager protocol does
        for m in (m1, m2):
            for r in m.revokes:
                assert len(r) < 6 and r != frozenset(range(6)), "%s revoked %r at once" % (m.name, sorted(r))
        assert [len(r) for r in m1.revokes] == [3, 1], \
            "m1's revokes %r: expected 3 partitions (m2 joining) then 1 (m3 joining)" % ([sorted(r) for r in m1.revokes],)
        assert [len(r) for r in m2.revokes] == [1], "m2's revokes: %r (expected one partition, to m3)" % (m2.revokes,)
        produced = feeder.stop()
        wait_for(lambda: set(produced) <= set(ledger.delivered()), 30, "the members consuming every message")
    finally:
        if not feeder.stop_flag.is_set():
            feeder.stop_flag.set()
        for r in runners:
            r.stop()
    seen = check_ledger(ledger, produced)
    assert len(produced) > 500, "only %d messages produced while the group rebalanced" % len(produced)
    dups = sum(1 for n in seen.values() if n > 1)
    assert dups == 0, "%d messages read twice although every revoked partition was committed first" % dups


@pytest.mark.timeout(200)
@pytest.mark.long
def test_churn_four_members_joining_and_leaving_for_a_minute(broker_factory):
    """Four librdkafka consumers join and leave at random for a minute while a producer runs.
    Each commits synchronously what it processed when partitions are revoked (and so at close).
    From the callbacks: never two owners at once, no message to a non-owner, nothing read
    twice below a commit, nothing missed."""
    b = broker_factory(settings={"group.initial.rebalance.delay.ms": "0"})
    boot = b.bootstrap
    topic = C.create_topic(boot, 8, "g-churn")
    group = C.unique("g-churn")
    ledger = Ledger()
    seed = int(time.time())
    rng = random.Random(seed)
    feeder = Feeder(boot, topic, per_batch=10, pause=0.01)
    stop = threading.Event()
    errors = []
    incarnations = [0]
    lock = threading.Lock()

    def slot(k):
        r = random.Random(seed * 10 + k)
        n = 0
        try:
            while not stop.is_set():
                with lock:
                    incarnations[0] += 1
                m = Member(boot, group, topic, "s%d.%d" % (k, n), ledger,
                           **{"session.timeout.ms": 30000, "max.poll.interval.ms": 60000})
                n += 1
                life = time.time() + r.uniform(1.5, 8.0)
                try:
                    while time.time() < life and not stop.is_set():
                        m.poll(0.05)
                finally:
                    m.close()
                if m.errors:
                    errors.append((m.name, m.errors[:3]))
                stop.wait(r.uniform(0.0, 1.5))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(("slot %d" % k, repr(e)))

    threads = [threading.Thread(target=slot, args=(k,), daemon=True) for k in range(4)]
    t0 = time.time()
    for t in threads:
        t.start()
        time.sleep(rng.uniform(0.1, 0.5))
    time.sleep(60)
    stop.set()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a member did not close within 60 s of the end of the churn"
    produced = feeder.stop()
    churn = time.time() - t0
    drain(ledger, produced, lambda: [Member(boot, group, topic, "final%d" % k, ledger) for k in range(2)])
    assert not errors, "member errors (seed %d): %r" % (seed, errors[:5])
    seen = check_ledger(ledger, produced)
    events = ledger.snapshot()
    assigns = sum(1 for e in events if e[1] == "assign")
    redelivered = sum(n - 1 for n in seen.values() if n > 1)
    print("churn (seed %d): %.0f s, %d member incarnations, %d assignments, %d messages produced, "
          "%d delivered twice" % (seed, churn, incarnations[0], assigns, len(produced), redelivered))
    assert incarnations[0] >= 16, "only %d members came and went in a minute" % incarnations[0]
    assert len(produced) > 5000, "only %d messages produced during the churn" % len(produced)


# ---------------------------------------------------------------------------- initial delay, session expiry
@pytest.mark.timeout(60)
def test_initial_rebalance_delay_puts_early_joiners_in_one_generation(broker):
    """With the default group.initial.rebalance.delay.ms (3 s) two consumers that join within it
    get their final assignment in the first generation: no revoke, no second rebalance."""
    boot = broker.bootstrap
    topic = C.create_topic(boot, 4, "g-delay")
    group = C.unique("g-delay")
    ledger = Ledger()
    t0 = time.time()
    a = Member(boot, group, topic, "a", ledger)
    poll_all([a], 0.5)
    b = Member(boot, group, topic, "b", ledger)
    try:
        settle([a, b], range(4), counts=[2, 2])
        took = time.time() - t0
        poll_all([a, b], 1.5)
        assert (a.assigns, b.assigns) == ([frozenset(a.owned)], [frozenset(b.owned)]) and not a.revokes + b.revokes, \
            "two members joining within the initial delay went through more than one generation: " \
            "a assigns %r revokes %r, b assigns %r revokes %r" % (a.assigns, a.revokes, b.assigns, b.revokes)
        assert took >= 2.5, "the group formed %.1f s after the first join, before the 3 s initial delay" % took
    finally:
        a.close()
        b.close()


def subscription(topics):
    """ConsumerProtocolSubscription v0 (what a consumer puts in JoinGroup's protocol metadata)."""
    return i16(0) + array(string(t) for t in topics) + nbytes(None)


def parse_assignment(data):
    """ConsumerProtocolAssignment -> {topic: [partitions]}."""
    if not data:
        return {}
    r = Reader(data)
    r.i16()
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        out[t] = [r.i32() for _ in range(r.i32())]
    return out


def join_group(conn, version, group, member_id="", session_ms=10000, rebalance_ms=10000, instance_id=None,
               protocols=(("range", b""),)):
    """JoinGroup v1-v5 -> dict(error, generation, protocol, leader, member_id, members)."""
    body = string(group) + i32(session_ms) + i32(rebalance_ms) + string(member_id)
    if version >= 5:
        body += string(instance_id)
    body += string("consumer") + array(string(n) + nbytes(m) for n, m in protocols)
    r = Reader(conn.roundtrip(API_JOIN_GROUP, version, body))
    if version >= 2:
        r.i32()
    out = {"error": r.i16(), "generation": r.i32(), "protocol": r.string(), "leader": r.string(),
           "member_id": r.string(), "members": []}
    for _ in range(r.i32()):
        mid = r.string()
        if version >= 5:
            r.string()
        out["members"].append((mid, r.nbytes()))
    return out


def sync_group(conn, group, generation, member_id, assignments=(), instance_id=None):
    """SyncGroup v3 -> (error, assignment bytes)."""
    body = (string(group) + i32(generation) + string(member_id) + string(instance_id)
            + array(string(m) + nbytes(a) for m, a in assignments))
    r = Reader(conn.roundtrip(API_SYNC_GROUP, 3, body))
    r.i32()
    return r.i16(), r.nbytes()


def heartbeat(conn, group, generation, member_id, instance_id=None):
    """Heartbeat v3 -> error."""
    r = Reader(conn.roundtrip(API_HEARTBEAT, 3, string(group) + i32(generation) + string(member_id)
                              + string(instance_id)))
    r.i32()
    return r.i16()


def leave_group(conn, group, member_id, instance_id=None):
    """LeaveGroup v3 -> (error, [(member_id, error)])."""
    r = Reader(conn.roundtrip(API_LEAVE_GROUP, 3, string(group) + array([string(member_id) + string(instance_id)])))
    r.i32()
    err = r.i16()
    return err, [(r.string(), r.string(), r.i16())[::2] for _ in range(r.i32())]


def offset_commit(conn, version, group, offsets, generation=-1, member_id="", retention_ms=-1):
    """OffsetCommit v2 (with retention time) or v7; offsets {(topic, partition): (offset, metadata)}
    -> {(topic, partition): error}."""
    by_topic = {}
    for (t, p), (o, md) in sorted(offsets.items()):
        by_topic.setdefault(t, []).append((p, o, md))
    body = string(group) + i32(generation) + string(member_id)
    if version <= 4:
        body += i64(retention_ms)
    if version >= 7:
        body += string(None)
    body += array(string(t) + array(i32(p) + i64(o) + (i32(-1) if version >= 6 else b"") + string(md)
                                    for p, o, md in parts) for t, parts in by_topic.items())
    r = Reader(conn.roundtrip(API_OFFSET_COMMIT, version, body))
    if version >= 3:
        r.i32()
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            out[(t, p)] = r.i16()
    return out


def offset_fetch(conn, group, partitions=None):
    """OffsetFetch v5 -> (error, {(topic, partition): (offset, metadata, error)}); partitions None: all."""
    if partitions is None:
        topics = i32(-1)
    else:
        by_topic = {}
        for t, p in partitions:
            by_topic.setdefault(t, []).append(p)
        topics = array(string(t) + array(i32(p) for p in ps) for t, ps in by_topic.items())
    r = Reader(conn.roundtrip(API_OFFSET_FETCH, 5, string(group) + topics))
    r.i32()
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            off = r.i64()
            r.i32()  # leader epoch
            md = r.string()
            out[(t, p)] = (off, md, r.i16())
    return r.i16(), out


def offset_delete(conn, group, partitions):
    """OffsetDelete v0 -> (error, {(topic, partition): error})."""
    by_topic = {}
    for t, p in partitions:
        by_topic.setdefault(t, []).append(p)
    body = string(group) + array(string(t) + array(i32(p) for p in ps) for t, ps in by_topic.items())
    r = Reader(conn.roundtrip(API_OFFSET_DELETE, 0, body))
    err = r.i16()
    r.i32()
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            out[(t, p)] = r.i16()
    return err, out


@pytest.mark.timeout(90)
def test_member_that_stops_heartbeating_is_expired_and_its_partitions_move(fast):
    """A raw member (session timeout 2 s) joins next to a librdkafka consumer, gets half the
    partitions, then goes silent: after its session times out the broker removes it, the
    consumer gets every partition, and the silent member's heartbeat is UNKNOWN_MEMBER_ID."""
    boot = fast.bootstrap
    topic = C.create_topic(boot, 4, "g-expire")
    group = C.unique("g-expire")
    ledger = Ledger()
    a = Member(boot, group, topic, "a", ledger)
    conn = kwire.Conn(boot, timeout=30)
    raw = {}
    try:
        settle([a], range(4))

        def raw_member():
            j = join_group(conn, 3, group, session_ms=2000, rebalance_ms=20000,
                           protocols=[("range", subscription([topic]))])
            raw["join"] = j
            if j["error"] == 0:
                raw["sync"] = sync_group(conn, group, j["generation"], j["member_id"])
                raw["synced_at"] = time.time()

        t = threading.Thread(target=raw_member, daemon=True)
        t.start()
        poll_all([a], 30, lambda: not t.is_alive())
        assert "sync" in raw, "the raw member did not get through JoinGroup/SyncGroup: %r" % raw
        assert raw["join"]["error"] == 0 and raw["sync"][0] == 0, "raw member: %r" % raw
        theirs = set(parse_assignment(raw["sync"][1]).get(topic, []))
        assert len(theirs) == 2, "the raw member was assigned %r (expected 2 of 4 partitions)" % sorted(theirs)
        poll_all([a], 10, lambda: a.owned == set(range(4)) - theirs)
        assert a.owned == set(range(4)) - theirs, "the consumer owns %r next to the raw member's %r" % (
            sorted(a.owned), sorted(theirs))
        poll_all([a], 20, lambda: a.owned == set(range(4)))
        expired_after = time.time() - raw["synced_at"]
        assert a.owned == set(range(4)), \
            "the silent member (2 s session) still held %r after %.0f s" % (sorted(theirs), expired_after)
        assert expired_after >= 1.5, "the silent member lost its partitions %.1f s after syncing, before its " \
                                     "2 s session timeout" % expired_after
        err = heartbeat(conn, group, raw["join"]["generation"], raw["join"]["member_id"])
        assert err == UNKNOWN_MEMBER_ID, "heartbeat of the expired member: error %d, expected UNKNOWN_MEMBER_ID (25)" % err
        check_ledger(ledger)
    finally:
        conn.close()
        a.close()


# ---------------------------------------------------------------------------- admin
@pytest.mark.timeout(120)
def test_admin_list_describe_delete_groups_and_offsets(fast):
    boot = fast.bootstrap
    adm = C.admin(boot)
    topic = C.create_topic(boot, 4, "g-admin")
    other = C.create_topic(boot, 1, "g-admin-other")
    group = C.unique("g-admin")
    produce_keyed(boot, topic, 100)
    ledger = Ledger()
    a = Member(boot, group, topic, "admin-a", ledger)
    b = Member(boot, group, topic, "admin-b", ledger)
    try:
        settle([a, b], range(4), counts=[2, 2])
        poll_all([a, b], 20, lambda: len(ledger.delivered()) >= 100)
        a.commit()
        b.commit()
        with kwire.Conn(boot) as conn:  # an offset of a topic the group does not subscribe to
            assert offset_commit(conn, 7, group, {(other, 0): (3, "x")},
                                 generation=-1, member_id="") == {(other, 0): UNKNOWN_MEMBER_ID}, \
                "a non-member commit into a group with members must be refused (UNKNOWN_MEMBER_ID)"

        listed = adm.list_consumer_groups(request_timeout=15).result(timeout=20)
        mine = [g for g in listed.valid if g.group_id == group]
        assert len(mine) == 1 and mine[0].state == ConsumerGroupState.STABLE and not mine[0].is_simple_consumer_group, \
            "ListGroups: %r" % ([(g.group_id, g.state) for g in listed.valid],)
        stable = adm.list_consumer_groups(states={ConsumerGroupState.STABLE}, request_timeout=15).result(timeout=20)
        empty = adm.list_consumer_groups(states={ConsumerGroupState.EMPTY}, request_timeout=15).result(timeout=20)
        assert group in {g.group_id for g in stable.valid}, "ListGroups(states=Stable) lacks the stable group"
        assert group not in {g.group_id for g in empty.valid}, "ListGroups(states=Empty) lists a stable group"

        desc = adm.describe_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
        assert desc.state == ConsumerGroupState.STABLE and desc.partition_assignor == "range", \
            "DescribeGroups: state %s, assignor %r" % (desc.state, desc.partition_assignor)
        members = {m.client_id: m for m in desc.members}
        assert set(members) == {"admin-a", "admin-b"}, "DescribeGroups members: %r" % sorted(members)
        for name, member in (("admin-a", a), ("admin-b", b)):
            d = members[name]
            assert d.member_id == member.c.memberid(), "%s: member id %r, the client says %r" % (
                name, d.member_id, member.c.memberid())
            assert "127.0.0.1" in d.host, "%s: client host %r" % (name, d.host)
            assert {(tp.topic, tp.partition) for tp in d.assignment.topic_partitions} == \
                {(topic, p) for p in member.owned}, "%s: described assignment %r, the client owns %r" % (
                    name, d.assignment.topic_partitions, sorted(member.owned))

        fut = adm.delete_consumer_groups([group], request_timeout=15)[group]
        C.expect_error_code(fut, [KafkaError.NON_EMPTY_GROUP], "DeleteGroups of a group with members")

        with kwire.Conn(boot) as conn:
            err, parts = offset_delete(conn, group, [(topic, 0), (topic, 1)])
            assert err == 0 and parts == {(topic, 0): GROUP_SUBSCRIBED_TO_TOPIC, (topic, 1): GROUP_SUBSCRIBED_TO_TOPIC}, \
                "OffsetDelete of a subscribed topic: error %d, partitions %r (expected 86 each)" % (err, parts)

        ends = end_offsets(boot, topic, range(4))
        a.close()
        b.close()
        wait_for(lambda: adm.describe_consumer_groups([group], request_timeout=15)[group].result(timeout=20).state
                 == ConsumerGroupState.EMPTY, 15, "the group turning Empty after its members left")
        empty = adm.list_consumer_groups(states={ConsumerGroupState.EMPTY}, request_timeout=15).result(timeout=20)
        assert group in {g.group_id for g in empty.valid}, "ListGroups(states=Empty) lacks the emptied group"

        req = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(4)])]
        res = adm.list_consumer_group_offsets(req, request_timeout=15)[group].result(timeout=20)
        assert {tp.partition: tp.offset for tp in res.topic_partitions} == ends, \
            "AdminClient offsets %r, expected the end offsets %r" % (
                {tp.partition: tp.offset for tp in res.topic_partitions}, ends)
        kpa = C.kp_admin(boot)
        try:
            kp_offsets = {tp.partition: om.offset for tp, om in kpa.list_consumer_group_offsets(group).items()
                          if tp.topic == topic}
            assert kp_offsets == ends, "kafka-python offsets %r, expected %r" % (kp_offsets, ends)
        finally:
            kpa.close()

        with kwire.Conn(boot) as conn:
            err, parts = offset_delete(conn, group, [(topic, 0)])
            assert (err, parts) == (0, {(topic, 0): 0}), "OffsetDelete of an empty group: %d %r" % (err, parts)
            err, fetched = offset_fetch(conn, group, [(topic, p) for p in range(4)])
            assert err == 0 and {p: fetched[(topic, p)][0] for p in range(4)} == {**ends, 0: -1}, \
                "after OffsetDelete of partition 0: %r" % fetched

        fut = adm.delete_consumer_groups([group], request_timeout=15)[group]
        fut.result(timeout=20)
        listed = adm.list_consumer_groups(request_timeout=15).result(timeout=20)
        assert group not in {g.group_id for g in listed.valid}, "a deleted group is still listed"
        res = adm.list_consumer_group_offsets(req, request_timeout=15)[group].result(timeout=20)
        assert all(tp.offset < 0 for tp in res.topic_partitions), \
            "a deleted group's offsets are still there: %r" % res.topic_partitions
        desc = adm.describe_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
        assert desc.state == ConsumerGroupState.DEAD and not desc.members, "a deleted group is described as %s" % desc.state
        fut = adm.delete_consumer_groups([group], request_timeout=15)[group]
        C.expect_error_code(fut, [KafkaError.GROUP_ID_NOT_FOUND], "DeleteGroups of a deleted group")
    finally:
        a.close()
        b.close()


@pytest.mark.timeout(60)
def test_describe_groups_reports_authorized_operations_when_asked(fast):
    """DescribeGroups v3+ with include_authorized_operations: Kafka without an authorizer answers
    every operation a group supports (READ, DELETE, DESCRIBE); INT32_MIN means "not asked for".
    kafka-python's KafkaAdminClient always asks and decodes the bit field (INT32_MIN decodes to
    bit 31, which is no ACL operation: describe_consumer_groups raises); confluent asks when told."""
    from confluent_kafka.admin import AclOperation
    boot = fast.bootstrap
    topic = C.create_topic(boot, 2, "g-kpadmin")
    group = C.unique("g-kpadmin")
    ledger = Ledger()
    a = Member(boot, group, topic, "kp-admin-a", ledger)
    kpa = C.kp_admin(boot)
    try:
        settle([a], range(2))
        desc = C.admin(boot).describe_consumer_groups([group], include_authorized_operations=True,
                                                      request_timeout=15)[group].result(timeout=20)
        assert desc.state == ConsumerGroupState.STABLE
        ops = set(desc.authorized_operations or [])
        assert ops >= {AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE}, \
            "confluent describe_consumer_groups(include_authorized_operations=True): authorized operations " \
            "%r, expected READ, DESCRIBE and DELETE" % (desc.authorized_operations,)

        assert (group, "consumer") in [tuple(g[:2]) for g in kpa.list_consumer_groups()], \
            "kafka-python ListGroups lacks the group"
        try:
            info = kpa.describe_consumer_groups([group])[0]
        except ValueError as e:
            raise AssertionError("kafka-python's describe_consumer_groups (DescribeGroups v3 asking for authorized "
                                 "operations) cannot decode the answer: %s" % e)
        assert info.state == "Stable" and [m.client_id for m in info.members] == ["kp-admin-a"], \
            "kafka-python DescribeGroups: %r" % (info,)
        assert set(info.authorized_operations) >= {"READ", "DESCRIBE", "DELETE"}, \
            "authorized operations kafka-python decodes: %r" % (info.authorized_operations,)
        assignment = info.members[0].member_assignment
        assert sorted((t, sorted(ps)) for t, ps in assignment.assignment) == [(topic, [0, 1])], \
            "the assignment kafka-python decodes: %r" % (assignment,)
    finally:
        kpa.close()
        a.close()


@pytest.mark.timeout(90)
def test_kafka_python_and_librdkafka_share_a_group(fast):
    """kafka-python's KafkaConsumer and a librdkafka consumer in one group (both classic
    protocol, range assignor; either may lead) split the partitions and read everything once."""
    from kafka import KafkaConsumer
    boot = fast.bootstrap
    topic = C.create_topic(boot, 4, "g-mixed")
    group = C.unique("g-mixed")
    ledger = Ledger()
    kp = KafkaConsumer(bootstrap_servers=[boot], group_id=group, enable_auto_commit=False,
                       auto_offset_reset="earliest", heartbeat_interval_ms=500, client_id="kp-member")
    kp.subscribe([topic])
    rk = Member(boot, group, topic, "rk", ledger)
    kp_got = []
    try:
        def kp_poll():
            for _tp, recs in kp.poll(timeout_ms=50).items():
                kp_got.extend((r.partition, r.offset) for r in recs)

        def settled():
            kp_parts = {tp.partition for tp in kp.assignment()}
            return len(kp_parts) == 2 and len(rk.owned) == 2 and kp_parts | rk.owned == set(range(4))

        deadline = time.time() + 40
        while time.time() < deadline and not settled():
            kp_poll()
            rk.poll(0.02)
        kp_parts = {tp.partition for tp in kp.assignment()}
        assert settled(), "kafka-python owns %r, librdkafka %r: not a 2/2 split of 4 partitions" % (
            sorted(kp_parts), sorted(rk.owned))
        produced = produce_keyed(boot, topic, 400)
        deadline = time.time() + 30
        while time.time() < deadline and len(kp_got) + len(ledger.delivered()) < len(produced):
            kp_poll()
            rk.poll(0.02)
        rk_got = ledger.delivered()
        assert {p for p, _ in kp_got} <= kp_parts and {p for p, _ in rk_got} <= rk.owned, \
            "a consumer read a partition it was not assigned"
        assert sorted(kp_got + rk_got) == sorted(produced), \
            "together they read %d messages (%d distinct), %d were produced" % (
                len(kp_got) + len(rk_got), len(set(kp_got + rk_got)), len(produced))
        desc = C.admin(boot).describe_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
        assert sorted(m.client_id for m in desc.members) == ["kp-member", "rk"], \
            "described members: %r" % ([m.client_id for m in desc.members],)
    finally:
        kp.close()
        rk.close()


# ---------------------------------------------------------------------------- raw protocol
@pytest.mark.timeout(60)
def test_raw_join_group_member_id_required_from_v4_only(fast):
    """KIP-394: JoinGroup v4+ with an empty member id answers MEMBER_ID_REQUIRED with a member id
    to rejoin with; v3 and older join directly. Then the rest of a member's life on the wire:
    SyncGroup, Heartbeat, LeaveGroup."""
    boot = fast.bootstrap
    group = C.unique("raw-join")
    with kwire.Conn(boot, timeout=20) as conn:
        first = join_group(conn, 4, group)
        assert first["error"] == MEMBER_ID_REQUIRED and first["member_id"], \
            "JoinGroup v4 with no member id: error %d, member id %r; expected MEMBER_ID_REQUIRED (79) and an id" % (
                first["error"], first["member_id"])
        j = join_group(conn, 5, group, member_id=first["member_id"])
        assert j["error"] == 0 and j["member_id"] == first["member_id"] and j["leader"] == j["member_id"] \
            and j["generation"] == 1 and j["protocol"] == "range" and [m for m, _ in j["members"]] == [j["member_id"]], \
            "rejoin with the given id: %r" % j
        assignment = i16(0) + array([string("some-topic") + array([i32(0)])]) + nbytes(None)
        err, got = sync_group(conn, group, 1, j["member_id"], [(j["member_id"], assignment)])
        assert err == 0 and got == assignment, "SyncGroup: error %d, assignment %r" % (err, got)
        assert heartbeat(conn, group, 1, j["member_id"]) == 0, "heartbeat of a synced member"
        assert heartbeat(conn, group, 7, j["member_id"]) == 22, "heartbeat with a wrong generation: not ILLEGAL_GENERATION"
        err, members = leave_group(conn, group, j["member_id"])
        assert err == 0 and members == [(j["member_id"], 0)], "LeaveGroup: %d %r" % (err, members)
        assert heartbeat(conn, group, 1, j["member_id"]) == UNKNOWN_MEMBER_ID, "heartbeat after leaving"

        v3 = join_group(conn, 3, C.unique("raw-join-v3"))
        assert v3["error"] == 0 and v3["member_id"] and v3["generation"] == 1 and v3["leader"] == v3["member_id"], \
            "JoinGroup v3 with no member id must join directly (no MEMBER_ID_REQUIRED before v4): %r" % v3


@pytest.mark.timeout(60)
def test_raw_static_member_rejoin_fences_the_old_incarnation(fast):
    """KIP-345 on the wire: a static member (JoinGroup v5 with a group.instance.id) needs no
    MEMBER_ID_REQUIRED round trip; a second JoinGroup with the same instance id and protocols
    gets a new member id in the same generation (no rebalance), and the old member id is
    FENCED_INSTANCE_ID from then on."""
    boot = fast.bootstrap
    group = C.unique("raw-static")
    protocols = [("range", subscription(["some-topic"]))]
    with kwire.Conn(boot, timeout=20) as conn:
        first = join_group(conn, 5, group, instance_id="i-1", protocols=protocols)
        assert first["error"] == 0 and first["generation"] == 1 and first["leader"] == first["member_id"], \
            "static JoinGroup v5 (no member id): %r" % first
        old = first["member_id"]
        assert sync_group(conn, group, 1, old, [(old, b"")], instance_id="i-1")[0] == 0, "SyncGroup of the static leader"
        assert heartbeat(conn, group, 1, old, "i-1") == 0, "heartbeat of the synced static member"
        again = join_group(conn, 5, group, instance_id="i-1", protocols=protocols)
        assert again["error"] == 0 and again["generation"] == 1 and again["member_id"] not in ("", old), \
            "the static member's second incarnation: %r (expected generation 1 and a new member id)" % again
        new = again["member_id"]
        assert heartbeat(conn, group, 1, old, "i-1") == FENCED_INSTANCE_ID, \
            "heartbeat of the replaced incarnation: not FENCED_INSTANCE_ID (82)"
        assert heartbeat(conn, group, 1, new, "i-1") == 0, "heartbeat of the new incarnation"
        err, members = leave_group(conn, group, old, "i-1")
        assert (err, members) == (0, [(old, FENCED_INSTANCE_ID)]), \
            "LeaveGroup of the replaced incarnation: %d %r (expected FENCED_INSTANCE_ID for it)" % (err, members)
        err, members = leave_group(conn, group, new, "i-1")
        assert (err, members) == (0, [(new, 0)]), "LeaveGroup of the current incarnation: %d %r" % (err, members)


@pytest.mark.timeout(60)
def test_raw_group_error_codes(fast):
    boot = fast.bootstrap
    group = C.unique("raw-err")
    with kwire.Conn(boot, timeout=20) as conn:
        j = join_group(conn, 5, group, session_ms=1)
        assert j["error"] == INVALID_SESSION_TIMEOUT, \
            "JoinGroup with a 1 ms session timeout: error %d, expected INVALID_SESSION_TIMEOUT (26)" % j["error"]
        j = join_group(conn, 5, group, session_ms=3_600_000)
        assert j["error"] == INVALID_SESSION_TIMEOUT, \
            "JoinGroup with a session timeout above group.max.session.timeout.ms: error %d" % j["error"]
        err = heartbeat(conn, C.unique("raw-nogroup"), 1, "nobody")
        assert err == UNKNOWN_MEMBER_ID, "Heartbeat for an unknown group: error %d, expected UNKNOWN_MEMBER_ID (25)" % err
        err, _ = sync_group(conn, C.unique("raw-nogroup"), 1, "nobody")
        assert err == UNKNOWN_MEMBER_ID, "SyncGroup for an unknown group: error %d, expected 25" % err


@pytest.mark.timeout(60)
def test_raw_simple_commit_and_fetch(fast):
    """assign()-style consumers commit with generation -1 and no member id into a group nobody
    joined; OffsetFetch reads it back; a never-committed partition reads offset -1, error 0; an
    OffsetCommit v2 retention time expires the offset."""
    boot = fast.bootstrap
    topic = C.create_topic(boot, 3, "raw-commit")
    group = C.unique("raw-simple")
    with kwire.Conn(boot, timeout=20) as conn:
        res = offset_commit(conn, 7, group, {(topic, 0): (42, "simple"), (topic, 1): (7, None)})
        assert res == {(topic, 0): 0, (topic, 1): 0}, "simple OffsetCommit v7: %r" % res
        err, got = offset_fetch(conn, group, [(topic, 0), (topic, 1), (topic, 2)])
        assert err == 0 and got == {(topic, 0): (42, "simple", 0), (topic, 1): (7, "", 0), (topic, 2): (-1, "", 0)}, \
            "OffsetFetch: error %d, %r" % (err, got)
        err, everything = offset_fetch(conn, group)
        assert err == 0 and set(everything) == {(topic, 0), (topic, 1)}, "OffsetFetch of all topics: %r" % everything
        err, none = offset_fetch(conn, C.unique("raw-never"), [(topic, 0)])
        assert (err, none) == (0, {(topic, 0): (-1, "", 0)}), "OffsetFetch of a group that never existed: %r" % none
        res = offset_commit(conn, 7, group, {("no-such-topic-" + group, 0): (1, "")})
        assert list(res.values()) == [3], "commit to a missing topic: %r (expected UNKNOWN_TOPIC_OR_PARTITION)" % res

        short = C.unique("raw-retention")
        assert offset_commit(conn, 2, short, {(topic, 0): (5, "")}, retention_ms=1000) == {(topic, 0): 0}
        assert offset_fetch(conn, short, [(topic, 0)])[1][(topic, 0)][0] == 5
        deadline = time.time() + 15
        while time.time() < deadline and offset_fetch(conn, short, [(topic, 0)])[1][(topic, 0)][0] != -1:
            time.sleep(0.2)
        assert offset_fetch(conn, short, [(topic, 0)])[1][(topic, 0)][0] == -1, \
            "an OffsetCommit v2 with a 1 s retention time was still there after 15 s"
    listed = C.admin(boot).list_consumer_groups(request_timeout=15).result(timeout=20)
    mine = [(g.is_simple_consumer_group, g.state) for g in listed.valid if g.group_id == group]
    assert mine == [(True, ConsumerGroupState.EMPTY)], \
        "a group that only has simple commits is listed as %r (expected one simple, Empty group)" % mine
    # the confluent client reads the raw commit
    c = C.group_consumer(boot, group)
    try:
        back = c.committed([TopicPartition(topic, 0)], timeout=10)[0]
        assert (back.offset, back.metadata) == (42, "simple"), "confluent committed(): %r" % back
    finally:
        c.close()


@pytest.mark.timeout(60)
def test_raw_join_within_initial_delay_is_one_generation(broker):
    """Two JoinGroup v3 (no member id round trip) on two connections within the default 3 s
    initial delay: both answered after the delay, with generation 1, the same leader, and the
    leader's answer lists both members."""
    boot = broker.bootstrap
    group = C.unique("raw-delay")
    out = {}

    def join(k):
        with kwire.Conn(boot, timeout=30) as conn:
            out[k] = join_group(conn, 3, group)
            out[k]["at"] = time.time()

    t0 = time.time()
    threads = [threading.Thread(target=join, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.3)
    for t in threads:
        t.join(30)
    assert set(out) == {0, 1}, "a JoinGroup got no answer: %r" % out
    a, b = out[0], out[1]
    assert a["error"] == b["error"] == 0, "JoinGroup errors %d, %d" % (a["error"], b["error"])
    assert a["generation"] == b["generation"] == 1 and a["leader"] == b["leader"], \
        "generations %d/%d, leaders %s/%s: the initial delay did not batch the two joins" % (
            a["generation"], b["generation"], a["leader"], b["leader"])
    leader = a if a["leader"] == a["member_id"] else b
    assert sorted(m for m, _ in leader["members"]) == sorted([a["member_id"], b["member_id"]]), \
        "the leader's member list: %r" % leader["members"]
    assert min(a["at"], b["at"]) - t0 >= 2.5, "answered %.1f s after the first join, before the 3 s delay" % (
        min(a["at"], b["at"]) - t0)


def _delete_group(boot, group):
    import kspec
    with kspec.Connection(boot) as c:
        r = c.call("DeleteGroups", 2, {"GroupsNames": [group]})
    return r["Results"][0]["ErrorCode"]


def test_a_static_member_expires_at_its_session_deadline(fast):
    """Kafka expires a session with a timer at lastHeartbeat + session.timeout.ms, so a group
    whose only (static) member went silent can be deleted right after that deadline, and not
    before it (NON_EMPTY_GROUP, 68). Static members send no LeaveGroup: expiry is their only
    way out."""
    boot = fast.bootstrap
    group = C.unique("raw-static-expiry")
    with kwire.Conn(boot, timeout=20) as conn:
        joined = join_group(conn, 5, group, session_ms=6000, instance_id="i-exp",
                            protocols=[("range", subscription(["t"]))])
        assert joined["error"] == 0, joined
        member = joined["member_id"]
        assert sync_group(conn, group, joined["generation"], member, [(member, b"")], instance_id="i-exp")[0] == 0
        sent = time.monotonic()
        assert heartbeat(conn, group, joined["generation"], member, "i-exp") == 0
        answered = time.monotonic()
    # Silence from here on, as from a static consumer that stopped.
    time.sleep(max(0.0, sent + 5.7 - time.monotonic()))
    assert _delete_group(boot, group) == 68, "5.7 s into a 6 s session the member must still be there"
    time.sleep(max(0.0, answered + 6.0 + 0.25 - time.monotonic()))
    # Polled for a little while: on two busy cores the expiry timer and this request may both be
    # a few hundred milliseconds late, which says nothing about when the session was due.
    # Once the member expired, the empty group is deletable (0) until the offset-expiry pass,
    # twice a second here, removes it by itself for having no offsets (GROUP_ID_NOT_FOUND, 69,
    # as Kafka's cleanup does): either answer says the member is gone.
    deadline = answered + 6.0 + 2.0
    code = _delete_group(boot, group)
    while code == 68 and time.monotonic() < deadline:
        time.sleep(0.1)
        code = _delete_group(boot, group)
    assert code in (0, 69), "2 s after the 6 s session deadline the static member must have expired and the group be deletable"
