#!/usr/bin/env bash
# Builds failscan with profile-guided optimisation (PGO) and copies the binary to OUT.
#
#   scripts/build-pgo.sh [OUT]        # default OUT: target/pgo/failscan
#
# Three steps: an instrumented release build (target/pgo-gen), a training run of that build on
# generated Asterisk logs, and a release build that reads the merged profile (target/pgo). The
# profile tells LLVM which branches of the matcher are taken and which calls are hot: on the
# bench log the scan is ~5% faster than the plain `cargo build --release` (README,
# Performance). Results are identical; only code layout and inlining change.
#
# Training data is generated here (scripts/gen-asterisk-log.py, seed 7, every log format; the
# benchmark uses seed 1), and the training runs every command (scan in all output formats,
# plain and gzipped, the stock filter when /etc/fail2ban has one and the embedded one; regex;
# bans), so no path is laid out as if it were cold.
#
# Needs the llvm-profdata of the running rustc (rustup's llvm-tools component, added here
# when rustup is present) and python3. Without them it says so and makes a plain release
# build instead, so it never leaves OUT missing. PGO_KEEP=1 keeps the training directory.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${1:-target/pgo/failscan}

plain() {
    echo "build-pgo: $1; building without PGO" >&2
    cargo build --release --locked --quiet
    mkdir -p "$(dirname "$OUT")"
    install -m 755 target/release/failscan "$OUT"
    echo "build-pgo: $OUT (plain release build)"
    exit 0
}

sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$sysroot/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ] && command -v rustup >/dev/null 2>&1; then
    rustup component add llvm-tools >/dev/null 2>&1 || true
fi
[ -x "$profdata" ] || plain "no llvm-profdata for this rustc (rustup component add llvm-tools)"
command -v python3 >/dev/null 2>&1 || plain "python3 (for the training logs) not found"

work=$(mktemp -d)
[ "${PGO_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT

# The profile: an instrumented build, its training run, the merge. Each step is checked
# (a function called in a `||` list runs without `set -e`): when one fails, the build falls
# back to a plain one instead of leaving nothing installed.
profile() {
    echo "== build-pgo: instrumented build"
    RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$work/prof" CARGO_TARGET_DIR=target/pgo-gen \
        cargo build --release --locked --quiet || return 1
    # Build scripts of dependencies are instrumented too and wrote profiles while building.
    rm -rf "$work/prof"

    echo "== build-pgo: training"
    local fs=target/pgo-gen/release/failscan logs=() format c
    for format in isodate default msec syslog journal; do
        scripts/gen-asterisk-log.py --lines 60000 --seed 7 --format "$format" -o "$work/$format.log" ||
            return 1
        logs+=("$work/$format.log")
    done
    gzip -c "$work/isodate.log" >"$work/isodate.log.gz" || return 1
    head -n 20000 "$work/syslog.log" >"$work/slice.log" || return 1
    # A configuration of its own (the embedded filter, an asterisk jail), and the stock one.
    mkdir -p "$work/conf" || return 1
    printf '[asterisk]\nenabled = true\nfilter = asterisk\nmaxretry = 3\nfindtime = 10m\nbantime = 1h\nbantime.increment = true\n' \
        >"$work/conf/jail.local" || return 1
    local configs=("$work/conf")
    [ -f /etc/fail2ban/filter.d/asterisk.conf ] && configs+=(/etc/fail2ban)
    for c in "${configs[@]}"; do
        for format in text json csv; do
            "$fs" scan -q -c "$c" --format "$format" "$work/isodate.log" >/dev/null || return 1
        done
        "$fs" scan -q -c "$c" "${logs[@]}" >/dev/null || return 1
        "$fs" scan -q -c "$c" "$work/isodate.log.gz" >/dev/null || return 1
        "$fs" scan -q -c "$c" --output "$work/out" "$work/default.log" >/dev/null || return 1
        "$fs" regex -c "$c" "$work/slice.log" asterisk >/dev/null || return 1
        # The replay may find no asterisk jail in a configuration it does not know.
        "$fs" bans -c "$c" --jail asterisk --ipset "$work/ipset" "$work/msec.log" >/dev/null 2>&1 || true
    done
    "$profdata" merge -o "$work/failscan.profdata" "$work/prof" || return 1
}
profile || plain "the profile could not be made (see above)"

echo "== build-pgo: optimised build"
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$work/failscan.profdata" CARGO_TARGET_DIR=target/pgo \
    cargo build --release --locked --quiet || plain "the build with the profile failed (see above)"
if [ "$OUT" != target/pgo/release/failscan ]; then
    mkdir -p "$(dirname "$OUT")"
    install -m 755 target/pgo/release/failscan "$OUT"
fi
echo "build-pgo: $OUT (PGO build)"
