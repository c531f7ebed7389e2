#!/usr/bin/env bash
# Fuzzes the engine: each cargo-fuzz target of fuzz/ (evaluate, policies, context) for a
# bounded time, one after the other, niced. Usage:
#
#   scripts/fuzz.sh [seconds-per-target] [target...]     (default: 60 s, every target)
#
# Installs what is missing: the nightly toolchain (rustup) and cargo-fuzz 0.13.2. Each
# target starts from its committed seeds (fuzz/corpus/<target>/) and keeps what it finds
# in fuzz/work/<target>/ (git-ignored) for the next run. Inputs that crash, break an
# invariant, or run longer than libFuzzer's -timeout are saved in fuzz/artifacts/<target>/
# and the script exits non-zero; replay one with
#   cargo +nightly fuzz run -s none -O <target> fuzz/artifacts/<target>/<file>
# then minimise it (cargo +nightly fuzz tmin ...), fix the engine, and add it to
# engine/tests/fuzz_regressions.rs. See fuzz/README.md.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

seconds="${1:-60}"
shift || true
targets=("$@")
[ "${#targets[@]}" -eq 0 ] && targets=(evaluate policies context proxy_messages)

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$root/scripts/lib.sh"
cargo_env
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "==> rustup toolchain install nightly --profile minimal"
    rustup toolchain install nightly --profile minimal
fi
if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz 0.13.2" ]; then
    echo "==> cargo install cargo-fuzz --version 0.13.2 --locked"
    cargo install cargo-fuzz --version 0.13.2 --locked
fi

# No sanitizer: the engine forbids unsafe code, so AddressSanitizer finds nothing that a
# panic would not, and runs at half the speed. -O: release with debug assertions.
flags=(-s none -O)
echo "==> cargo +nightly fuzz build ${flags[*]}"
nice -n 10 cargo +nightly fuzz build "${flags[@]}"

status=0
for target in "${targets[@]}"; do
    mkdir -p "work/$target" "artifacts/$target"
    echo
    echo "==> $target for ${seconds}s"
    # -timeout: an input running longer than 10 s is a hang; the targets also fail an
    # input that takes longer than VERDICT_FUZZ_SLOW_MS (2 s) or overflows a 1 MiB stack.
    # -rss_limit_mb: a 4 KB input must not need gigabytes.
    if ! nice -n 10 cargo +nightly fuzz run "${flags[@]}" "$target" \
        "work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
        -print_final_stats=1 2>&1 | tee "work/$target.log" | grep -a -E '^(#[0-9]+.*(INITED|DONE)|==|SUMMARY|stat::(number_of_executed_units|peak_rss_mb)|Done)|panicked|overflow|Test unit written'; then
        :
    fi
    if grep -aqE 'Test unit written|SUMMARY: libFuzzer' "work/$target.log"; then
        echo "fuzz.sh: $target found a failing input (fuzz/artifacts/$target/)" >&2
        status=1
    fi
    echo "$target: corpus $(find "work/$target" -type f | wc -l) inputs (+ $(find "corpus/$target" -type f | wc -l) seeds)"
done
exit "$status"
