#!/usr/bin/env python3
"""Differential test: the same restrictions in Postfix's smtpd and in scand.

For every case file (format in tests/differential/README.md) the rules go
into a private Postfix's main.cf (reloaded, then checked by a marker in its
banner) and into a fresh scand.conf (scand restarted). Every envelope is
sent to Postfix with XCLIENT and to scand with XFORWARD, and run through
`scand -t`. The MAIL and RCPT replies must be identical, and test mode must
reach the same decision with the same reply text.

  difftest.py --build DIR --pfc DIR --front PORT --scan PORT --sink PORT
              --work DIR [--only SUBSTRING] [--dns-server ADDR:PORT]
              [--record FILE] CASEFILE...

--dns-server gives scand `dns_servers = ADDR:PORT` and one 1 s try per
query, as the namespace's resolv.conf gives Postfix (the DNS cases in
tests/differential/dns/ run everything in a network namespace whose
/etc/resolv.conf names the same server for Postfix). --record writes
Postfix's replies, and the warnings its log gained during each envelope,
to FILE (markdown), also for the envelopes of a case scand cannot run.

Prints "ok ..." / "FAIL ..." per envelope, each difference indented below,
and "N passed, N failed" at the end; exit status 1 when anything differs.
"""

import argparse
import os
import re
import shlex
import socket
import subprocess
import sys
import time

CRLF = "\r\n"

# Lines both Postfix and scand get unless the case sets the parameter: the
# after-queue setting (relay decisions made in front) and the same networks.
COMMON = [
    ("mynetworks", "127.0.0.0/8"),
    ("relay_domains", ""),
]

# The relay stage permits in both: scand gets an empty list (as after the
# queue), Postfix, which refuses to start without a "working" reject in it,
# a list that permits every client before reaching that reject.
RELAY_SCAND = ("smtpd_relay_restrictions", "")
RELAY_POSTFIX = ("smtpd_relay_restrictions", "check_client_access static:OK, reject")

# Postfix-only: no sleeping after errors, bigger error budget per session.
POSTFIX_EXTRA = [
    # XCLIENT refuses an IPv6 ADDR when IPv6 is off; listening stays on
    # 127.0.0.1 (inet_interfaces).
    "inet_protocols = ipv4, ipv6",
    # The base instance's error: transports make smtpd refuse recipients;
    # no mail is ever queued here (no DATA), so nothing is delivered.
    "default_transport = discard:difftest",
    "local_transport = discard:difftest",
    "smtpd_error_sleep_time = 0",
    "smtpd_soft_error_limit = 100",
    "smtpd_hard_error_limit = 100",
]


class Case:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path).rsplit(".", 1)[0]
        self.main = []        # main.cf lines for both
        self.postfix = []     # main.cf lines for Postfix only
        self.tables = {}      # name -> text
        self.envelopes = []   # (line number, dict)
        self.parse()

    def parse(self):
        section, name = None, None
        with open(self.path, encoding="utf-8") as f:
            for no, raw in enumerate(f, 1):
                line = raw.rstrip("\n")
                m = re.match(r"^\[(main\.cf|postfix-only|envelopes|table\s+(\S+))\]\s*$", line)
                if m:
                    section = m.group(1).split()[0]
                    name = m.group(2)
                    if section == "table":
                        self.tables[name] = ""
                    continue
                if section is None:
                    continue  # free text: the case's description
                if section == "table":
                    self.tables[name] += line + "\n"
                    continue
                if section == "envelopes":
                    if line.strip() and not line.lstrip().startswith("#"):
                        self.envelopes.append((no, parse_envelope(line, self.path, no)))
                    continue
                if line.strip() == "" or line.lstrip().startswith("#"):
                    continue
                (self.main if section == "main.cf" else self.postfix).append(line)

    def params_set(self):
        return param_names(self.main)


def param_names(lines):
    names = set()
    for line in lines:
        m = re.match(r"^([A-Za-z0-9_]+)\s*=", line)
        if m:
            names.add(m.group(1))
    return names


def without_params(text, names):
    """main.cf text without the entries (and continuation lines) of names."""
    out, skipping = [], False
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and line.strip():
            if not skipping:
                out.append(line)
            continue
        m = re.match(r"^([A-Za-z0-9_]+)\s*=", line)
        skipping = bool(m and m.group(1) in names)
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


