#!/usr/bin/env python3
"""Hostile SMTP clients for tests/integration/test_hostile.sh (stdlib only).

  hostile.py run --port P --case NAME [--tag T]   one labelled case against scand
  hostile.py list                                 the case names
  hostile.py rss --ppid PID --stop FILE --out F   peak RSS (KB) of PID's children

Each case talks to scand directly and checks every reply it gets against
the reply Postfix 3.7.11 smtpd gives to the same bytes (checked by hand
against a private Postfix with smtputf8_enable = yes, smtpd_timeout = 3s,
smtpd_recipient_limit = 1000; see the README of the case where scand is
deliberately stricter). It prints one line per check, "ok LABEL" or
"FAIL LABEL: got ..., want ...", and exits 1 when a check failed. Every
socket operation has a timeout, so a hung scand is a FAIL, never a hang.

The cases where scand's reply differs from Postfix's are labelled
"(scand: X, Postfix: Y)" and were reviewed one by one (SECURITY.md, "Where
scand's replies differ from Postfix's on hostile bytes"): NUL in a command
and a raw control character in an XFORWARD value stay stricter (Postfix's
smtp client never sends either); a control character (^A, DEL) in an
address should be accepted as Postfix does, because Postfix queues such
mail and relays it to scand, where a 501 bounces it (found in that review;
the fix belongs to smtp/smtp_envelope.c, and these expectations change with
it); a CR inside a quoted address stays refused.
"""

import argparse
import os
import socket
import subprocess
import sys
import threading
import time

CRLF = b"\r\n"
FAILED = False

# Replies; the texts are Postfix's unless the case says otherwise.
R_OK = "250 2.0.0 Ok"
R_MAIL = "250 2.1.0 Ok"
R_RCPT = "250 2.1.5 Ok"
R_354 = "354 End data with <CR><LF>.<CR><LF>"
R_QUEUED = "250 2.0.0 Ok: queued as "  # a prefix: the queue ID varies
R_BYE = "221 2.0.0 Bye"
R_UNKNOWN = "500 5.5.2 Error: command not recognized"
R_UTF8 = "500 5.5.2 Error: bad UTF-8 syntax"
R_SYNTAX = "500 5.5.2 Error: bad syntax"
R_TOO_LONG = "500 5.5.2 Error: command line too long"  # scand's own (Postfix truncates)
R_BAD_SENDER = "501 5.1.7 Bad sender address syntax"
R_BAD_RCPT = "501 5.1.3 Bad recipient address syntax"
R_TOO_MANY = "452 4.5.3 Error: too many recipients"
R_NEED_RCPT = "503 5.5.1 Error: need RCPT command"
R_NO_RCPT = "554 5.5.1 Error: no valid recipients"
R_LINE_TOO_LONG = "552 5.3.4 Message line too long"  # scand's data_line_limit
R_PARTS = "550 5.6.0 MIME part count exceeds safety limit"  # scand's mime_parts_limit
R_NESTING = "550 5.6.0 MIME nesting exceeds safety limit"


def check(label, ok, detail=""):
    global FAILED
    if ok:
        print("ok %s" % label, flush=True)
    else:
        FAILED = True
        print("FAIL %s: %s" % (label, detail), flush=True)


