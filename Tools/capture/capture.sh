#!/usr/bin/env bash
# Regenerate the golden Kafka frames in Tests/KafkaProtocolTests/Fixtures/golden/ from real
# librdkafka clients (confluent-kafka's bundled librdkafka and Debian's kcat), recorded by
# Tools/capture/record_proxy.py in front of librdkafka's mock cluster.
#
#   Tools/capture/capture.sh [--out DIR] [--raw DIR] [--keep N]
#
# Needs: python3 (3.9+), cc, pkg-config, Debian packages librdkafka-dev (headers for
# mockbroker.c) and kcat; PyPI reachable the first time (it creates .venv/ at the repo root).
# Everything runs on 127.0.0.1 and every process it starts is stopped at the end.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV="$ROOT/.venv"

for tool in cc pkg-config kcat; do
    command -v "$tool" >/dev/null || { echo "capture.sh: $tool is missing (apt-get install -y gcc pkg-config kcat librdkafka-dev)" >&2; exit 1; }
done
pkg-config --exists rdkafka || { echo "capture.sh: librdkafka headers missing (apt-get install -y librdkafka-dev)" >&2; exit 1; }

SRC=${MOCKBROKER_SRC:-}
if [ -z "$SRC" ]; then
    for c in "$ROOT/shared/tools/mockbroker.c" "$ROOT/../shared/tools/mockbroker.c"; do
        [ -f "$c" ] && SRC=$c && break
    done
fi
[ -n "$SRC" ] && [ -f "$SRC" ] || { echo "capture.sh: mockbroker.c not found; set MOCKBROKER_SRC" >&2; exit 1; }

if [ ! -x "$VENV/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q confluent-kafka==2.16.1 kafka-python==2.3.3 cramjam lz4 zstandard python-snappy

# The mock inside the confluent-kafka wheel (librdkafka 2.16) is much newer than Debian's
# (2.0.2): link mockbroker.c against the wheel's bundled library, with Debian's headers.
LIBS=$("$VENV/bin/python" -c 'import confluent_kafka, os; print(os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs"))')
LIB=$(ls "$LIBS"/librdkafka-*.so.1 | head -n1)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cc -O2 -o "$TMP/mockbroker" "$SRC" $(pkg-config --cflags rdkafka) "$LIB" -Wl,-rpath,"$LIBS"

"$VENV/bin/python" "$ROOT/Tools/capture/capture.py" --mock "$TMP/mockbroker" "$@"
