#!/usr/bin/env python3
"""Deterministic generator of realistic Asterisk logs, for benchmarks and differential tests.

Output is mostly benign traffic (dialplan executions, registrations, qualify results, AMI
logins, RTP/PJSIP debug), with brute force and scans from many IPv4 and IPv6 sources drawn
from a power-law distribution (a few heavy hitters, a long tail of one-off sources), every
attack message that fail2ban's asterisk filter (and failscan's embedded filter) knows, and
near misses (ERROR-level copies, non-attack failure reasons, log injection, debug lines that
quote attacker addresses). Timestamps never go backwards.

The same --seed and options always give the same bytes. Plain Python 3, no third-party
modules; about 1M lines (~150 MB) in a few seconds.

Formats (--format):
  isodate  [2024-03-01 00:00:00] NOTICE[2101][C-0000001a] chan_sip.c: ...   (dateformat=%F %T)
  default  [Mar  1 00:00:00] NOTICE[2101] chan_sip.c: ...                   (Asterisk default)
  msec     [2024-03-01 00:00:00.123] NOTICE[2101] chan_sip.c: ...           (%F %T.%3q)
  syslog   Mar  1 00:00:00 pbx asterisk[2100]: NOTICE[2101]: chan_sip.c:25000 in func: ...
  journal  Mar 01 00:00:00 pbx asterisk[2100]: [Mar  1 00:00:00] NOTICE[2101]: chan_sip.c:25000 func: ...

Examples:
  gen-asterisk-log.py --lines 1000000 --seed 1 -o bench-data/messages
  gen-asterisk-log.py --size 150M --format syslog | gzip > syslog.gz
"""
import argparse
import calendar
import datetime
import random
import sys
import time

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
SERVER = "203.0.113.5"
ASTERISK_PID = 2100


