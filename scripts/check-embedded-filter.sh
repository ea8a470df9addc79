#!/usr/bin/env bash
# Compares failscan's embedded asterisk filter (src/f2b/embedded/asterisk.conf, loaded by the
# real fail2ban-regex as a foreign filter file) with fail2ban's stock asterisk filter, on
# fail2ban's own asterisk sample log and on every corpus/ file.
#
# For each log both filters print one row per failure: `ip  time  original line`
# (fail2ban-regex -o '<ip> <time> <msg>'). Rows only the stock filter produces, or the same line
# with another address, are errors; rows only the embedded filter produces are printed as
# "extra" for review (they must be real attacks, see corpus/README.md).
# Usage: scripts/check-embedded-filter.sh [LOG...]   (default: the sample and corpus/*)
# A log's stock filter spec comes from its `# corpus-filter:` line, else $STOCK_SPEC, else
# `asterisk` (use STOCK_SPEC='asterisk[logtype=journal]' for generated journal logs).
# Exit status: 0 if the embedded filter reproduces every stock failure, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
export TZ=UTC

embedded="$PWD/src/f2b/embedded/asterisk.conf"
sample=/usr/lib/python3/dist-packages/fail2ban/tests/files/logs/asterisk
fmt='<ip>	<time>	<msg>'
# fail2ban-regex with its clock pinned (fail2ban's own MyTime hook), so that lines without a date,
# which take "now" as their time, and year-less dates give the same rows in both runs and every
# year. Same pinned time as scripts/check-corpus.py.
now=1795608000 # 2026-11-25T12:00:00Z
f2b_regex() {
    /usr/bin/python3 -c 'import sys
from fail2ban.server.mytime import MyTime
MyTime.setTime(float(sys.argv[1]))
from fail2ban.client.fail2banregex import exec_command_line
exec_command_line(sys.argv[2:])' "$now" "$@"
}

logs=("$@")
if [ "${#logs[@]}" -eq 0 ]; then
    if [ -f "$sample" ]; then logs+=("$sample"); else echo "note: $sample not found, skipped"; fi
    for f in corpus/*; do
        [ "$(basename "$f")" = README.md ] || logs+=("$f")
    done
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
total_stock=0 total_emb=0 total_extra=0 total_missing=0
for log in "${logs[@]}"; do
    # The stock filter spec a corpus file asks for (journal output needs logtype=journal).
    spec=$(sed -n 's/^# corpus-filter: \(.*\)$/\1/p' "$log" | head -n 1)
    spec=${spec:-${STOCK_SPEC:-asterisk}}
    f2b_regex -o "$fmt" "$log" "$spec" >"$tmp/stock"
    f2b_regex -o "$fmt" "$log" "$embedded" >"$tmp/emb"
    n_stock=$(wc -l <"$tmp/stock")
    n_emb=$(wc -l <"$tmp/emb")
    diff --unchanged-line-format= \
        --old-line-format='  MISSING (stock only): %L' \
        --new-line-format='  extra (embedded only): %L' \
        "$tmp/stock" "$tmp/emb" >"$tmp/diff" || true
    missing=$(grep -c '^  MISSING' "$tmp/diff" || true)
    extra=$(grep -c '^  extra' "$tmp/diff" || true)
    printf '%s (%s): stock %d, embedded %d, missing %d, extra %d\n' \
        "$log" "$spec" "$n_stock" "$n_emb" "$missing" "$extra"
    if [ "${QUIET:-0}" = 1 ]; then grep '^  MISSING' "$tmp/diff" | cut -c1-220 || true; else cut -c1-220 "$tmp/diff"; fi
    total_stock=$((total_stock + n_stock)); total_emb=$((total_emb + n_emb))
    total_missing=$((total_missing + missing)); total_extra=$((total_extra + extra))
    [ "$missing" -eq 0 ] || status=1
done
printf 'total: stock %d failures, embedded %d, missing %d, extra %d\n' \
    "$total_stock" "$total_emb" "$total_missing" "$total_extra"
exit "$status"