def parse_envelope(line, path, no):
    env = {"name": "unknown", "addr": "192.0.2.1", "helo": None, "from": "", "to": [],
           "reverse": None}
    for word in shlex.split(line, comments=True):
        key, sep, value = word.partition("=")
        if not sep:
            raise SystemExit("%s, line %d: expected key=value, got %r" % (path, no, word))
        if key == "client":
            m = re.match(r"^(.*)\[(.*)\]$", value)
            if not m:
                raise SystemExit("%s, line %d: client=NAME[ADDR]" % (path, no))
            env["name"], env["addr"] = m.group(1), m.group(2)
        elif key == "helo":
            env["helo"] = value
        elif key == "reverse":
            env["reverse"] = value
        elif key == "from":
            env["from"] = value[1:-1] if value.startswith("<") and value.endswith(">") else value
        elif key == "to":
            env["to"].append(value[1:-1] if value.startswith("<") and value.endswith(">") else value)
        else:
            raise SystemExit("%s, line %d: unknown key %r" % (path, no, key))
    if not env["to"]:
        raise SystemExit("%s, line %d: no to=" % (path, no))
    return env


def describe(env):
    return "client=%s[%s]%s helo=%s from=<%s> to=%s" % (
        env["name"], env["addr"],
        " reverse=%s" % env["reverse"] if env["reverse"] is not None else "",
        env["helo"] if env["helo"] is not None else "(none)",
        env["from"], ",".join("<%s>" % r for r in env["to"]))


# ------------------------------------------------------------------ SMTP

class Closed(Exception):
    pass


class Conn:
    def __init__(self, port, timeout=20):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")

    def reply(self):
        """One reply: its lines joined by ' / ' (Postfix folds as it likes)."""
        lines = []
        while True:
            try:
                raw = self.f.readline()
            except OSError:
                raise Closed()
            if not raw:
                raise Closed()
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                break
        return " / ".join(lines)

    def cmd(self, line):
        try:
            self.sock.sendall((line + CRLF).encode())
        except OSError:
            raise Closed()
        return self.reply()

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except (OSError, Closed):
            pass
        self.sock.close()


