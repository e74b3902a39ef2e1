#!/usr/bin/env python3
"""Differential test for content checks: Postfix's cleanup vs scand.

For every case file (format in tests/differential/content/README.md) the
header/mime/nested/body checks go into a private Postfix's main.cf (front
smtpd -> cleanup with the checks -> qmgr -> smtp to a sink; no content
filter) and into a fresh scand.conf (relay and hold_relay: two more sinks).
Every message of the case is sent to both, Postfix's front smtpd with
XCLIENT, scand with XFORWARD as Postfix's scan client does, and run through
`scand -t --print-message`. Compared:

* the outcome: the end-of-DATA reply (code, enhanced code and text) when it
  is not 2yz; else discarded / held / delivered (Postfix: its maillog's
  "QID: discard:" / "QID: hold:" lines and the sink; scand: its
  "Ok: discarded" reply, the hold sink and the relay sink);
* for held and delivered mail, the message each side produced, less the
  one Received: header each adds itself (line ends normalised to LF: Postfix's
  held copy is read back with postcat, which prints LF);
* the envelope recipients of delivered mail;
* test mode's decision and the message it prints.

  contentdiff.py --build DIR --pfc DIR --work DIR --front PORT --scan PORT
                 --pf-sink-dir D --sc-sink PORT --sc-sink-dir D
                 --sc-hold PORT --sc-hold-dir D [--only SUBSTRING] CASEFILE...

Prints "ok ..." / "FAIL ..." per message, each difference indented below,
and "N passed, N failed" at the end; exit status 1 when anything differs.
"""

import argparse
import difflib
import glob
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time

CRLF = "\r\n"
DEFAULT_RCPT = "rcpt@sink.test"
CLIENT = {"name": "mx.example", "addr": "192.0.2.7", "helo": "mx.example"}
SECTION = re.compile(r"^\[(main\.cf|postfix-only|scand-only|table\s+(\S+)|message\s+(\S+)(\s+.*)?)\]\s*$")


# ------------------------------------------------------------------ cases

class Message:
    def __init__(self, name, opts, path, no):
        self.name = name
        self.no = no
        self.rcpts = []
        self.lines = []
        self.client = dict(CLIENT)
        self.known = None  # known=ID: a difference in KNOWN_DIFFERENCES.md
        for word in shlex.split(opts or ""):
            key, sep, value = word.partition("=")
            m = re.match(r"^(.+)\[(.+)\]$", value)
            if key == "to" and sep:
                self.rcpts.append(value.strip("<>"))
            elif key == "known" and sep:
                self.known = value
            elif key == "client" and m:
                self.client = {"name": m.group(1), "addr": m.group(2), "helo": m.group(1)}
            else:
                raise SystemExit("%s, line %d: unknown message option %r" % (path, no, word))
        if not self.rcpts:
            self.rcpts = [DEFAULT_RCPT]

    def text(self):
        """The message with LF line ends; trailing blank lines of the
        section are not part of it."""
        lines = list(self.lines)
        while lines and lines[-1] == "":
            lines.pop()
        return "\n".join(lines) + "\n"


class Case:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path).rsplit(".", 1)[0]
        self.main = []       # main.cf lines for both
        self.postfix = []    # main.cf lines for Postfix only
        self.scand = []      # scand.conf lines for scand only
        self.tables = {}     # name -> text
        self.messages = []
        self.parse()

    def parse(self):
        section, cur = None, None
        with open(self.path, encoding="utf-8") as f:
            for no, raw in enumerate(f, 1):
                line = raw.rstrip("\n")
                m = SECTION.match(line)
                if m:
                    section = m.group(1).split()[0]
                    if section == "table":
                        cur = m.group(2)
                        self.tables[cur] = ""
                    elif section == "message":
                        cur = Message(m.group(3), m.group(4), self.path, no)
                        self.messages.append(cur)
                    continue
                if section is None:
                    continue  # free text: what the case is about
                if section == "table":
                    self.tables[cur] += line + "\n"
                elif section == "message":
                    cur.lines.append(line)
                elif line.strip() and not line.lstrip().startswith("#"):
                    {"main.cf": self.main, "postfix-only": self.postfix,
                     "scand-only": self.scand}[section].append(line)


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


# ------------------------------------------------------------------ SMTP

