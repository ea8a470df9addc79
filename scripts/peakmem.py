#!/usr/bin/env python3
"""Run a command and report its peak memory, split into anonymous and file-backed pages.

Why not `/usr/bin/time -v`: its "Maximum resident set size" counts file-backed pages too, and
failscan memory-maps plain logs, so on a 1 GB log max RSS is ~1 GB however little the scanner
itself allocates. The figure that has to stay small (it should grow with distinct IPs, not with
input size) is anonymous memory: heap, stacks, anonymous mmaps. The kernel keeps no high-water
mark for it, so this script polls /proc/<pid>/status (RssAnon, RssFile, VmHWM) of the command
and of its descendants every few milliseconds and keeps the maxima of the per-sample sums.

    scripts/peakmem.py -- target/release/failscan scan big.log
    scripts/peakmem.py -o mem.txt --interval 2 -- bash -c 'gzip -dc x.gz | wc -l'

Prints one line to stderr (or writes key=value lines to -o FILE, for scripts):
    peak_anon_mb  peak of the sum of RssAnon over the process tree (the figure that matters)
    peak_file_mb  peak of the sum of RssFile (mapped files, e.g. the memory-mapped log)
    peak_rss_mb   max RSS, like `time -v`: the largest VmHWM (kernel high-water mark) seen, or
                  the peak of the summed VmRSS of the tree if larger
    samples       number of polls that found the command alive; under 3 the command was too
                  short to sample well (a warning on stderr says so)
MB are 10^6 bytes. The command's stdout/stderr pass through; the exit status is the command's.

Limits: polling can miss a spike shorter than the interval (RssAnon has no kernel high-water
mark); descendants are found by scanning /proc (this kernel may lack /proc/*/task/*/children),
which is costlier, so it happens only every --scan-every ms and children living less than that
can be missed. A `bash -c "exec cmd"` wrapper keeps the same pid, so nothing is lost there.
"""
import argparse
import os
import signal
import subprocess
import sys
import time


def read_status(pid):
    """RssAnon, RssFile, VmRSS and VmHWM of one process in kB, or None once it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    values = {}
    for line in text.split(b"\n"):
        if line.startswith((b"RssAnon:", b"RssFile:", b"RssShmem:", b"VmRSS:", b"VmHWM:")):
            key, _, rest = line.partition(b":")
            values[key.decode()] = int(rest.split()[0])
    # Kernel threads and zombies have no memory lines.
    if "RssAnon" not in values:
        return None
    return values


def descendants(root):
    """Pids of all live descendants of root, from the ppid field of every /proc/<pid>/stat."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name (field 2) is parenthesised and may hold spaces or ')'; ppid is the
        # second field after the last ')'.
        try:
            ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        except (ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def main():
    ap = argparse.ArgumentParser(
        description="Run a command; report its peak anonymous memory (RssAnon), file-backed RSS and max RSS.",
        usage="%(prog)s [-o FILE] [--interval MS] [--scan-every MS] [--no-children] -- COMMAND [ARG...]",
    )
    ap.add_argument("-o", "--output", help="write key=value lines here instead of a summary on stderr")
    ap.add_argument("--interval", type=float, default=2.0, help="poll interval in ms (default 2)")
    ap.add_argument("--scan-every", type=float, default=50.0,
                    help="look for new child processes every this many ms (default 50)")
    ap.add_argument("--no-children", action="store_true", help="watch the command's own process only")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no command given")

    try:
        proc = subprocess.Popen(command)
    except OSError as e:
        print(f"peakmem: cannot run {command[0]}: {e}", file=sys.stderr)
        return 127
    # Forward Ctrl-C/TERM to the child rather than dying and leaving it unreported.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, _f: proc.send_signal(s))

    interval = args.interval / 1000
    scan_every = args.scan_every / 1000
    watched = [proc.pid]
    peak_anon = peak_file = peak_rss = peak_hwm = samples = 0
    next_scan = time.monotonic() + scan_every
    status = None
    while True:
        # Reap first: once the child is a zombie its memory is gone and there is nothing to read.
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        if not args.no_children and time.monotonic() >= next_scan:
            watched = [proc.pid] + descendants(proc.pid)
            next_scan = time.monotonic() + scan_every
        anon = file_ = rss = 0
        alive = False
        for p in watched:
            v = read_status(p)
            # Also skip the instant between fork and exec, when the child's new address space
            # is still nearly empty (VmHWM of a few kB): it says nothing about the command.
            if v is None or v.get("VmHWM", 0) < 64:
                continue
            alive = True
            # RssShmem (shared memory, e.g. memfd) is neither anon nor a file on disk, but it is
            # memory the program chose to allocate, so it is counted with anon.
            anon += v["RssAnon"] + v.get("RssShmem", 0)
            file_ += v["RssFile"]
            rss += v.get("VmRSS", 0)
            peak_hwm = max(peak_hwm, v.get("VmHWM", 0))
        samples += alive
        peak_anon = max(peak_anon, anon)
        peak_file = max(peak_file, file_)
        peak_rss = max(peak_rss, rss)
        time.sleep(interval)
    # The child is reaped: its pid may be reused, so signals are no longer forwarded.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    # Popen would otherwise try to reap the already-reaped child.
    proc.returncode = os.waitstatus_to_exitcode(status)

    mb = lambda kb: kb * 1024 / 1e6  # noqa: E731 (kB of /proc are KiB)
    # Not wait4's ru_maxrss: it also counts the forked copy of this Python process before exec
    # (~15 MB), which would hide small tools. VmHWM belongs to the exec'd program's own address
    # space. Only if the command ended before the first poll is ru_maxrss all there is.
    peak_rss = max(peak_rss, peak_hwm) if samples and peak_hwm else rusage.ru_maxrss
    report = {
        "peak_anon_mb": f"{mb(peak_anon):.1f}",
        "peak_file_mb": f"{mb(peak_file):.1f}",
        "peak_rss_mb": f"{mb(peak_rss):.1f}",
        "samples": str(samples),
        "exit": str(proc.returncode),
    }
    if samples < 3:
        print(f"peakmem: warning: {command[0]} ended after {samples} samples, too soon to sample well: "
              "anon and file are lower bounds" + ("" if samples and peak_hwm else
              ", max RSS is wait4's (it includes this script's fork before exec)"), file=sys.stderr)
    if args.output:
        with open(args.output, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in report.items())
    else:
        print(
            f"peakmem: anon {report['peak_anon_mb']} MB, file {report['peak_file_mb']} MB, "
            f"max RSS {report['peak_rss_mb']} MB ({samples} samples, exit {proc.returncode})",
            file=sys.stderr,
        )
    rc = proc.returncode
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main())
