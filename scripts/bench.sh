#!/usr/bin/env bash
# Side-by-side benchmark: failscan scan vs fail2ban-regex vs ripgrep vs plain gunzip, on a
# generated Asterisk log (scripts/gen-asterisk-log.py; 1M lines, ~150 MB by default).
#
#   scripts/bench.sh                 # default corpus under bench-data/ (git-ignored)
#   BENCH_LINES=200000 scripts/bench.sh
#   BENCH_FORMAT=syslog RUNS=5 scripts/bench.sh
#   BENCH_NO_BUILD=1 FAILSCAN_SCAN="target/debug/failscan scan" scripts/bench.sh
#
# fail2ban-regex is slow, so it runs on the first F2B_LINES lines (default 100000) and its
# throughput is scaled to the whole file. Times come from hyperfine when present (mean of RUNS
# runs), else from one /usr/bin/time run; peak RSS from `/usr/bin/time -v` when available.
# Every throughput is in MB/s of uncompressed log, so the .gz rows compare directly.
set -euo pipefail
cd "$(dirname "$0")/.."

LINES=${BENCH_LINES:-1000000}
FORMAT=${BENCH_FORMAT:-isodate}
SEED=${BENCH_SEED:-1}
RUNS=${RUNS:-3}
F2B_LINES=${F2B_LINES:-100000}
# The failscan command under test, in one place (the file name is appended).
FAILSCAN_SCAN=${FAILSCAN_SCAN:-"target/release/failscan scan"}
# The stock filter's messages as one ripgrep pattern (levels NOTICE/SECURITY/WARNING, then any
# of the eight failregex bodies), for a "how fast can a plain regex scan go" reference. It is an
# approximation (it also counts e.g. IAX2 "Host a:port failed to authenticate"), not an oracle.
RG_PATTERN="(?:NOTICE|SECURITY|WARNING)\\s*\\[\\d+\\].*?(?:Registration from '[^']*' failed for '[^']*' - (?:Wrong password|Username/auth name mismatch|No matching peer found|Not a local domain|Device does not match ACL|Peer is not supposed to register|ACL error \\(permit/deny\\))\$|Call from '[^']*' \\([^)]*\\) to extension '[^']*' rejected because extension not found in context|: (?:Host )?\\S+ (?:failed to authenticate|failed MD5 authentication|tried to authenticate with nonexistent user)|No registration for peer '[^']*' \\(from [^)]*\\)\$|hacking attempt detected '[^']*'\$|SecurityEvent=\"(?:FailedACL|InvalidAccountID|ChallengeResponseFailed|InvalidPassword)\".*,RemoteAddress=\"IPV[46]/|\"Rejecting unknown SIP connection from [^\"]*\"\$|Request (?:'[^']*' )?from '.*' failed for '[^']*' \\(callid: [^)]*\\) - (?:No matching endpoint found|Not match Endpoint(?: Contact)? ACL|(?:Failed|Error) to authenticate)\\s*\$)"

mkdir -p bench-data
LOG=bench-data/asterisk-$FORMAT-$LINES-s$SEED.log
SLICE=bench-data/asterisk-$FORMAT-$F2B_LINES-s$SEED.slice.log
F2B_SPEC=asterisk
[ "$FORMAT" = journal ] && F2B_SPEC='asterisk[logtype=journal]'

calc() { awk "BEGIN { print $1 }"; }

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    echo "== build"
    cargo build --release --quiet
fi
echo "== corpus"
if [ ! -s "$LOG" ]; then
    /usr/bin/time -f "generated in %es" scripts/gen-asterisk-log.py --lines "$LINES" --format "$FORMAT" --seed "$SEED" -o "$LOG"
fi
[ -s "$LOG.gz" ] || gzip -6 -c "$LOG" >"$LOG.gz"
[ -s "$SLICE" ] || head -n "$F2B_LINES" "$LOG" >"$SLICE"
size=$(stat -c %s "$LOG")
slice_size=$(stat -c %s "$SLICE")
printf '%s: %d lines, %.1f MB (gz %.1f MB); fail2ban slice %d lines, %.1f MB\n' "$LOG" "$LINES" \
    "$(calc "$size / 1e6")" "$(calc "$(stat -c %s "$LOG.gz") / 1e6")" \
    "$F2B_LINES" "$(calc "$slice_size / 1e6")"
# ripgrep reads the pattern from a file: it contains quotes.
RG_FILE=bench-data/rg-asterisk.pattern
printf '%s\n' "$RG_PATTERN" >"$RG_FILE"

# name | command | bytes it reads (uncompressed) | scale factor to the whole file
names=() cmds=() bytes=()
add() { names+=("$1"); cmds+=("$2"); bytes+=("$3"); }
if $FAILSCAN_SCAN --help >/dev/null 2>&1; then
    add "failscan scan" "$FAILSCAN_SCAN $LOG" "$size"
    add "failscan scan .gz" "$FAILSCAN_SCAN $LOG.gz" "$size"
else
    echo "note: '$FAILSCAN_SCAN' is not available yet; failscan rows skipped"
fi
if command -v fail2ban-regex >/dev/null; then
    add "fail2ban-regex (slice)" "fail2ban-regex $SLICE '$F2B_SPEC'" "$slice_size"
fi
if command -v rg >/dev/null; then
    add "rg -c (combined)" "rg -c -f $RG_FILE $LOG" "$size"
fi
add "gzip -dc" "gzip -dc $LOG.gz" "$size"

echo "== timing"
declare -a secs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in "${!names[@]}"; do
    runs=$RUNS
    case "${names[$i]}" in fail2ban*) runs=1 ;; esac
    if command -v hyperfine >/dev/null; then
        hyperfine --style none --warmup $((runs > 1 ? 1 : 0)) --runs "$runs" --output null \
            --export-json "$tmp/$i.json" "${cmds[$i]}" >/dev/null
        secs[i]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$tmp/$i.json")
    else
        /usr/bin/time -f %e -o "$tmp/$i.time" bash -c "${cmds[$i]}" >/dev/null
        secs[i]=$(cat "$tmp/$i.time")
    fi
done

echo "== peak memory"
declare -a rss
for i in "${!names[@]}"; do
    if /usr/bin/time -v true >/dev/null 2>&1; then
        /usr/bin/time -v -o "$tmp/$i.rss" bash -c "exec ${cmds[$i]}" >/dev/null 2>&1 || true
        rss[i]=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/$i.rss")
    else
        rss[i]=""
    fi
done

echo
printf '%-24s %10s %10s %12s %10s\n' "tool" "time (s)" "MB/s" "vs failscan" "peak RSS"
base=""
for i in "${!names[@]}"; do
    mbps=$(calc "${bytes[$i]} / ${secs[$i]} / 1e6")
    # time to process the whole file, for the ratio (the fail2ban slice is scaled up)
    full=$(calc "${secs[$i]} * $size / ${bytes[$i]}")
    [ -n "$base" ] || { [ "${names[$i]}" = "failscan scan" ] && base=$full; }
    ratio="-"
    [ -z "$base" ] || ratio=$(printf '%.1fx' "$(calc "$full / $base")")
    mem="-"
    [ -z "${rss[$i]}" ] || mem="$((rss[i] / 1024)) MB"
    printf '%-24s %10.3f %10.1f %12s %10s\n' "${names[$i]}" "${secs[$i]}" "$mbps" "$ratio" "$mem"
done
echo
echo "fail2ban-regex times are for the ${F2B_LINES}-line slice; its MB/s and ratio apply to the whole file."
echo "commands:"
for i in "${!names[@]}"; do echo "  ${names[$i]}: ${cmds[$i]}"; done
