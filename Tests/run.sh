#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine, as root: installs what it needs, builds
# every target (warnings in Drover's own code fail it), runs every test — unit tests, throwaway
# systemd user managers, and three booted hosts (systemd-nspawn) with the agent installed by
# deploy/install-agent.sh — and checks that nothing the tests started is left behind.
# CI (.ci/run) runs exactly this. Exit code: 0 all passed and nothing left, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "Tests/run.sh: run it as root: the tests boot systemd managers and hosts of their own" >&2; exit 1
fi
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
if ! command -v swift >/dev/null; then
    echo "Tests/run.sh: no Swift toolchain on PATH (nor in /opt/swift): install Swift 6.1 or later from swift.org and put its usr/bin on PATH" >&2
    exit 1
fi

fuzz_targets="manifest tarball unit names request"

# libFuzzer over each parser and decoder of outside input, with AddressSanitizer: the Swift
# code is built again with -sanitize=fuzzer,address into BUILD-PATH (by hand .build-fuzz, so
# the ordinary build stays; after the tests, .build itself, whose C libraries it reuses).
# New inputs it finds stay in .build-fuzz/runs; a crash is saved in .build-fuzz/crashes and
# fails the run: add it to Tests/DroverFuzz/Corpus/TARGET as a regression once fixed.
fuzz() {
    local targets="$1" seconds="$2" build="$3" failed=0
    echo "== fuzz build (-sanitize=fuzzer,address, in $build)"
    rm -f "$build/debug/drover-fuzz"
    swift build --build-path "$build" --product drover-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xlinker --export-dynamic 2>&1 \
        | grep -E "error|warning: .*(Sources|Tests)/|Build complete" || true
    [ -x "$build/debug/drover-fuzz" ] || { echo "FAIL: the fuzz build failed"; return 1; }
    mkdir -p .build-fuzz/crashes .build-fuzz/tmp
    for target in $targets; do
        mkdir -p ".build-fuzz/runs/$target"
        local log=".build-fuzz/$target.log" status=0
        DROVER_FUZZ_TARGET="$target" TMPDIR="$(pwd)/.build-fuzz/tmp" ASAN_OPTIONS="detect_leaks=0" SWIFT_BACKTRACE="enable=no" \
            "$build/debug/drover-fuzz" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
            -artifact_prefix=".build-fuzz/crashes/$target-" ".build-fuzz/runs/$target" "Tests/DroverFuzz/Corpus/$target" >"$log" 2>&1 || status=$?
        local runs
        runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
        if [ "$status" -eq 0 ]; then
            echo "fuzz $target: $runs executions in ${seconds} s, no crash"
        else
            echo "FAIL: fuzz $target crashed after $runs executions (exit $status); input in .build-fuzz/crashes/:"
            grep -E "fuzz property failed|ERROR: AddressSanitizer|Fatal error|SUMMARY|Test unit written" "$log" | head -8
            failed=1
        fi
    done
    return "$failed"
}

if [ "${1:-}" = "fuzz" ]; then
    target="${2:-}" seconds="${3:-300}"
    if [ "$target" = "all" ]; then target="$fuzz_targets"; fi
    for one in $target; do
        case " $fuzz_targets " in *" $one "*) ;; *) target="";; esac
    done
    if [ -z "$target" ] || ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
        echo "usage: Tests/run.sh fuzz TARGET|all [SECONDS]   (targets: $fuzz_targets)" >&2; exit 2
    fi
    fuzz "$target" "$seconds" .build-fuzz
    exit $?
fi

echo "== install (Debian packages)"
Tests/install-dependencies.sh

echo "== schemathesis (from PyPI, in .build-venv: the schema-driven attacks on the API)"
if [ ! -x .build-venv/bin/schemathesis ]; then
    python3 -m venv .build-venv
    .build-venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==4.32.5"
fi
export DROVER_SCHEMATHESIS="$(pwd)/.build-venv/bin/schemathesis"
.build-venv/bin/schemathesis --version

echo "== build (every target and test; warnings are errors for Drover's own code)"
swift build --build-tests 2>&1 | tee /tmp/drover-test-build.log
if grep -E "^$(pwd)/(Sources|Tests)/.*warning:" /tmp/drover-test-build.log; then
    echo "FAIL: the build has warnings in Drover's own code (above)"
    exit 1
fi

echo "== test"
status=0
swift test 2>&1 | tee /tmp/drover-test.log || status=$?

echo "== leftovers"
leftovers=0
for root in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
    if ls "$root" 2>/dev/null | grep -q '^drover-testbed-'; then
        echo "FAIL: test-bed cgroups left under $root:"; ls "$root" | grep '^drover-testbed-'; leftovers=1
    fi
done
if ls /tmp 2>/dev/null | grep -q '^drover-testbed-'; then
    echo "FAIL: test-bed directories left in /tmp:"; ls /tmp | grep '^drover-testbed-'; leftovers=1
fi
if ip -o link show 2>/dev/null | grep -q ': dtb[0-9]'; then
    echo "FAIL: booted hosts' network interfaces left:"; ip -o link show | grep ': dtb[0-9]'; leftovers=1
fi
if ip route show type unreachable 2>/dev/null | grep -q '^unreachable 10\.213\.'; then
    echo "FAIL: routes of disconnected booted hosts left:"; ip route show type unreachable | grep '^unreachable 10\.213\.'; leftovers=1
fi
# Detection only (nothing is killed by name): no fixture, throwaway manager or booted host may survive.
if ps -eo pid,args | grep -E 'drover-fixture|/lib/systemd/systemd --user|systemd-nspawn.*drover-testbed-' | grep -v grep; then
    echo "FAIL: processes started by the tests are still running (above)"; leftovers=1
fi
[ "$leftovers" -eq 0 ] && echo "none"

# XCTest prints "Executed 0 tests" (every test is Swift Testing): say the real result plainly.
summary=$(grep -E 'Test run with [0-9]+ tests?' /tmp/drover-test.log | tail -1 || true)
echo "${summary:-no test summary: the test run did not finish (see above)}"

fuzzed=0
fuzz "$fuzz_targets" "${DROVER_FUZZ_SECONDS:-60}" .build || fuzzed=$?
[ "$status" -eq 0 ] && [ "$leftovers" -eq 0 ] && [ -n "$summary" ] && [ "$fuzzed" -eq 0 ]
