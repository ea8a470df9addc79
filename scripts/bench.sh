#!/usr/bin/env bash
# Side-by-side benchmark: failscan scan vs fail2ban-regex vs ripgrep vs plain gunzip, on a
# generated Asterisk log (scripts/gen-asterisk-log.py; 1M lines, ~150 MB by default), then a
# scale run on a 6x log (~920 MB), then the issue's targets with PASS/MISS.
#
#   scripts/bench.sh                 # default corpus under bench-data/ (git-ignored)
#   BENCH_LINES=200000 scripts/bench.sh
#   BENCH_FORMAT=syslog RUNS=5 scripts/bench.sh
#   BENCH_NO_BUILD=1 FAILSCAN_SCAN="target/debug/failscan scan" scripts/bench.sh
#   BENCH_SCALE=0 scripts/bench.sh   # skip the 6x section (its first run generates ~920 MB)
#   BENCH_SCALE_GZ=1 scripts/bench.sh  # also time the 6x log gzipped vs gzip -dc (~30 s to make)
#   BENCH_PGO=0 scripts/bench.sh     # measure the plain `cargo build --release` binary only
#
# The binary measured is the one the README installs: the PGO build of scripts/build-pgo.sh
# (target/pgo/failscan; a plain release build when PGO is not available). The plain
# `cargo build --release` binary is timed too, in its own row ("failscan scan (plain build)"),
# so the difference PGO makes is on record; the targets are judged on the installed build.
#
# fail2ban-regex is slow, so it runs on the first F2B_LINES lines (default 100000) and its
# throughput is scaled to the whole file; with F2B_WHOLE=1 (default) it also runs once on the
# whole file, the issue's own measure (its start-up, counted ten times over in the scaled
# slice, makes the slice figure the kinder one). Times come from hyperfine when present (mean of RUNS
# runs), else from one /usr/bin/time run. Memory comes from scripts/peakmem.py, one separate run
# per command: "peak RSS" is max RSS as `/usr/bin/time -v` reports it, "peak anon" is peak
# RssAnon. Plain logs are memory-mapped by failscan, so its RSS includes the mapped pages it has
# not released yet (each chunk's, until read); anon is what has to stay small. Every throughput is in MB/s of uncompressed log, so the .gz rows
# compare directly. MB = 10^6 bytes throughout.
#
# Scale section (BENCH_SCALE=1, default): the 6x log is generated with the same generator, seed
# and format and 6x the lines, so it has the generator's full attacker pool spread over 6x the
# input, not six copies of the same IPs. BENCH_SCALE_CONCAT=1 makes it by concatenating the 1x
# log six times instead (quicker to make, but its memory figure is optimistic). BENCH_SCALE_RUNS
# (default RUNS) sets the hyperfine runs there.
#
# Page cache: before each row is timed, its input is dropped from the page cache and read back
# once (`dd iflag=nocache`, then `cat`), so every tool starts from the same warm cache: the
# state after a cold read, which is how rotated logs usually sit in memory when audited. How a
# file came into the cache matters to a tool that maps it: pages cached while the file was
# being written in small appends (a live log, or the generator's output) are 4 KB folios, and
# mapping those costs failscan ~15 ms more system time on the 1M-line log than the large
# folios a read creates (the README has figures); tools that read() are barely affected.
set -euo pipefail
cd "$(dirname "$0")/.."

LINES=${BENCH_LINES:-1000000}
FORMAT=${BENCH_FORMAT:-isodate}
SEED=${BENCH_SEED:-1}
RUNS=${RUNS:-3}
F2B_LINES=${F2B_LINES:-100000}
F2B_WHOLE=${F2B_WHOLE:-1}
SCALE=${BENCH_SCALE:-1}
SCALE_X=6
SCALE_RUNS=${BENCH_SCALE_RUNS:-$RUNS}
SCALE_CONCAT=${BENCH_SCALE_CONCAT:-0}
SCALE_GZ=${BENCH_SCALE_GZ:-0}
PGO=${BENCH_PGO:-1}
# The failscan command under test, in one place (the file name is appended).
if [ "$PGO" = 1 ]; then
    FAILSCAN_SCAN=${FAILSCAN_SCAN:-"target/pgo/failscan scan"}
else
    FAILSCAN_SCAN=${FAILSCAN_SCAN:-"target/release/failscan scan"}