class Client:
    """One connection; replies are read as whole (multi-line) replies."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        self.greeting = self.reply()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        """The last line of the next reply, as text; "" on EOF."""
        while True:
            line = self.f.readline(65536)
            if not line:
                return ""
            if line[3:4] != b"-":
                return line.rstrip(b"\r\n").decode("utf-8", "replace")

    def expect(self, label, cmd, want):
        """Send cmd (bytes, CRLF added unless None) and check the reply."""
        if cmd is not None:
            self.send(cmd + CRLF)
        try:
            got = self.reply()
        except OSError as e:
            got = "(%s)" % e
        ok = got.startswith(want) if want == R_QUEUED else got == want
        check(label, ok, "got %r, want %r" % (got, want))
        return got

    def eof(self, label, wait=5):
        """The server closes without saying more."""
        self.settimeout(wait)
        try:
            rest = self.f.read()
        except OSError as e:
            rest = ("(%s)" % e).encode()
        check(label, rest == b"", "got %r after the last reply, want EOF" % rest[:200])

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def envelope(c, label, rcpt="r@sink.test", mail=b"MAIL FROM:<hostile@it.test>"):
    c.expect(label + ": EHLO", b"EHLO hostile.it.test", "250 SMTPUTF8")
    c.expect(label + ": MAIL", mail, R_MAIL)
    c.expect(label + ": RCPT", b"RCPT TO:<" + rcpt.encode() + b">", R_RCPT)
    c.expect(label + ": DATA", b"DATA", R_354)


def header(tag, subject):
    return ("Message-ID: <%s@hostile.it.test>\r\nFrom: <hostile@it.test>\r\n"
            "To: <r@sink.test>\r\nSubject: %s\r\n" % (tag, subject)).encode()


def timed_end(c, label, content, want, limit):
    """Send content (ending in CRLF . CRLF), check the reply and its delay."""
    t0 = time.monotonic()
    c.send(content)
    c.expect(label, None, want)
    took = time.monotonic() - t0
    check("%s: answered in %.2fs (< %ds)" % (label, took, limit), took < limit)


# ---------------------------------------------------------------- cases

def case_slowloris(port, tag):
    # Postfix's smtpd_timeout bounds each read, not a command
    # (smtpd_per_record_deadline = no, its default outside stress mode): a
    # client that sends a byte every 2 s with smtpd_timeout = 3s keeps a
    # Postfix session alive. scand does the same; what it adds is that the
    # trickled line is bounded by command_line_limit and the session takes
    # one of worker_session_limit slots, so others are served meanwhile
    # (the shell side checks that). When the trickle stops: 421 4.4.2.
    c = Client(port, timeout=15)
    t0 = time.monotonic()
    for i, b in enumerate(b"NOOP\r\n"):
        if i > 0:
            time.sleep(2)
        c.send(bytes([b]))
    t1 = time.monotonic()
    c.expect("slowloris: a trickled NOOP (1 byte / 2 s) is answered, as by Postfix", None, R_OK)
    got = c.reply()
    took = time.monotonic() - t1
    check("slowloris: idle past smtpd_timeout gets 421 4.4.2",
          got.startswith("421 4.4.2 ") and got.endswith("Error: timeout exceeded"), "got %r" % got)
    check("slowloris: the 421 comes 3..6 s after the last byte (took %.1fs)" % took,
          2.5 <= took <= 6)
    c.eof("slowloris: closed after the 421")
    c.close()
    print("# slowloris session lasted %.1fs" % (time.monotonic() - t0))


def case_long_line(port, tag):
    # Postfix truncates at line_length_limit and runs the rest (a 1 MB NOOP
    # gets 250, a 1 MB MAIL 501 5.1.7); scand discards the whole line,
    # holding at most command_line_limit octets, and never runs a cut
    # command (documented in smtp/smtp_server.c).
    c = Client(port)
    c.expect("long line: EHLO", b"EHLO hostile.it.test", "250 SMTPUTF8")
    c.expect("long line: 1 MB NOOP", b"NOOP " + b"a" * (1 << 20), R_TOO_LONG)
    c.expect("long line: 1 MB MAIL", b"MAIL FROM:<" + b"a" * (1 << 20) + b"@x>", R_TOO_LONG)
    c.expect("long line: 1 MB without LF, then LF", b"b" * (1 << 20), R_TOO_LONG)
    c.expect("long line: the session goes on", b"NOOP", R_OK)
    c.close()


def case_many_rcpts(port, tag, n=100000):
    # smtpd_recipient_limit = 1000: Postfix answers 452 4.5.3 past it.
    c = Client(port, timeout=60)
    c.expect("100k RCPT: EHLO", b"EHLO hostile.it.test", "250 SMTPUTF8")
    c.expect("100k RCPT: MAIL", b"MAIL FROM:<hostile@it.test>", R_MAIL)
    batch = b"".join(b"RCPT TO:<r%d@sink.test>\r\n" % i for i in range(n))
    sender = threading.Thread(target=c.send, args=(batch,), daemon=True)
    t0 = time.monotonic()
    sender.start()
    counts = {}
    for _ in range(n):
        try:
            got = c.reply()
        except OSError as e:
            got = "(%s)" % e
        counts[got] = counts.get(got, 0) + 1
        if got == "" or got.startswith("("):
            break
    took = time.monotonic() - t0
    sender.join(5)
    want = {R_RCPT: 1000, R_TOO_MANY: n - 1000}
    check("100k RCPT pipelined: 1000 x 250, then 452 4.5.3 (%.1fs)" % took, counts == want,
          "got %r" % counts)
    c.expect("100k RCPT: RSET", b"RSET", R_OK)
    c.close()


def case_nul(port, tag):
    c = Client(port)
    c.expect("NUL: EHLO", b"EHLO hostile.it.test", "250 SMTPUTF8")
    c.expect("NUL in a verb", b"NO\0OP", R_UNKNOWN)
    # Postfix: 501 5.1.7 (it reads the address up to the NUL); scand
    # refuses the whole line. Both permanent; documented in smtp_server.c.
    c.expect("NUL in MAIL (scand: 500, Postfix: 501 5.1.7)", b"MAIL FROM:<a\0b@x>", R_UNKNOWN)
    c.expect("NUL: RSET", b"RSET", R_OK)
    c.close()
    c = Client(port)
    envelope(c, "NUL in DATA")
    c.send(header(tag + "-nul", "n\0ul") + b"\r\nbo\0dy\r\n.\r\n")
    c.expect("NUL in DATA: accepted, as by Postfix", None, R_QUEUED)
    c.close()


def case_utf8(port, tag):
    c = Client(port)
    c.expect("UTF-8: EHLO", b"EHLO hostile.it.test", "250 SMTPUTF8")
    c.expect("bad UTF-8 in MAIL", b"MAIL FROM:<\xff@x>", R_UTF8)
    c.expect("bad UTF-8 in MAIL with SMTPUTF8", b"MAIL FROM:<\xff@x> SMTPUTF8", R_UTF8)
    c.expect("overlong UTF-8 in MAIL", b"MAIL FROM:<\xc0\xafx@x>", R_UTF8)
    c.expect("UTF-8: valid UTF-8 sender with SMTPUTF8", b"MAIL FROM:<\xc3\xa9@x> SMTPUTF8", R_MAIL)
    c.expect("bad UTF-8 in RCPT", b"RCPT TO:<\xed\xa0\x80@sink.test>", R_UTF8)
    c.expect("UTF-8: RSET", b"RSET", R_OK)
    c.close()
    c = Client(port)
    envelope(c, "bad UTF-8 in DATA")
    c.send(header(tag + "-utf8", "bad UTF-8") + b"X-Bad: \xff\xfe\r\n\r\n\xc3\x28 \xff\r\n.\r\n")
    c.expect("bad UTF-8 in DATA: accepted, as by Postfix", None, R_QUEUED)
    c.close()


def case_inject(port, tag):
    c = Client(port)
    c.expect("inject: EHLO", b"EHLO hostile.it.test", "250 SMTPUTF8")
    c.expect("XFORWARD raw CR in NAME", b"XFORWARD NAME=a\rb.example",
             "501 5.5.4 Error: attribute=value expected")
    c.expect("XFORWARD CRLF in NAME", b"XFORWARD NAME=evil+0D+0A.example",
             "501 5.5.4 Bad NAME syntax: evil??.example")
    c.expect("XFORWARD CRLF in ADDR", b"XFORWARD ADDR=192.0.2.9+0D+0A",
             "501 5.5.4 Bad ADDR syntax: 192.0.2.9??")
    # Postfix neuters a raw control character in HELO (250); scand refuses
    # it as bad xtext. Stricter; Postfix's smtp client always xtext-encodes.
    c.expect("XFORWARD raw ESC in HELO (scand: 501, Postfix: 250)", b"XFORWARD HELO=a\x1b[31mb",
             "501 5.5.4 Bad HELO syntax: a?[31mb")
    # Postfix accepts ^A, ESC and DEL in an address and queues the mail; so
    # does scand (refusing them would bounce mail Postfix accepted). The log
    # neuters them (util/msg.c).
    c.expect("control char in MAIL: accepted, as Postfix", b"MAIL FROM:<a\x01b@x>", R_MAIL)
    c.expect("inject: RSET after ^A", b"RSET", R_OK)
    c.expect("ESC in MAIL: accepted, as Postfix", b"MAIL FROM:<a\x1bb@x>", R_MAIL)
    c.expect("inject: RSET after ESC", b"RSET", R_OK)
    # An unquoted "[" in the local part: Postfix (the relay) refuses it.
    c.expect("ESC[ in MAIL: the relay's Postfix refuses '['", b"MAIL FROM:<a\x1b[31m@x>",
             R_BAD_SENDER)
    # (RSET clears XFORWARD: the attributes the message carries come next.)
    c.expect("XFORWARD CRLF in HELO: accepted, neutered", b"XFORWARD NAME=client.example "
             b"ADDR=192.0.2.9 HELO=evil+0D+0AX-Injected:+20helo PROTO=ESMTP+0D+0AX-Injected:+20proto"
             b" IDENT=a+01b+7Fc", R_OK)
    c.expect("CR in MAIL", b"MAIL FROM:<a\rX-Injected: mail@x>", R_BAD_SENDER)
    c.expect("inject: MAIL", b"MAIL FROM:<hostile@it.test>", R_MAIL)
    c.expect("ESC in RCPT: accepted, as Postfix", b"RCPT TO:<r\x1bx@sink.test>", R_RCPT)
    c.expect("ESC[ in RCPT: the relay's Postfix refuses '['", b"RCPT TO:<r\x1b[31m@sink.test>",
             R_BAD_RCPT)
    c.expect("CR in RCPT", b"RCPT TO:<r\rX-Injected: rcpt@sink.test>", R_BAD_RCPT)
    # A CR stays refused even quoted: it could split the command relayed to
    # 10026. Postfix accepts it; no Postfix client sends one.
    c.expect("quoted CR in RCPT (scand: 501, Postfix: 250)",
             b"RCPT TO:<\"r\\\rX-Injected: q\"@sink.test>", R_BAD_RCPT)
    c.expect("DEL in RCPT: accepted, as Postfix", b"RCPT TO:<r\x7f@sink.test>", R_RCPT)
    c.expect("inject: RCPT", b"RCPT TO:<r@sink.test>", R_RCPT)
    c.expect("inject: DATA", b"DATA", R_354)
    c.send(header(tag + "-xf", "xforward injection") + b"\r\nbody\r\n.\r\n")
    c.expect("inject: the message with the neutered XFORWARD is accepted", None, R_QUEUED)
    c.close()


def case_header_10m(port, tag):
    # data_line_limit (scand's, 1 MB default) ends a 10 MB line: 552, not
    # relayed. Postfix itself would accept it (250) and cut the header at
    # header_size_limit: scand does not relay what it could not read.
    c = Client(port, timeout=30)
    envelope(c, "10 MB header line")
    timed_end(c, "10 MB header line: 552 (data_line_limit)",
              header(tag + "-10m", "big") + b"X-Big: " + b"a" * 10000000 + b"\r\n\r\nb\r\n.\r\n",
              R_LINE_TOO_LONG, 10)
    c.expect("10 MB header line: the session goes on", b"NOOP", R_OK)
    c.close()
    # Under data_line_limit but far over header_size_limit (100 KB), with
    # header_checks set: accepted, as by Postfix.
    c = Client(port, timeout=30)
    envelope(c, "1000000-octet header line")
    timed_end(c, "1000000-octet header line: accepted (header_size_limit)",
              header(tag + "-1m", "big") + b"X-Big: " + b"a" * 1000000 + b"\r\n\r\nb\r\n.\r\n",
              R_QUEUED, 10)
    c.close()


def mime_parts(tag, n):
    b = [header(tag, "parts"), b"MIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=BB\r\n\r\n"]
    for i in range(n):
        b.append(b"--BB\r\nContent-Type: application/octet-stream\r\n"
                 b"Content-Disposition: attachment; filename=\"p%d.txt\"\r\n\r\np%d\r\n" % (i, i))
    b.append(b"--BB--\r\n.\r\n")
    return b"".join(b)


def mime_nest(tag, n):
    b = [header(tag, "nesting"), b"MIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n"]
    for i in range(1, n):
        b.append(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i))
    b.append(b"--b%d\r\nContent-Type: text/plain\r\n"
             b"Content-Disposition: attachment; filename=\"x.exe\"\r\n\r\nleaf\r\n" % (n - 1))
    for i in range(n - 1, -1, -1):
        b.append(b"--b%d--\r\n" % i)
    b.append(b".\r\n")
    return b"".join(b)


def case_mime(port, tag):
    # mime_parts_limit is scand's (Postfix has none and accepts); nesting:
    # Postfix with a header table set rejects with the same text.
    c = Client(port, timeout=30)
    envelope(c, "10,000 MIME parts")
    timed_end(c, "10,000 MIME parts: mime_parts_limit", mime_parts(tag + "-parts", 10000),
              R_PARTS, 5)
    c.close()
    c = Client(port, timeout=30)
    envelope(c, "MIME nesting 1,000 deep")
    timed_end(c, "MIME nesting 1,000 deep: mime_nesting_limit", mime_nest(tag + "-nest", 1000),
              R_NESTING, 5)
    c.close()


def case_small(port, tag):
    c = Client(port)
    envelope(c, "zero-length message")
    c.send(b".\r\n")
    c.expect("zero-length message: accepted, as by Postfix", None, R_QUEUED)
    c.expect("DATA without MAIL", b"DATA", R_NEED_RCPT)
    c.expect("DATA without RCPT: MAIL", b"MAIL FROM:<hostile@it.test>", R_MAIL)
    c.expect("DATA without RCPT", b"DATA", R_NO_RCPT)
    c.expect("DATA without RCPT: RSET", b"RSET", R_OK)
    c.expect("empty command line", b"", R_SYNTAX)
    c.send(b"QUIT\r\nNOOP\r\nMAIL FROM:<a@x>\r\n")
    c.expect("commands after QUIT: QUIT", None, R_BYE)
    c.eof("commands after QUIT: closed, nothing more answered")
    c.close()
    c = Client(port)
    c.send(b"EHLO hostile.it.test\r\nMAIL FROM:<hostile@it.test>\r\nRCPT TO:<r@sink.test>\r\n"
           b"DATA\r\n" + header(tag + "-garbage", "garbage") + b"\r\nb\r\n.\r\n"
           b"GARBAGE \x01\xff\r\n\r\n\x00\x00\r\nQUIT\r\nNOOP\r\n")
    c.expect("pipelined garbage after DATA: EHLO", None, "250 SMTPUTF8")
    c.expect("pipelined garbage after DATA: MAIL", None, R_MAIL)
    c.expect("pipelined garbage after DATA: RCPT", None, R_RCPT)
    c.expect("pipelined garbage after DATA: DATA", None, R_354)
    c.expect("pipelined garbage after DATA: message", None, R_QUEUED)
    c.expect("pipelined garbage after DATA: bad UTF-8 line", None, R_UTF8)
    c.expect("pipelined garbage after DATA: empty line", None, R_SYNTAX)
    c.expect("pipelined garbage after DATA: NULs", None, R_UNKNOWN)
    c.expect("pipelined garbage after DATA: QUIT", None, R_BYE)
    c.eof("pipelined garbage after DATA: closed after QUIT")
    c.close()


CASES = {
    "slowloris": case_slowloris,
    "long_line": case_long_line,
    "many_rcpts": case_many_rcpts,
    "nul": case_nul,
    "utf8": case_utf8,
    "inject": case_inject,
    "header_10m": case_header_10m,
    "mime": case_mime,
    "small": case_small,
}


def cmd_run(a):
    try:
        CASES[a.case](a.port, a.tag)
    except OSError as e:
        check("%s: connection" % a.case, False, str(e))
    sys.exit(1 if FAILED else 0)


def children_rss(ppid):
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(ppid)], capture_output=True,
                         text=True).stdout
    return [int(x) for x in out.split()]


def cmd_rss(a):
    """Sample until the stop file appears (bounded by --max seconds)."""
    peak = 0
    end = time.monotonic() + a.max
    while not os.path.exists(a.stop) and time.monotonic() < end:
        rss = children_rss(a.ppid)
        if rss:
            peak = max(peak, max(rss))
        time.sleep(0.1)
    with open(a.out, "w") as f:
        f.write("%d\n" % peak)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--case", choices=sorted(CASES), required=True)
    r.add_argument("--tag", default="hostile")
    sub.add_parser("list")
    s = sub.add_parser("rss")
    s.add_argument("--ppid", type=int, required=True)
    s.add_argument("--stop", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--max", type=int, default=300)
    a = p.parse_args()
    if a.cmd == "run":
        cmd_run(a)
    elif a.cmd == "list":
        print(" ".join(CASES))
    else:
        cmd_rss(a)


if __name__ == "__main__":
    main()
