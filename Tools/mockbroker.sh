#!/usr/bin/env bash
# Builds librdkafka's mock cluster (../shared/tools/mockbroker.c) against the librdkafka 2.16
# bundled in the venv's confluent-kafka wheel (Debian's 2.0.2 mock is too old: Metadata 0-2),
# with Debian's headers. Output: .build/mockbroker. Prints why and exits 0 when it cannot (no
# source, no headers): the tests that need it then skip and say so.
# Usage: Tools/mockbroker.sh [VENV]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
OUT="$ROOT/.build/mockbroker"
SRC="${MOCKBROKER_SRC:-$ROOT/../shared/tools/mockbroker.c}"
[ -f "$SRC" ] || { echo "mockbroker: $SRC not found; mock-cluster tests will skip" >&2; exit 0; }
pkg-config --exists rdkafka || { echo "mockbroker: librdkafka headers missing (apt-get install librdkafka-dev); mock-cluster tests will skip" >&2; exit 0; }
LIBS=$("$VENV/bin/python" -c 'import confluent_kafka, os; print(os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs"))')
LIB=$(ls "$LIBS"/librdkafka-*.so.1 | head -n1)
[ -n "$LIB" ] || { echo "mockbroker: no librdkafka in $LIBS; mock-cluster tests will skip" >&2; exit 0; }
if [ ! -x "$OUT" ] || [ "$SRC" -nt "$OUT" ]; then
    mkdir -p "$(dirname "$OUT")"
    cc -O2 -o "$OUT" "$SRC" $(pkg-config --cflags rdkafka) "$LIB" -Wl,-rpath,"$LIBS"
fi
echo "mockbroker: $OUT" >&2