fi
# The plain release build, for its own row when the build under test is the PGO one.
PLAIN_SCAN="target/release/failscan scan"
# The stock filter's messages as one ripgrep pattern (levels NOTICE/SECURITY/WARNING, then any
# of the eight failregex bodies), for a "how fast can a plain regex scan go" reference. It is an
# approximation (it also counts e.g. IAX2 "Host a:port failed to authenticate"), not an oracle.
RG_PATTERN="(?:NOTICE|SECURITY|WARNING)\\s*\\[\\d+\\].*?(?:Registration from '[^']*' failed for '[^']*' - (?:Wrong password|Username/auth name mismatch|No matching peer found|Not a local domain|Device does not match ACL|Peer is not supposed to register|ACL error \\(permit/deny\\))\$|Call from '[^']*' \\([^)]*\\) to extension '[^']*' rejected because extension not found in context|: (?:Host )?\\S+ (?:failed to authenticate|failed MD5 authentication|tried to authenticate with nonexistent user)|No registration for peer '[^']*' \\(from [^)]*\\)\$|hacking attempt detected '[^']*'\$|SecurityEvent=\"(?:FailedACL|InvalidAccountID|ChallengeResponseFailed|InvalidPassword)\".*,RemoteAddress=\"IPV[46]/|\"Rejecting unknown SIP connection from [^\"]*\"\$|Request (?:'[^']*' )?from '.*' failed for '[^']*' \\(callid: [^)]*\\) - (?:No matching endpoint found|Not match Endpoint(?: Contact)? ACL|(?:Failed|Error) to authenticate)\\s*\$)"

# The issue's targets (see the "targets" block at the end).
T_MBPS=1000     # failscan scan on the plain 1M-line log, MB/s
T_F2B=200       # times faster than fail2ban-regex
T_ANON_MB=100   # peak anonymous memory on the ~1 GB (6x) log
T_LINEAR=6.5    # time(6x input) / time(1x input)

mkdir -p bench-data
LOG=bench-data/asterisk-$FORMAT-$LINES-s$SEED.log
SLICE=bench-data/asterisk-$FORMAT-$F2B_LINES-s$SEED.slice.log
# The generated and the concatenated 6x logs differ, so they are cached under different names.
if [ "$SCALE_CONCAT" = 1 ]; then
    LOG6=bench-data/asterisk-$FORMAT-$LINES-s$SEED.x${SCALE_X}cat.log
else
    LOG6=bench-data/asterisk-$FORMAT-$((LINES * SCALE_X))-s$SEED.log
fi
F2B_SPEC=asterisk
[ "$FORMAT" = journal ] && F2B_SPEC='asterisk[logtype=journal]'

calc() { awk "BEGIN { print $1 }"; }
mb() { calc "$1 / 1e6"; }

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    echo "== build"
    cargo build --release --quiet
    [ "$PGO" = 1 ] && scripts/build-pgo.sh target/pgo/failscan
fi
have_failscan=0
$FAILSCAN_SCAN --help >/dev/null 2>&1 && have_failscan=1
# The scale section only measures failscan.
if [ "$SCALE" = 1 ] && [ "$have_failscan" = 0 ]; then
    echo "note: '$FAILSCAN_SCAN' is not available yet; scale section skipped"
    SCALE=0
fi

# All corpus files are made before any timing, so generation never competes with a measurement.
echo "== corpus"
if [ ! -s "$LOG" ]; then
    /usr/bin/time -f "generated in %es" scripts/gen-asterisk-log.py --lines "$LINES" --format "$FORMAT" --seed "$SEED" -o "$LOG"
fi
[ -s "$LOG.gz" ] || gzip -6 -c "$LOG" >"$LOG.gz"
[ -s "$SLICE" ] || head -n "$F2B_LINES" "$LOG" >"$SLICE"
size=$(stat -c %s "$LOG")
slice_size=$(stat -c %s "$SLICE")
printf '%s: %d lines, %.1f MB (gz %.1f MB); fail2ban slice %d lines, %.1f MB\n' "$LOG" "$LINES" \
    "$(mb "$size")" "$(mb "$(stat -c %s "$LOG.gz")")" "$F2B_LINES" "$(mb "$slice_size")"