class Closed(Exception):
    pass


class Conn:
    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")

    def reply(self):
        """One reply: its lines joined by ' / '."""
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

    def data(self, text):
        """DATA with text (LF line ends) sent as CRLF, dot-stuffed."""
        r = self.cmd("DATA")
        if not r.startswith("354"):
            return r
        body = text.replace("\n", CRLF)
        body = re.sub(r"(?m)^\.", "..", body)
        try:
            self.sock.sendall((body + "." + CRLF).encode("utf-8"))
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


def client_attrs(client):
    return "NAME=%s ADDR=%s HELO=%s PROTO=ESMTP" % (client["name"], client["addr"], client["helo"])


def transaction(conn, sender, rcpts, text):
    """MAIL, RCPTs, DATA: the first reply that is not a success, or the
    end-of-DATA reply."""
    r = conn.cmd("MAIL FROM:<%s>" % sender)
    if not r.startswith("2"):
        return "MAIL " + r
    for rcpt in rcpts:
        r = conn.cmd("RCPT TO:<%s>" % rcpt)
        if not r.startswith("2"):
            return "RCPT " + r
    return conn.data(text)


def connect_postfix(port, marker, secs=15):
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            conn = Conn(port, timeout=5)
            banner = conn.reply()
        except (OSError, Closed):
            time.sleep(0.1)
            continue
        if marker in banner:
            conn.sock.settimeout(30)
            return conn
        conn.close()  # an smtpd of the previous configuration
        time.sleep(0.1)
    return None


# ------------------------------------------------------------ messages

def normalise(data):
    return data.replace(b"\r\n", b"\n").decode("utf-8", "replace")


def split_headers(text):
    """(logical headers, rest) of an LF message; a logical header keeps its
    continuation lines."""
    headers, lines = [], text.split("\n")
    i = 0
    while i < len(lines) and lines[i] != "":
        if lines[i][:1] in (" ", "\t") and headers:
            headers[-1] += "\n" + lines[i]
        else:
            headers.append(lines[i])
        i += 1
    return headers, "\n".join(lines[i:])


def strip_own_received(text, pattern):
    """The message without the one Received: header whose text matches
    pattern (the one the receiving side added itself)."""
    headers, rest = split_headers(text)
    for i, h in enumerate(headers):
        if h.lower().startswith("received:") and re.search(pattern, h):
            del headers[i]
            break
    return "\n".join(headers + [rest]) if headers else rest


PF_RECEIVED = r"by front\.it\.test \(Postfix\)"


def postfix_received(pf, msg):
    """The Received: header Postfix's front smtpd put on this message (LF
    line ends, with its line end), taken from Postfix's copy when there is
    one, else made in the same form."""
    if pf[0] in ("hold", "deliver"):
        headers, _ = split_headers(pf[1])
        for h in headers:
            if h.lower().startswith("received:") and re.search(PF_RECEIVED, h):
                return h + "\n"
    m = re.search(r"queued as ([0-9A-Za-z]+)", pf[1] or "") if pf[0] == "reply" else None
    qid = m.group(1) if m else "4Xy1Zq0AbCz"
    c = msg.client
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000 (UTC)", time.gmtime())
    text = "Received: from %s (%s [%s])\n\tby front.it.test (Postfix) with ESMTP id %s" % (
        c["helo"], c["name"], c["addr"], qid)
    if len(msg.rcpts) == 1:
        return text + "\n\tfor <%s>; %s\n" % (msg.rcpts[0], date)
    return text + ";\n\t%s\n" % date
SC_RECEIVED = r"by localhost \(scand\)"


def angle(arg):
    """The address of "FROM:<a@b> PARAMS" / "TO:<a@b>", lower case."""
    m = re.search(r"<([^>]*)>", arg)
    return m.group(1).lower() if m else ""


class Sink:
    """A directory the it.py sink writes NNNNNN.eml/.env into."""

    def __init__(self, d):
        self.dir = d

    def find(self, sender):
        for env_path in sorted(glob.glob(os.path.join(self.dir, "*.env"))):
            try:
                with open(env_path) as f:
                    env = json.load(f)
            except (OSError, ValueError):
                continue
            if angle(env.get("mail_from", "")) == sender.lower():
                with open(env_path[:-4] + ".eml", "rb") as f:
                    content = f.read()
                rcpts = sorted(angle(r) for r in env.get("rcpts", []))
                return content, rcpts
        return None


