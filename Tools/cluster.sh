#!/usr/bin/env bash
# A local cluster of three brokers, each also a voter of the metadata quorum, for trying Sluice
# as a cluster on one machine: `make cluster` starts it, `make cluster-stop` stops it.
#
#   Tools/cluster.sh start [BINARY]   start nodes 1-3 (data, logs and pids under ./data/cluster/)
#   Tools/cluster.sh stop             SIGTERM every node and wait for it
#   Tools/cluster.sh status           which nodes run, and `sluice cluster describe`
#
# Node N listens for clients on 127.0.0.1:2909N and for the quorum on 127.0.0.1:2919N, so the
# cluster runs beside `make run` (9092). The cluster id is made once, kept in
# ./data/cluster/cluster.id, and given to every node (Kafka's `kafka-storage format --cluster-id`).
set -euo pipefail
DIR=${CLUSTER_DIR:-data/cluster}
BIN=${2:-${SLUICE_BIN:-.build/release/sluice}}
NODES=(1 2 3)
VOTERS="1@127.0.0.1:29191,2@127.0.0.1:29192,3@127.0.0.1:29193"

running() { [ -f "$DIR/node-$1.pid" ] && kill -0 "$(cat "$DIR/node-$1.pid")" 2>/dev/null; }

start() {
    mkdir -p "$DIR"
    [ -s "$DIR/cluster.id" ] || "$BIN" format > "$DIR/cluster.id"
    local id; id=$(cat "$DIR/cluster.id")
    for n in "${NODES[@]}"; do
        if running "$n"; then echo "node $n already runs (pid $(cat "$DIR/node-$n.pid"))"; continue; fi
        "$BIN" serve --data-dir "$DIR/node-$n" --set cluster.id="$id" --set node.id="$n" \
            --set process.roles=broker,controller \
            --set listeners="PLAINTEXT://127.0.0.1:2909$n,CONTROLLER://127.0.0.1:2919$n" \
            --set controller.listener.names=CONTROLLER --set controller.quorum.voters="$VOTERS" \
            --set metrics.listener="127.0.0.1:2969$n" \
            >>"$DIR/node-$n.log" 2>&1 </dev/null &
        echo $! > "$DIR/node-$n.pid"
    done
    # Up once a broker answers and all three are registered and live.
    for _ in $(seq 1 120); do
        if "$BIN" cluster describe --bootstrap 127.0.0.1:29091 2>/dev/null | grep -c " live$" | grep -qx 3; then
            "$BIN" cluster describe --bootstrap 127.0.0.1:29091
            echo
            echo "cluster up: bootstrap 127.0.0.1:29091,127.0.0.1:29092,127.0.0.1:29093 (logs: $DIR/node-N.log)"
            echo "stop it with: make cluster-stop"
            return 0
        fi
        for n in "${NODES[@]}"; do
            running "$n" || { echo "node $n exited; its log:"; tail -n 20 "$DIR/node-$n.log"; exit 1; }
        done
        sleep 0.5
    done
    echo "the cluster did not come up within 60 s; see $DIR/node-N.log"; exit 1
}

stop() {
    for n in "${NODES[@]}"; do
        if running "$n"; then kill "$(cat "$DIR/node-$n.pid")"; fi
    done
    for n in "${NODES[@]}"; do
        while running "$n"; do sleep 0.2; done
        rm -f "$DIR/node-$n.pid"
    done
    echo "cluster stopped (data kept in $DIR)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status)
        for n in "${NODES[@]}"; do running "$n" && echo "node $n: pid $(cat "$DIR/node-$n.pid")" || echo "node $n: stopped"; done
        "$BIN" cluster describe --bootstrap 127.0.0.1:29091,127.0.0.1:29092,127.0.0.1:29093 ;;
    *) echo "usage: $0 start|stop|status [BINARY]"; exit 2 ;;
esac