if [ "$SCALE" = 1 ]; then
    if [ ! -s "$LOG6" ]; then
        # Written to a temporary name first: an interrupted run must not leave a short file
        # that the next run would take for the cached log.
        if [ "$SCALE_CONCAT" = 1 ]; then
            for _ in $(seq "$SCALE_X"); do cat "$LOG"; done >"$LOG6.part"
        else
            /usr/bin/time -f "generated in %es" scripts/gen-asterisk-log.py --lines "$((LINES * SCALE_X))" \
                --format "$FORMAT" --seed "$SEED" -o "$LOG6.part"
        fi
        mv "$LOG6.part" "$LOG6"
    fi
    if [ "$SCALE_GZ" = 1 ] && [ ! -s "$LOG6.gz" ]; then
        /usr/bin/time -f "gzipped in %es" gzip -6 -c "$LOG6" >"$LOG6.gz.part"
        mv "$LOG6.gz.part" "$LOG6.gz"
    fi
    size6=$(stat -c %s "$LOG6")
    if [ "$SCALE_CONCAT" = 1 ]; then
        how="the 1x log concatenated ${SCALE_X} times (IPs repeat: memory figure optimistic)"
    else
        how="generated, --lines $((LINES * SCALE_X)) --seed $SEED"
    fi
    printf '%s: %d lines, %.1f MB, %s\n' "$LOG6" "$((LINES * SCALE_X))" "$(mb "$size6")" "$how"
    if [ "$SCALE_GZ" = 1 ]; then
        printf '%s: %.1f MB\n' "$LOG6.gz" "$(mb "$(stat -c %s "$LOG6.gz")")"
    fi
fi
# ripgrep reads the pattern from a file: it contains quotes.
RG_FILE=bench-data/rg-asterisk.pattern
printf '%s\n' "$RG_PATTERN" >"$RG_FILE"

# One row per command: name | command | bytes it reads (uncompressed) | hyperfine runs | the
# file it reads. The main table shows the rows up to n_main; the scale section the rest.
names=() cmds=() bytes=() nruns=() inputs=()
add() { names+=("$1"); cmds+=("$2"); bytes+=("$3"); nruns+=("$4"); inputs+=("$5"); }
# Index of a row by name (rows are looked up by name for the ratios and targets).
row() {
    local i
    for i in "${!names[@]}"; do [ "${names[$i]}" = "$1" ] && { echo "$i"; return; }; done
    echo ""
}
if [ "$have_failscan" = 1 ]; then
    add "failscan scan" "$FAILSCAN_SCAN $LOG" "$size" "$RUNS" "$LOG"
    add "failscan scan .gz" "$FAILSCAN_SCAN $LOG.gz" "$size" "$RUNS" "$LOG.gz"
    if [ "$FAILSCAN_SCAN" != "$PLAIN_SCAN" ] && $PLAIN_SCAN --help >/dev/null 2>&1; then
        add "failscan scan (plain build)" "$PLAIN_SCAN $LOG" "$size" "$RUNS" "$LOG"
    fi
else
    echo "note: '$FAILSCAN_SCAN' is not available yet; failscan rows skipped"
fi
if command -v fail2ban-regex >/dev/null; then
    add "fail2ban-regex (slice)" "fail2ban-regex $SLICE '$F2B_SPEC'" "$slice_size" 1 "$SLICE"
    if [ "$F2B_WHOLE" = 1 ]; then
        add "fail2ban-regex (whole)" "fail2ban-regex $LOG '$F2B_SPEC'" "$size" 1 "$LOG"
    fi
fi
if command -v rg >/dev/null; then
    add "rg -c (combined)" "rg -c -f $RG_FILE $LOG" "$size" "$RUNS" "$LOG"