def xattr(value):
    """xtext (RFC 1891) for XCLIENT/XFORWARD attribute values."""
    out = []
    for ch in value:
        if ch == "+" or ch == "=" or ord(ch) < 33 or ord(ch) > 126:
            out.append("+%02X" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def client_attrs(env):
    name = "[UNAVAILABLE]" if env["name"] == "unknown" else xattr(env["name"])
    addr = env["addr"]
    addr = ("IPV6:" + addr) if ":" in addr else addr
    helo = "[UNAVAILABLE]" if env["helo"] is None else xattr(env["helo"])
    return "NAME=%s ADDR=%s HELO=%s PROTO=ESMTP" % (name, xattr(addr), helo)


def transaction(conn, env, out):
    """MAIL and RCPTs; replies appended to out ("MAIL", "RCPT r") ."""
    try:
        r = conn.cmd("MAIL FROM:<%s>" % env["from"])
        out.append(("MAIL", r))
        if not r.startswith("2"):
            return
        for rcpt in env["to"]:
            out.append(("RCPT <%s>" % rcpt, conn.cmd("RCPT TO:<%s>" % rcpt)))
    except Closed:
        out.append(("closed", "(connection closed)"))


def connect_postfix(port, marker, secs=15):
    """A session with an smtpd of the current configuration (its banner
    carries the marker), or None."""
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            conn = Conn(port, timeout=5)
            banner = conn.reply()
        except (OSError, Closed):
            time.sleep(0.1)
            continue
        if marker in banner:
            return conn
        conn.close()  # an smtpd of the previous configuration
        time.sleep(0.1)
    return None


def talk_postfix(port, marker, env):
    """XCLIENT as the original client, then EHLO with the same HELO name
    (XCLIENT resets the session; an EHLO would otherwise set another)."""
    conn = connect_postfix(port, marker)
    if conn is None:
        return [("banner", "no smtpd with marker %s" % marker)]
    out = []
    try:
        r = conn.cmd("EHLO localhost")
        attrs = client_attrs(env)
        if env["reverse"] is not None:
            # Postfix only: XFORWARD has no REVERSE_NAME; scand must find it.
            attrs += " REVERSE_NAME=" + ("[UNAVAILABLE]" if env["reverse"] == "unknown"
                                         else xattr(env["reverse"]))
        r = conn.cmd("XCLIENT " + attrs)
        if not r.startswith("220"):
            return [("XCLIENT", r)]
        if env["helo"] is not None:
            r = conn.cmd("EHLO " + env["helo"])
            if not r.startswith("250"):
                return [("EHLO", r)]
        transaction(conn, env, out)
    except Closed:
        out.append(("closed", "(connection closed)"))
    conn.close()
    return out


def talk_scand(port, env):
    """As Postfix's scan client: EHLO, XFORWARD, MAIL, RCPT."""
    out = []
    conn = Conn(port)
    try:
        conn.reply()
        conn.cmd("EHLO localhost")
        r = conn.cmd("XFORWARD " + client_attrs(env))
        if not r.startswith("250"):
            return [("XFORWARD", r)]
        transaction(conn, env, out)
    except Closed:
        out.append(("closed", "(connection closed)"))
    conn.close()
    return out


# ------------------------------------------------------------ test mode

def run_testmode(scand, conf, env):
    cmd = [scand, "-c", conf, "-t", "--client-name", env["name"], "--client-addr", env["addr"]]
    if env["helo"] is not None:
        cmd += ["--helo", env["helo"]]
    cmd += ["-f", env["from"], "--"] + env["to"]
    try:
        p = subprocess.run(cmd, input=b"Subject: difftest\n\nbody\n", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
    except subprocess.TimeoutExpired:
        return -1, [], "timed out after 60 s"
    lines = p.stdout.decode("utf-8", "replace").splitlines()
    return p.returncode, lines, p.stderr.decode("utf-8", "replace")


def expected_testmode(replies, env):
    """What test mode must print for each recipient given live replies
    (by position: the same recipient may be given twice)."""
    rcpt_replies = [v for k, v in replies if k.startswith("RCPT <")]
    closed_by = None
    for _k, v in replies:
        if v[:3] in ("421", "521"):
            closed_by = v[:3]
    mail_ok = any(k == "MAIL" and v.startswith("2") for k, v in replies)
    want = []
    for i, _rcpt in enumerate(env["to"]):
        r = rcpt_replies[i] if i < len(rcpt_replies) else None
        if r is not None and r[:3] in ("421", "521"):
            want.append(("reject " if r[0] == "5" else "defer ") + r)
        elif closed_by is not None:
            want.append("defer (session closed after %s)" % closed_by)
        elif r is None or not mail_ok:
            want.append(None)  # MAIL refused: test mode has no MAIL stage to compare
        elif r.startswith("2"):
            want.append("accept")
        else:
            want.append(("defer " if r[0] == "4" else "reject ") + r)
    return want


def testmode_matches(want, got):
    if want is None:
        return True
    if want == "accept":
        return re.match(r"^(accept|discard|hold)( \(.*\))?$", got) is not None
    return got == want


# ------------------------------------------------------------ the runner

class Runner:
    def __init__(self, a):
        self.a = a
        self.scand = os.path.join(a.build, "bin", "scand")
        self.scand_proc = None
        self.passed = 0
        self.failed = 0
        self.serial = 0
        self.record = open(a.record, "w") if a.record else None
        self.maillog = os.path.join(os.path.dirname(a.pfc), "maillog")
        base = os.path.join(a.pfc, "main.cf.difftest-base")
        if not os.path.exists(base):
            with open(os.path.join(a.pfc, "main.cf")) as f, open(base, "w") as g:
                g.write(f.read())
        with open(base) as f:
            self.postfix_base = f.read()

    def ok(self, text):
        self.passed += 1
        print("ok " + text, flush=True)

    def fail(self, text, details=()):
        self.failed += 1
        print("FAIL " + text, flush=True)
        for d in details:
            print("    " + d, flush=True)

    def write_tables(self, case, tdir):
        os.makedirs(tdir, exist_ok=True)
        for name, text in case.tables.items():
            with open(os.path.join(tdir, name), "w") as f:
                f.write(text.replace("@T@", tdir))

    def rules_text(self, case, tdir):
        lines = [l.replace("@T@", tdir) for l in case.main]
        have = case.params_set()
        common = ["%s = %s" % (k, v) for k, v in COMMON if k not in have]
        if RELAY_SCAND[0] not in have:
            common.append("%s = %s" % RELAY_SCAND)
        return common, lines

    def postmap(self, lines, tdir, errors):
        for line in lines:
            for typ, path in re.findall(r"\b(hash|btree|cdb|lmdb):(/[^\s,]+)", line):
                p = subprocess.run(["postmap", "-c", self.a.pfc, "%s:%s" % (typ, path)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                if p.returncode != 0:
                    errors.append("postmap %s:%s: %s" % (typ, path, p.stdout.decode().strip()))

    def configure_postfix(self, case, common, lines, marker):
        common = ["%s = %s" % RELAY_POSTFIX if l.startswith(RELAY_SCAND[0] + " ") else l
                  for l in common]
        ours = ["smtpd_banner = $myhostname ESMTP %s" % marker] + POSTFIX_EXTRA + common + \
            lines + case.postfix
        # No parameter twice: every "overriding earlier entry" warning is a
        # log datagram from every Postfix process, and a burst of them at
        # reload can wedge postlogd on its own socket.
        text = without_params(self.postfix_base, param_names(ours))
        text += "\n# ---- difftest case %s\n" % case.name + "\n".join(ours) + "\n"
        with open(os.path.join(self.a.pfc, "main.cf"), "w") as f:
            f.write(text)
        subprocess.run(["postfix", "-c", self.a.pfc, "reload"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def stop_scand(self):
        if self.scand_proc is None:
            return
        self.scand_proc.terminate()
        try:
            self.scand_proc.wait(10)
        except subprocess.TimeoutExpired:
            self.scand_proc.kill()
            self.scand_proc.wait()
        self.scand_proc = None
        wait_port(self.a.scan, False, 10)

    def start_scand(self, case, common, lines):
        conf = os.path.join(self.a.work, case.name + ".scand.conf")
        with open(conf, "w") as f:
            f.write("listen = 127.0.0.1:%d\nrelay = 127.0.0.1:%d\nprocess_limit = 2\n"
                    "myhostname = localhost\n" % (self.a.scan, self.a.sink))
            if self.a.dns_server:
                # The resolver settings of the namespace's resolv.conf that
                # Postfix uses (tests/differential/dns/run.sh): one try of 1 s.
                f.write("dns_servers = %s\ndns_query_timeout = 1s\n"
                        "dns_query_attempts = 1\n" % self.a.dns_server)
            f.write("\n".join(common + lines) + "\n")
        log = open(os.path.join(self.a.work, case.name + ".scand.log"), "w")
        self.scand_proc = subprocess.Popen([self.scand, "-F", "-c", conf], stdout=log,
                                           stderr=subprocess.STDOUT)
        if not wait_port(self.a.scan, True, 10, self.scand_proc):
            log.close()
            with open(log.name) as f:
                why = f.read().strip().splitlines()[-3:]
            self.scand_proc.wait()
            self.scand_proc = None
            return None, why
        return conf, None

    def run_case(self, case):
        self.serial += 1
        marker = "difftest-%d-%s" % (self.serial, case.name)
        tdir = os.path.join(self.a.work, case.name)
        self.write_tables(case, tdir)
        common, lines = self.rules_text(case, tdir)
        errors = []
        self.postmap(lines + case.postfix, tdir, errors)
        if errors:
            self.fail("%s: tables for Postfix" % case.name, errors)
            return
        self.configure_postfix(case, common, lines, marker)
        conn = connect_postfix(self.a.front, marker)
        if conn is None:
            self.fail("%s: Postfix does not serve this configuration" % case.name,
                      maillog_tail(self.a.pfc))
            return
        conn.close()
        self.stop_scand()
        conf, why = self.start_scand(case, common, lines)
        self.record_case(case, common, lines)
        if conf is None:
            self.fail("%s: scand does not start with these rules" % case.name, why)
            if self.record is not None:
                for no, env in case.envelopes:
                    self.record_envelope(case, no, env, self.postfix_only(marker, env))
            return
        for no, env in case.envelopes:
            self.run_envelope(case, no, env, marker, conf)

    def postfix_only(self, marker, env):
        """Postfix's replies and the warnings it logged meanwhile."""
        if self.record is None:
            return talk_postfix(self.a.front, marker, env), []
        mark = log_size(self.maillog)
        pf = talk_postfix(self.a.front, marker, env)
        return pf, maillog_warnings(self.maillog, mark)

    def record_case(self, case, common, lines):
        if self.record is None:
            return
        self.record.write("\n### %s\n\n```\n%s\n```\n\n" % (case.name, "\n".join(lines)))

    def record_envelope(self, case, no, env, result):
        if self.record is None:
            return
        pf, warnings = result
        self.record.write("- `%s` (%s:%d)\n" % (describe(env), case.name, no))
        for k, v in pf:
            self.record.write("  - %s: `%s`\n" % (k, v))
        for w in warnings:
            self.record.write("  - log: `%s`\n" % w)
        self.record.flush()

    def run_envelope(self, case, no, env, marker, conf):
        label = "%s:%d %s" % (case.name, no, describe(env))
        pf, warnings = self.postfix_only(marker, env)
        self.record_envelope(case, no, env, (pf, warnings))
        sc = talk_scand(self.a.scan, env)
        diffs = []
        for i in range(max(len(pf), len(sc))):
            p = pf[i] if i < len(pf) else ("-", "(no reply)")
            s = sc[i] if i < len(sc) else ("-", "(no reply)")
            if p != s:
                diffs.append("%s: postfix %r" % (p[0], p[1]))
                diffs.append("%s  scand   %r" % (" " * len(p[0]), s[1]))
        rc, tm_lines, tm_err = run_testmode(self.scand, conf, env)
        want = expected_testmode(pf, env)
        for i, rcpt in enumerate(env["to"]):
            got = tm_lines[i] if i < len(tm_lines) else "(no line)"
            prefix = rcpt + ": "
            got_action = got[len(prefix):] if got.startswith(prefix) else "(bad line %r)" % got
            if not testmode_matches(want[i], got_action):
                diffs.append("scand -t <%s>: want %r, got %r" % (rcpt, want[i], got_action))
        if rc == -1:
            diffs.append("scand -t: %s" % tm_err)
        elif rc not in (0, 69, 75):
            diffs.append("scand -t exit %d: %s" % (rc, tm_err.strip().splitlines()[-1:] or ""))
        if diffs:
            self.fail(label, diffs)
        else:
            self.ok(label + " -> " + "; ".join(r for _k, r in pf if _k != "MAIL"))

    def close(self):
        self.stop_scand()
        if self.record is not None:
            self.record.close()


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def maillog_warnings(path, offset, settle=0.3):
    """Postfix's warning and reject_warning lines logged after offset,
    without the log prefix (time, host, process)."""
    time.sleep(settle)  # postlogd writes after smtpd replied
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        if "overriding earlier entry" in line:
            continue
        m = re.search(r"postfix/smtpd\[[0-9]+\]: (warning: .*|[0-9A-F]+: reject_warning: .*|NOQUEUE: reject_warning: .*)$", line)
        if m:
            out.append(m.group(1))
    return out


def maillog_tail(pfc):
    path = os.path.join(os.path.dirname(pfc), "maillog")
    try:
        with open(path, errors="replace") as f:
            lines = [l.rstrip() for l in f if "overriding earlier entry" not in l]
    except OSError:
        return []
    return lines[-5:]


def wait_port(port, up, secs, proc=None):
    deadline = time.time() + secs
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            listening = True
        except OSError:
            listening = False
        if listening == up:
            return True
        time.sleep(0.05)
    return False


def main():
    ap = argparse.ArgumentParser()
    for opt in ("build", "pfc", "work"):
        ap.add_argument("--" + opt, required=True)
    for opt in ("front", "scan", "sink"):
        ap.add_argument("--" + opt, type=int, required=True)
    ap.add_argument("--only", default="")
    ap.add_argument("--dns-server", default="")
    ap.add_argument("--record", default="")
    ap.add_argument("cases", nargs="+")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    runner = Runner(a)
    try:
        for path in sorted(a.cases):
            case = Case(path)
            if a.only and a.only not in case.name:
                continue
            runner.run_case(case)
    finally:
        runner.close()
    print("%d passed, %d failed" % (runner.passed, runner.failed), flush=True)
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