def parse_size(text):
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().rstrip("B")
    unit = t[-1] if t and t[-1] in units else ""
    number = t[:-1] if unit else t
    try:
        return int(float(number) * units[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (e.g. 150M, 2G, 500K)")


class Addresses:
    """Attacker pool: index 0 is the heaviest hitter; draw() follows a power law."""

    def __init__(self, rng, n4, n6):
        self.pool = []
        for _ in range(n4):
            while True:
                a = rng.randint(1, 223)
                if a not in (10, 100, 127, 169, 172, 192):
                    break
            self.pool.append(("4", "%d.%d.%d.%d" % (a, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))))
        for _ in range(n6):
            addr = "2a0%x:%x:%x::%x" % (rng.randint(1, 15), rng.randint(1, 0xFFFF), rng.randint(0, 0xFFFF), rng.randint(1, 0xFFFF))
            self.pool.append(("6", addr))
        rng.shuffle(self.pool)
        self.n = len(self.pool)

    def draw(self, r):
        # r uniform in [0,1): r**4 concentrates mass on the first indices (a few sources send
        # most attacks, most sources appear once or twice).
        return self.pool[int(self.n * r ** 4)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--lines", type=int, help="number of lines (default 100000)")
    g.add_argument("--size", type=parse_size, help="stop once this many bytes are written (e.g. 150M)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", choices=["isodate", "default", "msec", "syslog", "journal"], default="isodate")
    ap.add_argument("--start", default="2024-03-01T00:00:00", help="time of the first line (UTC, ISO)")
    ap.add_argument("--rate", type=float, default=8.0, help="mean lines per second of log time (default 8)")
    ap.add_argument("--attack-ratio", type=float, default=0.25, help="share of attack lines (default 0.25)")
    ap.add_argument("--attackers", type=int, default=20000, help="size of the attacker pool (default 20000, 1/5 IPv6)")
    ap.add_argument("-o", "--output", help="output file (default stdout)")
    args = ap.parse_args()
    if args.lines is None and args.size is None:
        args.lines = 100000
    if args.rate <= 0 or not (0 <= args.attack_ratio <= 1) or args.attackers < 1:
        ap.error("--rate must be > 0, --attack-ratio in [0,1], --attackers >= 1")
    try:
        start = datetime.datetime.fromisoformat(args.start)
    except ValueError:
        ap.error(f"bad --start {args.start!r}")
    if start.tzinfo is not None:
        start = start.astimezone(datetime.timezone.utc).replace(tzinfo=None)

    out = open(args.output, "w", encoding="ascii", newline="\n") if args.output else sys.stdout
    try:
        generate(args, start, out)
    except BrokenPipeError:
        pass
    finally:
        if out is not sys.stdout:
            out.close()


def generate(args, start, out):
    rng = random.Random(args.seed)
    rnd = rng.random
    ri = rng.randint
    fmt = args.format
    addrs = Addresses(random.Random(args.seed * 7919 + 1), args.attackers - args.attackers // 5, args.attackers // 5)
    draw = addrs.draw

    # ---- line layout per format -----------------------------------------------------------
    # A line is: date head (rebuilt once per second of log time) + body. prefix() gives the part
    # of the body before the message, from (level, lwp, callid, source); src = (file, line, func).
    if fmt in ("isodate", "default", "msec"):
        def prefix(level, lwp, cid, src):
            return "] %s[%d]%s %s: " % (level, lwp, cid, src[0])
    elif fmt == "syslog":
        def prefix(level, lwp, cid, src):
            return "%s[%d]%s: %s:%d in %s: " % (level, lwp, cid, src[0], src[1], src[2])
    else:  # journal: console line with its own timestamp; verbose lines carry no level
        def prefix(level, lwp, cid, src):
            if level == "VERBOSE":
                return "]     -- "
            return "] %s[%d]%s: %s:%d %s: " % (level, lwp, cid, src[0], src[1], src[2])

    SIP_REG = ("chan_sip.c", 25038, "handle_request_register")
    SIP_INV = ("chan_sip.c", 26829, "handle_request_invite")
    SIP_VIA = ("chan_sip.c", 17211, "check_via")
    SIP_QUAL = ("chan_sip.c", 24313, "handle_response_peerpoke")
    SESSION = ("res_pjsip_session.c", 3803, "new_invite")
    DISTRIB = ("res_pjsip/pjsip_distributor.c", 722, "log_failed_request")
    DISTRIB_N = ("res_pjsip/pjsip_distributor.c", 716, "log_failed_request")
    IAX_REG = ("chan_iax2.c", 8413, "register_verify")
    IAX_MD5 = ("chan_iax2.c", 8482, "register_verify")
    IAX_AUTH = ("chan_iax2.c", 11431, "socket_process_helper")
    AMI = ("manager.c", 2324, "authenticate")
    AMI_NX = ("manager.c", 2287, "authenticate")
    AMI_OK = ("manager.c", 2351, "authenticate")
    SEC = ("res_security_log.c", 114, "security_event_stasis_cb")
    EXT = ("Ext. s", 6, "@ from-sip-external")
    PBX = ("pbx.c", 2925, "pbx_extension_helper")
    DIAL = ("app_dial.c", 1290, "wait_for_answer")
    REGISTRAR = ("res_pjsip_registrar.c", 807, "register_aor_core")
    RTP = ("res_rtp_asterisk.c", 3120, "ast_rtp_read")
    PJLOG = ("res_pjsip_logger.c", 200, "logging_on_rx_msg")
    CDR = ("cdr.c", 1411, "cdr_object_finalize")
    BRIDGE = ("bridge_channel.c", 2512, "bridge_channel_handle_control")

    reg_reasons = ["Wrong password"] * 12 + ["No matching peer found"] * 6 + [
        "Username/auth name mismatch", "Not a local domain", "Peer is not supposed to register",
        "Device does not match ACL", "ACL error (permit/deny)"]
    pjsip_reasons = ["No matching endpoint found"] * 6 + ["Failed to authenticate"] * 4 + [
        "Not match Endpoint ACL", "Not match Endpoint Contact ACL", "Error to authenticate"]
    methods = ["REGISTER"] * 6 + ["INVITE"] * 3 + ["OPTIONS", "SUBSCRIBE"]
    users = ["100", "101", "200", "1000", "1001", "admin", "test", "guest", "sip", "1234", "9999", "asterisk", "user"]
    exts = ["900441", "011972", "00972", "9011441", "0046", "810380", "+441", "00", "9"]
    contexts = ["public", "default", "from-sip-external", "from-trunk"]

    def hostport(a, r):
        # ast_sockaddr_stringify: IPv6 with port in brackets.
        if a[0] == "6":
            return "[%s]:%d" % (a[1], 5060 + int(r * 40))
        return "%s:%d" % (a[1], 5060 + int(r * 40))

    # ---- attack messages: each returns (level, callid-needed, src, message) -----------------
    def a_sip_reg(a, r):
        u = users[int(r * len(users))]
        to = ("<sip:%s@%s>" % (u, SERVER)) if r < 0.7 else ('"%s" <sip:%s@%s>' % (u, u, SERVER))
        hp = hostport(a, r) if r < 0.8 or a[0] == "6" else a[1]
        return "NOTICE", 0, SIP_REG, "Registration from '%s' failed for '%s' - %s" % (to, hp, reg_reasons[int(r * 997) % len(reg_reasons)])

    def a_sip_call(a, r):
        return "NOTICE", 1, SIP_INV, "Call from '' (%s) to extension '%s%d' rejected because extension not found in context '%s'." % (
            hostport(a, r), exts[int(r * 131) % len(exts)], int(r * 1e7), contexts[int(r * 7) % len(contexts)])

    def a_pjsip_call(a, r):
        tr = "UDP" if r < 0.8 else ("TCP" if r < 0.95 else "TLS")
        return "NOTICE", 1, SESSION, "Call from 'anonymous' (%s:%s) to extension '%s%d' rejected because extension not found in context 'default'." % (
            tr, hostport(a, r), exts[int(r * 131) % len(exts)], int(r * 1e8))

    def a_pjsip(a, r):
        m = methods[int(r * 1009) % len(methods)]
        u = users[int(r * 101) % len(users)]
        reason = pjsip_reasons[int(r * 997) % len(pjsip_reasons)]
        cid = "%08x-%04x" % (int(r * 0xFFFFFFFF), int(r * 7919) & 0xFFFF)
        if reason == "No matching endpoint found" and r < 0.1:
            # Asterisk 13.8+ rate-limited report (only the embedded filter knows this tail).
            return "NOTICE", 0, DISTRIB_N, "Request '%s' from '<sip:%s@%s>' failed for '%s' (callid: %s) - %s after %d tries in %.3f ms" % (
                m, u, SERVER, hostport(a, r), cid, reason, 3 + int(r * 50), r * 20)
        return "NOTICE", 0, DISTRIB, "Request '%s' from '<sip:%s@%s>' failed for '%s' (callid: %s) - %s" % (
            m, u, SERVER, hostport(a, r), cid, reason)

    def a_security(a, r):
        v = "IPV6" if a[0] == "6" else "IPV4"
        sid = "%08x-%04x" % (int(r * 0xFFFFFFFF), int(r * 65521) & 0xFFFF)
        remote = '%s/UDP/%s/%d' % (v, a[1], 5060 + int(r * 40))
        common = 'EventTV="%s",Severity="Error",Service="PJSIP",EventVersion="1",AccountID="%s",SessionID="%s",LocalAddress="IPV4/UDP/%s/5060",RemoteAddress="%s"' % (
            "1709251200-%06d" % int(r * 999999), users[int(r * 13) % len(users)], sid, SERVER, remote)
        k = int(r * 1013) % 10
        if k < 4:
            return "SECURITY", 0, SEC, 'SecurityEvent="InvalidAccountID",' + common
        if k < 7:
            return "SECURITY", 0, SEC, 'SecurityEvent="ChallengeResponseFailed",' + common + ',Challenge="1709251200/%08x",Response="%08x%024x",ExpectedResponse=""' % (int(r * 1e9), int(r * 1e9), int(r * 2 ** 90))
        if k < 8:
            return "SECURITY", 0, SEC, 'SecurityEvent="InvalidPassword",' + common + ',Challenge="%08x",ReceivedChallenge="%08x",ReceivedHash="%032x"' % (int(r * 1e9), int(r * 1e9), int(r * 2 ** 63))
        if k < 9:
            return "SECURITY", 0, SEC, 'SecurityEvent="FailedACL",' + common + ',ACLName="endpoint_acl"'
        return "SECURITY", 0, SEC, 'SecurityEvent="RequestBadFormat",' + common + ',RequestType="REGISTER",RequestParams="Missing To header"'

    def a_iax(a, r):
        if r < 0.4:
            return "NOTICE", 0, IAX_REG, "No registration for peer '%s' (from %s)" % (users[int(r * 97) % len(users)], a[1])
        if r < 0.8:
            return "NOTICE", 0, IAX_MD5, "Host %s failed MD5 authentication for '%s' (%032x != %032x)" % (a[1], users[int(r * 97) % len(users)], int(r * 2 ** 64), int(r * 2 ** 60))
        # current chan_iax2 prints the port (embedded filter only)
        return "WARNING", 0, IAX_AUTH, "Host %s failed to authenticate as '%s'" % (hostport(a, r), users[int(r * 97) % len(users)])

    def a_ami(a, r):
        if r < 0.5:
            return "NOTICE", 0, AMI_NX, "%s tried to authenticate with nonexistent user '%s'" % (a[1], users[int(r * 97) % len(users)])
        return "NOTICE", 0, AMI, "%s failed to authenticate as '%s'" % (a[1], users[int(r * 97) % len(users)])

    def a_misc(a, r):
        if r < 0.5:
            return "NOTICE", 0, SIP_VIA, "hacking attempt detected '%s'" % a[1]
        hp = hostport(a, r) if r < 0.8 else a[1]
        return "WARNING", 1, EXT, '"Rejecting unknown SIP connection from %s"' % hp

    attacks = [(a_sip_reg, 30), (a_pjsip, 30), (a_security, 15), (a_sip_call, 8), (a_pjsip_call, 6),
               (a_iax, 4), (a_ami, 4), (a_misc, 3)]

    # ---- near misses: look like attacks, are not (for the stock filter) ---------------------
    def n_error_copy(a, r):
        return "ERROR", 0, SIP_REG, "Registration from '<sip:%s@%s>' failed for '%s' - Wrong password" % (users[int(r * 13) % len(users)], SERVER, hostport(a, r))

    def n_other_reason(a, r):
        reason = ("Device not configured to use this transport type", "RTP initialization failed", "Unknown failure")[int(r * 3)]
        return "NOTICE", 0, SIP_REG, "Registration from '<sip:2%02d@%s>' failed for '10.0.%d.%d:5060' - %s" % (int(r * 99), SERVER, int(r * 4), 2 + int(r * 200), reason)

    def n_injection(a, r):
        return "NOTICE", 0, SIP_REG, "Registration from '<sip:x' failed for '6.6.6.6' - Wrong password>' failed for '%s' - Wrong password" % hostport(a, r)

    def n_debug(a, r):
        return "DEBUG", 0, PJLOG, "<--- Received SIP request (%d bytes) from UDP:%s --->" % (400 + int(r * 600), hostport(a, r))

    def n_events(a, r):
        ev = "SuccessfulAuth" if r < 0.5 else "ChallengeSent"
        return "SECURITY", 0, SEC, 'SecurityEvent="%s",EventTV="1709251200-%06d",Severity="Informational",Service="PJSIP",EventVersion="1",AccountID="2%02d",SessionID="%08x",LocalAddress="IPV4/UDP/%s/5060",RemoteAddress="IPV4/UDP/10.0.0.%d/5060"' % (
            ev, int(r * 999999), int(r * 99), int(r * 0xFFFFFFFF), SERVER, 2 + int(r * 200))

    near = [(n_error_copy, 3), (n_other_reason, 3), (n_injection, 1), (n_debug, 6), (n_events, 5)]

    # ---- benign traffic -----------------------------------------------------------------------
    def b_exec(r):
        n = int(r * 200)
        return "VERBOSE", 1, PBX, 'Executing [%d@from-internal:1] Dial("PJSIP/2%02d-%08x", "PJSIP/%d,30,tT") in new stack' % (100 + n, n % 100, int(r * 1e6), 100 + n)

    def b_ring(r):
        return "VERBOSE", 1, DIAL, "PJSIP/1%02d-%08x is ringing" % (int(r * 99), int(r * 1e6))

    def b_answer(r):
        return "VERBOSE", 1, DIAL, "PJSIP/1%02d-%08x answered PJSIP/2%02d-%08x" % (int(r * 99), int(r * 1e6), int(r * 77) % 100, int(r * 1e5))

    def b_contact(r):
        n = int(r * 200)
        return "VERBOSE", 0, REGISTRAR, "Added contact 'sip:%d@10.0.%d.%d:5060;transport=udp' to AOR '%d' with expiration of 3600 seconds" % (100 + n, n % 4, 2 + n, 100 + n)

    def b_qualify(r):
        return "NOTICE", 0, SIP_QUAL, "Peer '%d' is now Reachable. (%dms / 2000ms)" % (100 + int(r * 200), 1 + int(r * 80))

    def b_ami_ok(r):
        return "VERBOSE", 0, AMI_OK, "Manager 'monitor' logged on from 127.0.0.1"

    def b_rtp(r):
        return "DEBUG", 1, RTP, "Got RTP packet from    10.0.%d.%d:%d (type 00, seq %06d, ts %d, len 000160)" % (int(r * 4), 2 + int(r * 200), 10000 + int(r * 10000), int(r * 65535), int(r * 4e9))

    def b_cdr(r):
        return "DEBUG", 1, CDR, "Finalized CDR for PJSIP/2%02d-%08x - start %d.%06d answer %d.%06d end %d.%06d dispo ANSWERED" % (
            int(r * 99), int(r * 1e6), 1709251200 + int(r * 1e6), int(r * 1e6), 1709251201 + int(r * 1e6), int(r * 1e6), 1709251300 + int(r * 1e6), int(r * 1e6))

    def b_bridge(r):
        return "VERBOSE", 1, BRIDGE, "Channel PJSIP/1%02d-%08x joined 'simple_bridge' basic-bridge <%08x-%04x>" % (int(r * 99), int(r * 1e6), int(r * 0xFFFFFFFF), int(r * 65535))

    def b_warn(r):
        return "WARNING", 1, SIP_INV, "Retransmission timeout reached on transmission %08x@10.0.0.%d for seqno %d (Critical Request) -- See https://wiki.asterisk.org/wiki/display/AST/SIP+Retransmissions" % (
            int(r * 0xFFFFFFFF), 2 + int(r * 200), 100 + int(r * 900))

    benign = [(b_exec, 30), (b_ring, 10), (b_answer, 8), (b_contact, 10), (b_qualify, 8), (b_ami_ok, 2),
              (b_rtp, 18), (b_cdr, 6), (b_bridge, 6), (b_warn, 2)]

    # ---- pools ------------------------------------------------------------------------------
    # Formatting every line from scratch is too slow in Python, so message bodies are made once
    # into pools and lines pick from them. Attack bodies are split around the source address,
    # which is drawn per line from the power-law pool, so the address distribution is exact.
    MARK = "\x00"

    def weighted(items, count):
        total = sum(w for _, w in items)
        out = []
        for f, w in items:
            out += [f] * max(1, round(count * w / total))
        return out

    def body(level, with_cid, src, msg, r):
        cid = "[C-%08x]" % (int(r * 4096) + 1) if with_cid else ""
        return prefix(level, 2101 + int(r * 97), cid, src) + msg

    def addr_pool(items, count):
        pools = {}
        for fam in ("4", "6"):
            pool = []
            for f in weighted(items, count):
                level, wc, src, msg = f((fam, MARK), rnd())
                pool.append(tuple(body(level, wc, src, msg, rnd()).split(MARK)))
            rng.shuffle(pool)
            pools[fam] = pool
        return pools

    attack_pool = addr_pool(attacks, 8192)
    near_pool = addr_pool(near, 2048)
    benign_pool = [body(*f(rnd()), rnd()) for f in weighted(benign, 32768)]
    rng.shuffle(benign_pool)
    n_att, n_near, n_ben = len(attack_pool["4"]), len(near_pool["4"]), len(benign_pool)
    p_attack = args.attack_ratio
    p_near = p_attack + 0.03

    # ---- time -------------------------------------------------------------------------------
    t_ms = calendar.timegm(start.timetuple()) * 1000 + start.microsecond // 1000
    max_gap = max(1, int(2000 / args.rate))  # uniform gap, mean 1000/rate ms
    ms_text = [".%03d" % i for i in range(1000)]
    last_sec = None
    head = ""

    limit_lines = args.lines if args.lines is not None else float("inf")
    limit_bytes = args.size if args.size is not None else float("inf")
    written = 0
    n = 0
    buf = []
    write = out.write
    msec = fmt == "msec"
    while n < limit_lines and written < limit_bytes:
        t_ms += int(rnd() * max_gap)
        sec = t_ms // 1000
        if sec != last_sec:
            last_sec = sec
            tm = time.gmtime(sec)
            mon = MONTHS[tm.tm_mon - 1]
            hms = "%02d:%02d:%02d" % (tm.tm_hour, tm.tm_min, tm.tm_sec)
            if fmt in ("isodate", "msec"):
                head = "[%04d-%02d-%02d %s" % (tm.tm_year, tm.tm_mon, tm.tm_mday, hms)
            elif fmt == "default":
                head = "[%s %2d %s" % (mon, tm.tm_mday, hms)  # %b %e %T
            elif fmt == "syslog":
                head = "%s %2d %s pbx asterisk[%d]: " % (mon, tm.tm_mday, hms, ASTERISK_PID)
            else:  # journalctl prints %b %d %T, the console line %b %e %T
                head = "%s %02d %s pbx asterisk[%d]: [%s %2d %s" % (mon, tm.tm_mday, hms, ASTERISK_PID, mon, tm.tm_mday, hms)
        h = head + ms_text[t_ms % 1000] if msec else head
        r = rnd()
        if r < p_attack:
            a = draw(rnd())
            line = h + a[1].join(attack_pool[a[0]][int(rnd() * n_att)]) + "\n"
        elif r < p_near:
            a = draw(rnd())
            line = h + a[1].join(near_pool[a[0]][int(rnd() * n_near)]) + "\n"
        else:
            line = h + benign_pool[int(rnd() * n_ben)] + "\n"
        buf.append(line)
        written += len(line)
        n += 1
        if len(buf) >= 8192:
            write("".join(buf))
            buf = []
    if buf:
        write("".join(buf))


if __name__ == "__main__":
    main()
