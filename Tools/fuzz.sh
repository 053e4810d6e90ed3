#!/usr/bin/env bash
# Tools/fuzz.sh SECONDS: fuzz the frame, request/response and record-batch decoders.
#
# With libFuzzer in the toolchain (swift.org toolchains on Linux have it), builds the Fuzz/
# package with -sanitize=fuzzer,address and runs Fuzz/.build/.../ProtocolFuzzer for SECONDS over
# Fuzz/Corpus. New inputs go to a temporary folder (deleted at the end unless FUZZ_KEEP_NEW=1);
# crash inputs go to Fuzz/Artifacts/. Without libFuzzer (Xcode's toolchain, for one), runs the
# seeded mutation test (Tests/KafkaProtocolTests/DecoderMutationTests.swift) in a loop for
# SECONDS with a new seed each round. Exits non-zero on a crash, a sanitizer report, an
# allocation past the input's bound, or a failed mutation round.
#
# Settings (environment):
#   FUZZ_ENGINE=auto|libfuzzer|mutation   which of the two (default auto: libFuzzer if present)
#   FUZZ_SCRATCH=DIR         build folder of the Fuzz package (default Fuzz/.build)
#   TEST_SCRATCH=DIR         build folder of the root package for the mutation fallback (default .build)
#   FUZZ_MAX_LEN=N           largest input libFuzzer makes (default 32768)
#   FUZZ_MALLOC_LIMIT_MB=N   libFuzzer fails on any single allocation above N MiB (default 64);
#                            the target's own check is stricter (see Fuzz/Sources/ProtocolFuzzer)
#   FUZZ_FORK=N              run N fuzzing processes that keep going after a crash (-fork=N
#                            -ignore_crashes=1), to collect several distinct findings in one session
#   FUZZ_KEEP_NEW=1          keep the folder of new corpus entries and print its path
#   FUZZ_ARGS="..."          more libFuzzer flags
set -euo pipefail

