# Sluice: build, test and run. Every target that needs system packages installs them first.
SWIFT ?= swift
PYTHON ?= python3
SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 20
VENV := .venv
APT_PACKAGES := pkg-config liblz4-dev libzstd-dev liburing-dev libsnappy-dev zlib1g-dev kcat librdkafka-dev iptables e2fsprogs
PY_PACKAGES := kafka-python==2.3.3 confluent-kafka==2.16.1 lz4 zstandard cramjam python-snappy
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: all deps venv build release test test-long chaos run cluster cluster-stop bench bench-compaction bench-transactions bench-security perftests simulate generate check-generated fuzz clean

all: build

## deps: install the Debian packages the build and the interop tests need (no-op when present).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing \
	    || { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; }; \
	fi

## venv: a local Python environment with the third-party Kafka clients the tests drive.
venv: $(VENV)/.installed
$(VENV)/.installed: Makefile
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(PY_PACKAGES)
	@touch $@

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## test: the whole suite (unit, round-trip, golden frames, mutation fuzzing, interop, storage
## recovery and crash tests), the broker's interop suite with real clients (Tests/Interop), then
## a short libFuzzer run over the decoders.
test: deps venv
	$(SWIFT) build --build-tests
	Tools/mockbroker.sh $(VENV)
	SLUICE_PYTHON=$(CURDIR)/$(VENV)/bin/python $(SWIFT) test --skip-build
	SLUICE_INTEROP_REQUIRE_BINARY=1 Tools/interop.sh -m "not chaos and not long" --durations=25
	Tools/fuzz.sh $(FUZZ_SMOKE_SECONDS)

## test-long: the interop tests marked long (a minute of group churn, the full disk of the short fault
## runs), which make test leaves out to stay under 25 minutes.
test-long: deps venv
	$(SWIFT) build --product sluice
	SLUICE_INTEROP_REQUIRE_BINARY=1 Tools/interop.sh -m long --durations=10

## chaos: the long fault runs (root for the iptables and loop-mount parts): the quorum's
## network-cut tests (Tests/Interop/test_cluster_network_cuts.py), then the replication matrix
## of Tools/chaos/matrix.sh on a release build (about 45 minutes; CHAOS_SCALE=0.2 for a look).
chaos: deps venv
	$(SWIFT) build --product sluice
	SLUICE_INTEROP_REQUIRE_BINARY=1 Tools/interop.sh -m chaos -s
	$(SWIFT) build -c release --product sluice
	Tools/chaos/matrix.sh .build/release/sluice

## bench-compaction: issue #12's figures: the log cleaner's rate, and produce/consume throughput
## on the same broker while it cleans next to it idle, in alternating rounds (about a minute).
bench-compaction: deps venv
	$(SWIFT) build -c release --product sluice
	cc -O2 -Wall -o .build/rdkafka-bench Tools/loadgen/rdkafka-bench.c $$(pkg-config --cflags --libs rdkafka) -lpthread
	mkdir -p bench-results
	$(VENV)/bin/python Tools/bench/compaction.py --sluice .build/release/sluice --loadgen .build/rdkafka-bench --rounds 3 \
	  --out bench-results/compaction.json

## bench-transactions: issue #13's figures: transactional produce (100 and 1,000 records per
## transaction) next to idempotent produce on one release broker, in alternating rounds.
bench-transactions: deps venv
	$(SWIFT) build -c release --product sluice
	mkdir -p bench-results
	$(VENV)/bin/python Tools/bench/transactions.py --sluice .build/release/sluice --out bench-results/transactions.json

## bench-security: issue #14's figures: produce and consume throughput on a PLAINTEXT listener and
## on SASL_PLAINTEXT (PLAIN, SCRAM-SHA-512) of one release broker, in alternating rounds, with
## the librdkafka load generator.
bench-security: deps venv
	$(SWIFT) build -c release --product sluice
	cc -O2 -Wall -o .build/rdkafka-bench Tools/loadgen/rdkafka-bench.c $$(pkg-config --cflags --libs rdkafka) -lpthread
	mkdir -p bench-results
	$(VENV)/bin/python Tools/bench/security.py --sluice .build/release/sluice --loadgen .build/rdkafka-bench \
	  --out bench-results/security.json

## run: start a broker on localhost:9092 with its data in ./data (release build), and
## Prometheus metrics on http://localhost:9644/metrics.
## Extra settings: make run ARGS="--set num.partitions=3".
run: deps
	$(SWIFT) build -c release --product sluice
	.build/release/sluice serve --set metrics.listener=localhost:9644 $(ARGS)