# ------------------------------------------------------------ the runner

class Runner:
    def __init__(self, a):
        self.a = a
        self.scand = os.path.join(a.build, "bin", "scand")
        self.scand_proc = None
        self.passed = 0
        self.failed = 0
        self.known = 0
        self.serial = 0
        self.pf_sink = Sink(a.pf_sink_dir)
        self.sc_sink = Sink(a.sc_sink_dir)
        self.sc_hold = Sink(a.sc_hold_dir)
        self.maillog = os.path.join(os.path.dirname(a.pfc), "maillog")
        base = os.path.join(a.pfc, "main.cf.contentdiff-base")
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

    # -------------------------------------------------- configuration

    def write_tables(self, case, tdir):
        os.makedirs(tdir, exist_ok=True)
        for name, text in case.tables.items():
            with open(os.path.join(tdir, name), "w") as f:
                f.write(text.replace("@T@", tdir))

    def configure_postfix(self, case, lines, marker):
        ours = ["smtpd_banner = $myhostname ESMTP %s" % marker,
                # cleanup applies the checks; no content filter in between
                "content_filter =",
                "smtpd_error_sleep_time = 0",
                # Postfix's smtp client would fold lines longer than 998
                # bytes on the way to the sink ("\r\n "); scand relays what
                # it got. (After the queue the scan transport folds them
                # before scand ever sees them.)
                "smtp_line_length_limit = 0"] + lines + \
            [l.replace("@T@", self.tdir) for l in case.postfix]
        # Every parameter once: an "overriding earlier entry" warning is a
        # log datagram from every process, and a burst of them at reload can
        # wedge postlogd.
        text = without_params(self.postfix_base, param_names(ours))
        text += "\n# ---- contentdiff case %s\n" % case.name + "\n".join(ours) + "\n"
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

    def start_scand(self, case, lines):
        conf = os.path.join(self.a.work, case.name + ".scand.conf")
        with open(conf, "w") as f:
            f.write("listen = 127.0.0.1:%d\nrelay = 127.0.0.1:%d\nhold_relay = 127.0.0.1:%d\n"
                    "process_limit = 2\nmyhostname = localhost\n"
                    % (self.a.scan, self.a.sc_sink, self.a.sc_hold))
            f.write("\n".join(lines + [l.replace("@T@", self.tdir) for l in case.scand]) + "\n")
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
        marker = "contentdiff-%d-%s" % (self.serial, case.name)
        self.tdir = os.path.join(self.a.work, case.name)
        self.write_tables(case, self.tdir)
        lines = [l.replace("@T@", self.tdir) for l in case.main]
        self.marker = marker
        self.configure_postfix(case, lines, marker)
        conn = connect_postfix(self.a.front, marker)
        if conn is None:
            self.fail("%s: Postfix does not serve this configuration" % case.name,
                      self.maillog_tail())
            return
        conn.close()
        self.stop_scand()
        conf, why = self.start_scand(case, lines)
        if conf is None:
            self.fail("%s: scand does not start with these rules" % case.name, why)
            return
        for msg in case.messages:
            self.run_message(case, msg, conf)

    # -------------------------------------------------- Postfix's side

    def maillog_lines(self, qid):
        try:
            with open(self.maillog, errors="replace") as f:
                return [l.rstrip("\n") for l in f if (" %s: " % qid) in l]
        except OSError:
            return []

    def maillog_tail(self):
        try:
            with open(self.maillog, errors="replace") as f:
                lines = [l.rstrip() for l in f if "overriding earlier entry" not in l]
        except OSError:
            return []
        return lines[-5:]

    def postfix_outcome(self, msg, sender):
        """("reply", text) | ("discard"|"hold"|"deliver", content, rcpts, log)"""
        conn = connect_postfix(self.a.front, self.marker)
        if conn is None:
            return ("reply", "(no smtpd with marker %s)" % self.marker)
        try:
            conn.cmd("EHLO localhost")
            r = conn.cmd("XCLIENT " + client_attrs(msg.client))
            if not r.startswith("220"):
                return ("reply", "XCLIENT " + r)
            conn.cmd("EHLO " + msg.client["helo"])
            r = transaction(conn, sender, msg.rcpts, msg.text())
        except Closed:
            return ("reply", "(connection closed)")
        finally:
            conn.close()
        m = re.match(r"^250 .*queued as ([0-9A-Za-z]+)", r)
        if not m:
            return ("reply", r)
        qid = m.group(1)
        deadline = time.time() + 20
        while time.time() < deadline:
            log = self.maillog_lines(qid)
            notes = [re.sub(r" from \S+\[\S+\]; from=<[^>]*>( to=<[^>]*>)? proto=\S+ helo=<[^>]*>",
                            "", re.sub(r"^.*? %s: " % qid, "", l)) for l in log
                     if re.search(r" %s: (warning|info|hold|discard|redirect|filter): " % qid, l)]
            if any(re.search(r" %s: discard: " % qid, l) for l in log):
                return ("discard", None, None, notes)
            if any(re.search(r" %s: hold: " % qid, l) for l in log):
                content = self.postcat(qid)
                if content is not None:
                    subprocess.run(["postsuper", "-c", self.a.pfc, "-d", qid, "hold"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    return ("hold", content, sorted(r.lower() for r in msg.rcpts), notes)
            found = self.pf_sink.find(sender)
            if found is not None:
                return ("deliver", normalise(found[0]), found[1], notes)
            time.sleep(0.05)
        return ("reply", "%s (queued as %s, then neither delivered, held nor discarded: %s)"
                % (r, qid, " | ".join(self.maillog_lines(qid))[-300:]))

    def postcat(self, qid):
        """The held message's content (header and body, as postcat prints it)."""
        p = subprocess.run(["postcat", "-c", self.a.pfc, "-h", "-b", "-q", qid],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if p.returncode != 0 or not p.stdout:
            return None
        return normalise(p.stdout)

    # -------------------------------------------------- scand's side

    def scand_outcome(self, msg, sender, text):
        conn = Conn(self.a.scan)
        try:
            conn.reply()
            conn.cmd("EHLO localhost")
            r = conn.cmd("XFORWARD " + client_attrs(msg.client))
            if not r.startswith("250"):
                return ("reply", "XFORWARD " + r)
            r = transaction(conn, sender, msg.rcpts, text)
        except Closed:
            return ("reply", "(connection closed)")
        finally:
            conn.close()
        if not r.startswith("250"):
            return ("reply", r)
        # The sinks have written the file before their 250.
        held = self.sc_hold.find(sender)
        delivered = self.sc_sink.find(sender)
        if r == "250 2.0.0 Ok: discarded":
            if held or delivered:
                return ("reply", r + " (but relayed)")
            return ("discard", None, None, [])
        if held is not None and delivered is None:
            return ("hold", normalise(held[0]), held[1], [])
        if delivered is not None and held is None:
            return ("deliver", normalise(delivered[0]), delivered[1], [])
        return ("reply", r + " (found in relay sink: %s, hold sink: %s)"
                % (delivered is not None, held is not None))

    def testmode(self, conf, msg, sender, text):
        cmd = [self.scand, "-c", conf, "-t", "--print-message", "--client-name",
               msg.client["name"], "--client-addr", msg.client["addr"], "--helo",
               msg.client["helo"], "-f", sender, "--"] + msg.rcpts
        p = subprocess.run(cmd, input=text.encode("utf-8"), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        # The printed message has the CRLF line ends scand relays.
        out = normalise(p.stdout)
        head, sep, printed = out.partition("--- message as relayed ---\n")
        return p.returncode, head.splitlines(), printed if sep else None, \
            p.stderr.decode("utf-8", "replace")

    # -------------------------------------------------- comparison

    def run_message(self, case, msg, conf):
        self.serial += 1
        label = "%s:%d %s" % (case.name, msg.no, msg.name)
        pf_sender = "pf%d-%s@example.org" % (self.serial, msg.name)
        sc_sender = "sc%d-%s@example.org" % (self.serial, msg.name)
        pf = self.postfix_outcome(msg, pf_sender)
        # After the queue scand gets the message with the front smtpd's
        # Received: header on top, and content checks see it (Postfix's
        # cleanup inspects its own Received: too): scand gets the very
        # header Postfix wrote, or one of the same form.
        text = postfix_received(pf, msg) + msg.text()
        sc = self.scand_outcome(msg, sc_sender, text)
        diffs = []
        if pf[0] != sc[0] or (pf[0] == "reply" and pf[1] != sc[1]):
            diffs.append("outcome: postfix %s" % describe(pf))
            diffs.append("         scand   %s" % describe(sc))
        elif pf[0] in ("hold", "deliver"):
            want = strip_own_received(pf[1], PF_RECEIVED)
            got = strip_own_received(strip_own_received(sc[1], SC_RECEIVED), PF_RECEIVED)
            if want != got:
                diffs.append("delivered content differs (- postfix, + scand):")
                diffs += content_diff(want, got)
            if pf[2] != sc[2]:
                diffs.append("recipients: postfix %s, scand %s" % (pf[2], sc[2]))
        # test mode: the same decision for every recipient, the same message
        rc, tm_lines, printed, tm_err = self.testmode(conf, msg, sc_sender, text)
        want_tm = expected_testmode(pf)
        for i, rcpt in enumerate(msg.rcpts):
            got = tm_lines[i] if i < len(tm_lines) else "(no line)"
            prefix = rcpt + ": "
            got_action = got[len(prefix):] if got.startswith(prefix) else "(bad line %r)" % got
            if not re.match(want_tm, got_action):
                diffs.append("scand -t <%s>: want /%s/, got %r" % (rcpt, want_tm, got_action))
        if pf[0] in ("hold", "deliver"):
            want = strip_own_received(pf[1], PF_RECEIVED)
            if printed is not None:
                printed = strip_own_received(printed, PF_RECEIVED)
            if printed is None:
                diffs.append("scand -t --print-message printed no message")
            elif printed != want:
                diffs.append("scand -t --print-message differs (- postfix, + scand -t):")
                diffs += content_diff(want, printed)
        if rc not in (0, 69, 75):
            diffs.append("scand -t exit %d: %s" % (rc, tm_err.strip().splitlines()[-1:]))
        if diffs and msg.known:
            # Documented in KNOWN_DIFFERENCES.md; shown, not counted as a failure.
            self.known += 1
            print("known %s (%s)" % (label, msg.known), flush=True)
            for d in diffs:
                print("    " + d, flush=True)
        elif diffs:
            self.fail(label, diffs)
        else:
            notes = "; ".join(pf[3]) if len(pf) > 3 and pf[3] else ""
            if msg.known:
                notes += (" " if notes else "") + "(known difference %s did not occur)" % msg.known
            self.ok("%s -> %s%s" % (label, describe(pf), (" [" + notes + "]") if notes else ""))

    def close(self):
        self.stop_scand()


def describe(outcome):
    if outcome[0] == "reply":
        return "reply %r" % outcome[1]
    if outcome[0] == "discard":
        return "discarded"
    return "%s%s" % ("held" if outcome[0] == "hold" else "delivered",
                     " to " + ",".join(outcome[2]) if outcome[2] else "")


def expected_testmode(pf):
    """A regex for test mode's action text, given Postfix's outcome."""
    if pf[0] == "reply":
        r = pf[1]
        if r[:1] not in ("4", "5"):
            return r"^\(unexpected\)$"
        return "^" + re.escape(("defer " if r[0] == "4" else "reject ") + r) + "$"
    return {"discard": r"^discard( \(.*\))?$", "hold": r"^hold( \(.*\))?$",
            "deliver": r"^accept( \(.*\))?$"}[pf[0]]


def content_diff(want, got):
    out = list(difflib.unified_diff(want.split("\n"), got.split("\n"), "postfix", "scand",
                                    lineterm="", n=1))
    return ["  " + l for l in out[2:40]]


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
    for opt in ("build", "pfc", "work", "pf-sink-dir", "sc-sink-dir", "sc-hold-dir"):
        ap.add_argument("--" + opt, required=True)
    for opt in ("front", "scan", "sc-sink", "sc-hold"):
        ap.add_argument("--" + opt, type=int, required=True)
    ap.add_argument("--only", default="")
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
    if runner.known:
        print("# %d known difference(s), see KNOWN_DIFFERENCES.md" % runner.known, flush=True)
    print("%d passed, %d failed" % (runner.passed, runner.failed), flush=True)
    return 1 if runner.failed else 0


if __name__ == "__main__":
    sys.exit(main())
