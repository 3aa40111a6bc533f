#!/bin/sh
# Builds the libFuzzer target and runs each reader for SECONDS (default 60) seconds.
#   sh Fuzz/run.sh [SECONDS] [TARGET ...]
# Crashing inputs land in Fuzz/crashers/ (commit them: LoupeIOTests replays every file there);
# new corpus entries go to .build/fuzz-corpus/, leaving the committed seeds alone.
set -eu
# Foundation keeps a few allocations alive on purpose; leaks are not what these targets hunt.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
# Swift's own crash backtracer would wait on a crashing input; libFuzzer reports instead.
export SWIFT_BACKTRACE=enable=no
cd "$(dirname "$0")/.."
seconds="${1:-60}"
[ $# -gt 0 ] && shift
targets="${*:-safetensors pth pth-legacy onnx npy idx png jpeg}"
if [ -z "${LOUPE_FUZZ_SKIP_BUILD:-}" ]; then
    LOUPE_FUZZ=1 swift build -c release --scratch-path .build/fuzz --product loupe-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld
fi
for target in $targets; do
    mkdir -p ".build/fuzz-corpus/$target" Fuzz/crashers
    echo "== $target: $seconds s"
    LOUPE_FUZZ_TARGET="$target" .build/fuzz/release/loupe-fuzz -max_total_time="$seconds" -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -timeout=10 -detect_leaks=0 -print_final_stats=1 -artifact_prefix="Fuzz/crashers/$target-" \
        ".build/fuzz-corpus/$target" "Fuzz/corpus/$target" 2>&1 | grep -E "^(#[0-9]+ +DONE|==[0-9]+==ERROR|SUMMARY|stat::number_of_executed_units|artifact_prefix|Test unit written)" || true
done
