#!/usr/bin/env bash
# The broker's interop suite: a real `sluice serve` process driven by kcat, confluent-kafka and
# kafka-python (Tests/Interop). Creates or reuses the repo's .venv, installs the pinned Python
# packages from Tests/Interop/requirements.txt when they changed, then runs pytest.
#
# Usage: Tools/interop.sh [--bootstrap-binary PATH] [pytest args...]
#   The binary defaults to $SLUICE_BIN, else .build/debug/sluice. Without it the suite is
#   skipped (the reason is printed); SLUICE_INTEROP_REQUIRE_BINARY=1 makes that an error.
#   kcat comes from Debian (`make deps` installs it); ALLOW_NO_KCAT=1 skips its tests instead.
# Exits with pytest's status; "no tests collected" (5) counts as a failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="${SLUICE_VENV:-$ROOT/.venv}"
REQ="$ROOT/Tests/Interop/requirements.txt"

BIN="${SLUICE_BIN:-$ROOT/.build/debug/sluice}"
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bootstrap-binary) BIN="$2"; shift 2 ;;
    --bootstrap-binary=*) BIN="${1#*=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "interop: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
STAMP="$VENV/.interop-requirements.sha256"
WANT="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  echo "interop: installing $REQ into $VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
  echo "$WANT" > "$STAMP"
fi

if ! command -v kcat >/dev/null 2>&1 && ! command -v kafkacat >/dev/null 2>&1; then
  echo "interop: warning: kcat is not installed (make deps installs it); its tests will fail unless ALLOW_NO_KCAT=1" >&2
fi
if [[ ! -x "$BIN" ]]; then
  echo "interop: no sluice binary at $BIN: the suite will be skipped" >&2
fi

set +e
"$VENV/bin/python" -m pytest -c "$ROOT/Tests/Interop/pytest.ini" --rootdir "$ROOT/Tests/Interop" \
  "$ROOT/Tests/Interop" --bootstrap-binary "$BIN" ${args[@]+"${args[@]}"}
status=$?
set -e
if [[ $status -eq 5 ]]; then
  echo "interop: pytest collected no tests: failing" >&2
  exit 1
fi
exit $status