## cluster: start a local cluster of three brokers (each a metadata-quorum voter) in the
## background: bootstrap 127.0.0.1:29091-29093, data and logs in ./data/cluster/.
## `make cluster-stop` stops it; Tools/cluster.sh status describes it.
cluster: deps
	$(SWIFT) build -c release --product sluice
	Tools/cluster.sh start .build/release/sluice

cluster-stop:
	Tools/cluster.sh stop

## bench: the benchmark suite (Tools/bench/run.py): a release broker per flush policy, every
## scenario through librdkafka (Tools/loadgen) and the Swift client, against the machine's own
## limits measured in the same run. Table on stdout, bench-results/results.json and bench.png.
## BENCH_ARGS=--quick runs a fifth of the records; it ends with three local brokers, acks=all
## on RF=1 against RF=3 (BENCH_ARGS=--replication-only runs just that), then issue #15's rows
## (Tools/bench/perf.py: both I/O back ends, librdkafka's mock broker as comparator, the clients,
## pinned latency at fixed rates; BENCH_ARGS=--perf-only runs just those).
MOCKBROKER_SRC ?= ../shared/tools/mockbroker.c
bench: deps venv
	@dpkg -s iperf3 >/dev/null 2>&1 || $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q iperf3 || true
	@$(VENV)/bin/python -c "import matplotlib" 2>/dev/null || $(VENV)/bin/pip install -q --disable-pip-version-check matplotlib
	$(SWIFT) build -c release --product sluice
	$(SWIFT) build -c release --product sluice-storage-tool
	cc -O2 -Wall -o .build/rdkafka-bench Tools/loadgen/rdkafka-bench.c $$(pkg-config --cflags --libs rdkafka) -lpthread
	@L=$$(ls -d $(VENV)/lib/python3*/site-packages/confluent_kafka.libs 2>/dev/null | head -1); \
	if [ -f $(MOCKBROKER_SRC) ] && [ -n "$$L" ]; then \
	  cc -O2 -o .build/mockbroker $(MOCKBROKER_SRC) $$L/librdkafka-*.so.1 -Wl,-rpath,$$(realpath $$L) -lpthread $$(pkg-config --cflags rdkafka); \
	else echo "no $(MOCKBROKER_SRC): the mock broker's comparator rows are skipped"; rm -f .build/mockbroker; fi
	$(VENV)/bin/python Tools/bench/run.py --sluice .build/release/sluice --storage-tool .build/release/sluice-storage-tool \
	  --loadgen .build/rdkafka-bench --out bench-results $$([ -x .build/mockbroker ] && echo --mockbroker .build/mockbroker) $(BENCH_ARGS)

## perftests: micro-benchmarks: CRC-32C, record batches and codecs (PerfTests, ordo-one/benchmark),
## then the storage engine's append throughput against the disk's limits (sluice-storage-tool bench).
perftests: deps
	cd PerfTests && $(SWIFT) package --allow-writing-to-package-directory benchmark
	$(SWIFT) build -c release --product sluice-storage-tool
	.build/release/sluice-storage-tool bench --dir $${TMPDIR:-/tmp} --seconds 3

## simulate: the metadata quorum under the deterministic simulator, many more seeds than
## `make test` runs (SIM_SEEDS from SIM_FIRST_SEED; about 0.6 s a seed on one core). A
## failing seed replays with SLUICE_SIM_SEED=N swift test --filter RaftSimulationTests.
SIM_SEEDS ?= 5000
SIM_FIRST_SEED ?= 1001
simulate: deps
	$(SWIFT) build --build-tests
	SLUICE_SIM_SEEDS=$(SIM_SEEDS) SLUICE_SIM_FIRST_SEED=$(SIM_FIRST_SEED) \
	  $(SWIFT) test --skip-build --filter 'RaftSimulationTests.seededRunsKeepEveryInvariant'

## generate: regenerate the protocol types from ../shared/kafka-protocol/message.
generate:
	$(PYTHON) Tools/protocolgen/protocolgen.py

check-generated:
	$(PYTHON) Tools/protocolgen/protocolgen.py --check

## fuzz: fuzz the frame and record-batch decoders for SECONDS (default 60).
fuzz: deps
	Tools/fuzz.sh $(SECONDS)

clean:
	rm -rf .build .build-* PerfTests/.build Fuzz/.build