usage() { echo "usage: Tools/fuzz.sh SECONDS" >&2; exit 2; }
[[ $# -eq 1 && $1 =~ ^[0-9]+$ && $1 -gt 0 ]] || usage
duration=$1

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
engine=${FUZZ_ENGINE:-auto}

# libFuzzer ships as compiler-rt's libclang_rt.fuzzer*.a beside the Swift runtime.
have_libfuzzer() {
    local resource
    resource=$(swiftc -print-target-info 2>/dev/null | sed -n 's/.*"runtimeResourcePath": *"\([^"]*\)".*/\1/p' | head -n 1)
    [[ -n $resource ]] || return 1
    compgen -G "$resource/clang/lib/*/libclang_rt.fuzzer*" >/dev/null \
        || compgen -G "$resource/../clang/*/lib/*/libclang_rt.fuzzer*" >/dev/null
}

if [[ $engine == auto ]]; then
    if have_libfuzzer; then engine=libfuzzer; else engine=mutation; fi
fi

run_libfuzzer() {
    local scratch=${FUZZ_SCRATCH:-Fuzz/.build}
    # --sanitize fuzzer links libFuzzer's main and stops SwiftPM from renaming the entry point
    # (with only -Xswiftc flags the link fails: undefined symbol ProtocolFuzzer_main). It
    # passes the frontend -sanitize=fuzzer alone, which instruments nothing, hence the -Xswiftc
    # repeat; --sanitize address covers the C targets.
    local flags=(-c release --package-path Fuzz --scratch-path "$scratch"
        --sanitize fuzzer --sanitize address
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DSLUICE_LIBFUZZER)
    echo "fuzz: building the Fuzz package with libFuzzer and AddressSanitizer ($scratch)"
    swift build "${flags[@]}"
    local bin
    bin="$(swift build "${flags[@]}" --show-bin-path)/ProtocolFuzzer"

    local new artifacts=Fuzz/Artifacts
    new=$(mktemp -d "${TMPDIR:-/tmp}/sluice-fuzz-corpus.XXXXXX")
    mkdir -p "$artifacts"
    local args=(
        "$new" Fuzz/Corpus
        -max_total_time="$duration"
        -rss_limit_mb=2048
        -malloc_limit_mb="${FUZZ_MALLOC_LIMIT_MB:-64}"
        -max_len="${FUZZ_MAX_LEN:-32768}"
        -timeout=10
        -dict=Fuzz/kafka.dict
        -use_value_profile=1
        -artifact_prefix="$artifacts/"
        -print_final_stats=1
    )
    if [[ -n ${FUZZ_FORK:-} ]]; then args+=(-fork="$FUZZ_FORK" -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1); fi
    # shellcheck disable=SC2206
    if [[ -n ${FUZZ_ARGS:-} ]]; then args+=($FUZZ_ARGS); fi

    echo "fuzz: $bin ${args[*]}"
    local before log=$new.log
    before=$(find "$artifacts" -maxdepth 1 -type f -name '*-*' | sort)
    local status=0
    # The Swift runtime's own crash reporter fights the sanitizer's and can hang for minutes
    # after a crash; libFuzzer and ASan print the stack themselves.
    set +e
    SWIFT_BACKTRACE=enable=no "$bin" "${args[@]}" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e

    # In fork mode libFuzzer exits 0 after crashes it was told to ignore: count the artifacts.
    local found
    found=$(comm -13 <(echo "$before") <(find "$artifacts" -maxdepth 1 -type f -name '*-*' | sort) | sed '/^$/d')
    if [[ -n $found && $status -eq 0 ]]; then status=1; fi

    local last
    last=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -n 1 || true)
    echo "fuzz: last status line: ${last:-none}"
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" | sed 's/^/fuzz: /' || true
    rm -f "$log"

    local count
    count=$(find "$new" -type f | wc -l)
    if [[ -n ${FUZZ_KEEP_NEW:-} ]]; then
        echo "fuzz: $count new corpus entries kept in $new (to add the useful ones: $bin -merge=1 Fuzz/Corpus $new)"
    else
        echo "fuzz: $count new corpus entries (discarded; FUZZ_KEEP_NEW=1 keeps them)"
        rm -rf "$new"
    fi
    if [[ $status -ne 0 ]]; then
        echo "fuzz: FAILED (libFuzzer exit status $status)" >&2
        if [[ -n $found ]]; then
            echo "fuzz: new crash inputs:" >&2
            echo "$found" | sed 's/^/fuzz:   /' >&2
        fi
        echo "fuzz: replay one with: SWIFT_BACKTRACE=enable=no $bin <file>" >&2
    fi
    return "$status"
}

run_mutation() {
    local scratch=${TEST_SCRATCH:-.build}
    echo "fuzz: libFuzzer is not available here; running the seeded mutation test for ${duration}s"
    swift build --build-tests --scratch-path "$scratch"
    local deadline=$(( $(date +%s) + duration ))
    local round=0 seed
    while (( $(date +%s) < deadline )); do
        local left=$(( deadline - $(date +%s) ))
        (( left > 60 )) && left=60
        (( left < 1 )) && left=1
        seed=$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')
        round=$((round + 1))
        echo "fuzz: round $round, seed $seed, ${left}s"
        if ! SLUICE_MUTATION_SEED=$seed SLUICE_MUTATION_SECONDS=$left \
            swift test --skip-build --scratch-path "$scratch" --filter DecoderMutation; then
            echo "fuzz: FAILED in round $round; replay with SLUICE_MUTATION_SEED=$seed SLUICE_MUTATION_SECONDS=$left swift test --filter DecoderMutation" >&2
            return 1
        fi
    done
    echo "fuzz: $round rounds without a failure"
}

case $engine in
    libfuzzer) run_libfuzzer ;;
    mutation) run_mutation ;;
    *) echo "fuzz: FUZZ_ENGINE must be auto, libfuzzer or mutation" >&2; exit 2 ;;
esac
