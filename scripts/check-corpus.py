#!/usr/bin/env python3
"""Checks the failJSON annotations of corpus files against the real fail2ban-regex.

Each corpus file is run once through fail2ban-regex with
`-o '<time>\t<ip>\t<msg>'` (one row per failure, with the original line), the rows
are aligned with the file's lines in order, and every `# failJSON: {...}` annotation
is compared with what fail2ban did to the line after it: "match", "host" and "time"
(local time; this script sets TZ=UTC, so local = UTC).

The filter comes from a `# corpus-filter: SPEC` comment in the file (default
`asterisk`), or from --filter (e.g. a path to src/f2b/embedded/asterisk.conf).

Year-less dates depend on "now". By default fail2ban runs with its clock pinned to
--now (2026-11-25T12:00:00 UTC) through fail2ban's own MyTime hook, so the
annotations stay valid in later years; --real-clock runs /usr/bin/fail2ban-regex as is.

Exit status: 0 if every annotation holds, 1 otherwise.
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys

DIRECTIVE = re.compile(r"^#+ ?(failJSON|fileOptions|filterOptions|addFILE):(.+)$")
FILTER_SPEC = re.compile(r"^# corpus-filter: (\S+)\s*$")
SEP = "\x1f"  # unit separator: never in a log line of the corpus

# Runs fail2ban-regex's own entry point with MyTime pinned, before any fail2ban
# module that caches "now" at import time is loaded.
PINNED = (
    "import sys\n"
    "from fail2ban.server.mytime import MyTime\n"
    "MyTime.setTime(float(sys.argv[1]))\n"
    "from fail2ban.client.fail2banregex import exec_command_line\n"
    "exec_command_line(sys.argv[2:])\n"
)


def parse_now(text):
    dt = datetime.datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


def run_f2b(args, path, spec):
    env = dict(os.environ, TZ="UTC")
    out_fmt = SEP.join(["<time>", "<ip>", "<msg>"])
    f2b_args = ["-o", out_fmt, path, spec]
    if args.real_clock:
        cmd = ["fail2ban-regex"] + f2b_args
    else:
        cmd = ["/usr/bin/python3", "-c", PINNED, str(parse_now(args.now))] + f2b_args
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"fail2ban-regex failed on {path} ({spec}):\n{res.stderr}{res.stdout}")
    rows = []
    for line in res.stdout.splitlines():
        parts = line.split(SEP, 2)
        if len(parts) != 3:
            sys.exit(f"unexpected fail2ban-regex output: {line!r}")
        rows.append((float(parts[0]), parts[1], parts[2]))
    return rows


def check_file(args, path):
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    if not raw.endswith("\n"):
        return [f"{path}: last line has no newline (fail2ban-regex would drop it)"]
    spec = args.filter
    entries = []  # (lineno, text, annotation or None)
    pending = None
    for n, line in enumerate(raw.split("\n")[:-1], 1):
        m = FILTER_SPEC.match(line)
        if m and spec is None:
            spec = m.group(1)
        m = DIRECTIVE.match(line)
        if m and m.group(1) == "failJSON":
            pending = (n, json.loads(m.group(2)))
            continue
        if line.startswith("#") or line == "":
            continue
        entries.append((n, line.rstrip("\r\n"), pending))
        pending = None
    spec = spec or "asterisk"

    rows = run_f2b(args, path, spec)
    got = {}  # entry index -> list of (time, ip)
    i = 0
    for t, ip, msg in rows:
        while i < len(entries) and entries[i][1].rstrip() != msg:
            i += 1
        if i == len(entries):
            return [f"{path}: could not align fail2ban output row {msg!r}"]
        got.setdefault(i, []).append((t, ip))

    errors = []
    for idx, (n, text, ann) in enumerate(entries):
        hits = got.get(idx, [])
        where = f"{path}:{n}"
        if ann is None:
            errors.append(f"{where}: line has no failJSON annotation")
            continue
        exp = ann[1]
        want = bool(exp.get("match"))
        if want != bool(hits):
            errors.append(f"{where}: annotated match={want}, fail2ban {'matched ' + str(hits) if hits else 'did not match'}")
            continue
        if not want:
            continue
        if len(hits) != 1:
            errors.append(f"{where}: {len(hits)} failures, expected one")
            continue
        t, ip = hits[0]
        if "host" in exp and exp["host"] != ip:
            errors.append(f"{where}: host {ip!r}, annotated {exp['host']!r}")
        if "time" in exp:
            have = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            if have != exp["time"]:
                errors.append(f"{where}: time {have}, annotated {exp['time']}")
    matched = sum(1 for i in range(len(entries)) if i in got)
    print(f"{path}: {len(entries)} lines, {matched} matched by fail2ban-regex ({spec}), "
          f"{len(errors)} annotation error(s)")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", help="corpus files (default: every file in corpus/ but README.md)")
    ap.add_argument("--filter", help="filter spec or path, overrides the files' corpus-filter")
    ap.add_argument("--now", default="2026-11-25T12:00:00", help="pinned clock (ISO, UTC if no zone)")
    ap.add_argument("--real-clock", action="store_true", help="use the wall clock")
    args = ap.parse_args()
    files = args.files
    if not files:
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")
        files = sorted(os.path.join(root, f) for f in os.listdir(root)
                       if f != "README.md" and not f.startswith("."))
    errors = []
    for path in files:
        errors += check_file(args, path)
    for e in errors:
        print(e)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