fi
add "gzip -dc" "gzip -dc $LOG.gz" "$size" "$RUNS" "$LOG.gz"
n_main=${#names[@]}
if [ "$SCALE" = 1 ]; then
    add "failscan scan ${SCALE_X}x" "$FAILSCAN_SCAN $LOG6" "$size6" "$SCALE_RUNS" "$LOG6"
    if [ "$SCALE_GZ" = 1 ]; then
        add "failscan scan .gz ${SCALE_X}x" "$FAILSCAN_SCAN $LOG6.gz" "$size6" "$SCALE_RUNS" "$LOG6.gz"
        add "gzip -dc ${SCALE_X}x" "gzip -dc $LOG6.gz" "$size6" "$SCALE_RUNS" "$LOG6.gz"
    fi
fi

# Drops a file from the page cache and reads it back once (see the page cache note above).
settle() {
    dd if="$1" iflag=nocache count=0 status=none 2>/dev/null || true
    cat "$1" >/dev/null
}

echo "== timing"
declare -a secs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in "${!names[@]}"; do
    runs=${nruns[$i]}
    settle "${inputs[$i]}"
    if command -v hyperfine >/dev/null; then
        hyperfine --style none --warmup $((runs > 1 ? 1 : 0)) --runs "$runs" --output null \
            --export-json "$tmp/$i.json" "${cmds[$i]}" >/dev/null
        secs[i]=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$tmp/$i.json")
    else
        /usr/bin/time -f %e -o "$tmp/$i.time" bash -c "${cmds[$i]}" >/dev/null
        secs[i]=$(cat "$tmp/$i.time")
    fi
done

# A separate run under peakmem.py (its polling would disturb the timing). `exec` keeps the
# tool's own pid, so nothing hides in a child process.
echo "== peak memory"
declare -a rss anon
for i in "${!names[@]}"; do
    rss[i]="" anon[i]=""
    if scripts/peakmem.py -o "$tmp/$i.mem" -- bash -c "exec ${cmds[$i]}" >/dev/null 2>&1; then
        rss[i]=$(sed -n 's/^peak_rss_mb=//p' "$tmp/$i.mem")
        anon[i]=$(sed -n 's/^peak_anon_mb=//p' "$tmp/$i.mem")
        [ "$(sed -n 's/^samples=//p' "$tmp/$i.mem")" -ge 3 ] ||
            echo "note: '${names[$i]}' ended too soon for peakmem.py to sample it well"
    else
        echo "note: '${cmds[$i]}' failed under peakmem.py; no memory figures for it"
    fi
done

# Prints rows first..last-1 of the table; full-file times are scaled to $2 bytes for the ratio.
table() {
    local first=$1 last=$2 i mbps ratio mem_rss mem_anon
    printf '%-28s %10s %10s %12s %10s %10s\n' "tool" "time (s)" "MB/s" "vs failscan" "peak RSS" "peak anon"
    for ((i = first; i < last; i++)); do
        mbps=$(calc "${bytes[$i]} / ${secs[$i]} / 1e6")
        ratio="-"
        # time per byte relative to failscan's on the plain log (the fail2ban slice is scaled up)
        [ -z "$base" ] || ratio=$(printf '%.1fx' "$(calc "${secs[$i]} / ${bytes[$i]} / $base")")
        mem_rss="-" mem_anon="-"
        [ -z "${rss[$i]}" ] || mem_rss="${rss[$i]} MB"
        [ -z "${anon[$i]}" ] || mem_anon="${anon[$i]} MB"
        printf '%-28s %10.3f %10.1f %12s %10s %10s\n' "${names[$i]}" "${secs[$i]}" "$mbps" "$ratio" "$mem_rss" "$mem_anon"
    done
}
# failscan's seconds per byte on the plain 1x log, the unit of the "vs failscan" column.
base=""
fs=$(row "failscan scan")
[ -z "$fs" ] || base=$(calc "${secs[$fs]} / ${bytes[$fs]}")

echo
table 0 "$n_main"
echo
echo "fail2ban-regex (slice) is timed on the ${F2B_LINES}-line slice; its MB/s and ratio are scaled to the whole file."
echo "peak RSS includes mapped pages of plain logs not yet released; peak anon is heap, stacks and anonymous maps."

fs6=$(row "failscan scan ${SCALE_X}x")
if [ -n "$fs6" ]; then
    echo
    echo "== scale: ${SCALE_X}x input ($LOG6, $(printf '%.1f' "$(mb "$size6")") MB, $how)"
    table "$n_main" "${#names[@]}"
    t_ratio=$(calc "${secs[$fs6]} / ${secs[$fs]}")
    s_ratio=$(calc "$size6 / $size")
    # The generated 6x log is not exactly 6x the bytes, so the bound applies to the time
    # ratio normalised to exactly 6x the input.
    lin=$(calc "$t_ratio * $SCALE_X / $s_ratio")
    printf 'time %.3f s -> %.3f s: %.2fx for %.2fx the input (%.2fx per exactly %dx input)\n' \
        "${secs[$fs]}" "${secs[$fs6]}" "$t_ratio" "$s_ratio" "$lin" "$SCALE_X"
    printf 'peak anon %s MB at 1x -> %s MB at %dx\n' "${anon[$fs]:--}" "${anon[$fs6]:--}" "$SCALE_X"
fi

echo
echo "commands:"
for i in "${!names[@]}"; do echo "  ${names[$i]}: ${cmds[$i]}"; done

# --- targets ---------------------------------------------------------------------------------
echo
echo "== targets"
[ "$LINES" = 1000000 ] || echo "note: the targets are defined for the 1M-line log; this run used $LINES lines"
# target LABEL MEASURED OK: OK is 1 (PASS), 0 (MISS) or empty (n/a, MEASURED says why).
target() {
    local verdict=n/a
    [ "$3" = 1 ] && verdict=PASS
    [ "$3" = 0 ] && verdict=MISS
    printf '  %-44s %-34s %s\n' "$1" "$2" "$verdict"
}
holds() { awk "BEGIN { print ($1) ? 1 : 0 }"; }

if [ -n "$fs" ]; then
    v=$(calc "$size / ${secs[$fs]} / 1e6")
    target ">= $T_MBPS MB/s (plain log)" "$(printf '%.1f MB/s' "$v")" "$(holds "$v >= $T_MBPS")"
else
    target ">= $T_MBPS MB/s (plain log)" "failscan not available" ""
fi

for kind in whole slice; do
    f2b=$(row "fail2ban-regex ($kind)")
    label=">= ${T_F2B}x faster than fail2ban-regex ($kind)"
    [ "$kind" = slice ] && label=">= ${T_F2B}x faster than f2b (slice, scaled)"
    if [ -n "$fs" ] && [ -n "$f2b" ]; then
        v=$(calc "${secs[$f2b]} / ${bytes[$f2b]} / $base")
        target "$label" "$(printf '%.1fx' "$v")" "$(holds "$v >= $T_F2B")"
    elif [ "$kind" = slice ] || [ "$F2B_WHOLE" = 1 ]; then
        target "$label" "not measured" ""
    fi
done

# The same measure for the plain `cargo build --release` binary, for the record.
plain=$(row "failscan scan (plain build)") f2b=$(row "fail2ban-regex (whole)")
if [ -n "$plain" ] && [ -n "$f2b" ]; then
    v=$(calc "${secs[$f2b]} / ${secs[$plain]}")
    target "  the same, plain build (not PGO)" "$(printf '%.1fx (%.3f s)' "$v" "${secs[$plain]}")" \
        "$(holds "$v >= $T_F2B")"
fi

rg=$(row "rg -c (combined)")
if [ -n "$fs" ] && [ -n "$rg" ]; then
    target "faster than rg -c (combined pattern)" "$(printf '%.3f s vs %.3f s' "${secs[$fs]}" "${secs[$rg]}")" \
        "$(holds "${secs[$fs]} < ${secs[$rg]}")"
else
    target "faster than rg -c (combined pattern)" "not measured" ""
fi

# .gz no slower than gzip -dc alone, on every size measured.
for suffix in "" " ${SCALE_X}x"; do
    g=$(row "failscan scan .gz$suffix") z=$(row "gzip -dc$suffix")
    [ -n "$suffix" ] && [ -z "$g" ] && continue
    if [ -n "$g" ] && [ -n "$z" ]; then
        target ".gz no slower than gzip -dc$suffix" "$(printf '%.3f s vs %.3f s' "${secs[$g]}" "${secs[$z]}")" \
            "$(holds "${secs[$g]} <= ${secs[$z]}")"
    else
        target ".gz no slower than gzip -dc$suffix" "not measured" ""
    fi
done

if [ -n "$fs6" ] && [ -n "${anon[$fs6]}" ]; then
    label="peak anon < $T_ANON_MB MB on the $(printf '%.0f' "$(mb "$size6")") MB log"
    target "$label" "${anon[$fs6]} MB (RSS ${rss[$fs6]} MB)" "$(holds "${anon[$fs6]} < $T_ANON_MB")"
else
    target "peak anon < $T_ANON_MB MB on the ~1 GB log" "scale section skipped" ""
fi

if [ -n "$fs6" ]; then
    target "${SCALE_X}x input in <= ${T_LINEAR}x the time" "$(printf '%.2fx' "$lin")" "$(holds "$lin <= $T_LINEAR")"
else
    target "${SCALE_X}x input in <= ${T_LINEAR}x the time" "scale section skipped" ""
fi
