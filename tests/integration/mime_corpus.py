#!/usr/bin/env python3
"""MIME corpus for scand's content checks and MIME rules (issue 4), stdlib only.

  mime_corpus.py gen --dir D
      write the corpus: D/<id>.eml (the bytes sent), D/<id>.expect (the bytes
      scand should relay: the same, less what an IGNORE rule removes) and
      D/manifest.json (per message: recipient, sender, SMTPUTF8, expected
      outcome and reply text).
  mime_corpus.py send --dir D --port P [--xclient "NAME=.. ADDR=.."]
      submit each D/<id>.eml byte for byte (dot-stuffed on the wire only) to
      the front smtpd, BODY=8BITMIME when it has 8-bit bytes, SMTPUTF8 when
      the manifest says so; the replies go to D/sent.json.
  mime_corpus.py verify --dir D --sink S --maillog L --scand-log G
                        --queue Q --scan-port N [--released]
      one "ok ..." or "FAIL ..." line per check (lib.sh's style), with "# "
      diagnostics under a FAIL; exit status 1 when a check failed.

Every message has its own recipient (<id>@sink.test, or a UTF-8 one), so
Postfix's log, the sink's envelopes and the queue name it without relying on
headers the message may lack. Expected outcomes:

  deliver   one copy at the sink; after the headers Postfix and scand add
            (Received everywhere; Date, Message-Id, From, To where the message
            had none) it equals <id>.expect byte for byte
  reject    Postfix's scan delivery bounced with "said: TEXT"; nothing at the
            sink; scand logged "reject: END-OF-MESSAGE ... TEXT"
  discard   the scan delivery status=sent "(250 2.0.0 Ok: discarded)";
            nothing at the sink
  hold      on Postfix's hold queue, nothing at the sink; with --released,
            delivered once and byte-identical
"""

import argparse
import base64
import glob
import hashlib
import json
import os
import re
import socket
import sys

CRLF = b"\r\n"

# Reply texts the rule set in test_mime_corpus.sh gives (REJECT text is
# "550 5.7.1 <text>", Postfix's cleanup reply); the limits use Postfix's
# own text for nesting.
R_EXE = "550 5.7.1 Executable attachments are not accepted"
R_TYPE = "550 5.7.1 Executable content type is not accepted"
R_FRAUD = "550 5.7.1 Fraud phrase found"
R_NEST = "550 5.6.0 MIME nesting exceeds safety limit"
R_PARTS = "550 5.6.0 MIME part count exceeds safety limit"

DISCARD_LINE = b"CORPUS-DISCARD-TRIGGER: drop this message quietly"
# Headers a Postfix in front of or behind scand may add (Received always;
# the others only where the message had no such header, in local context).
ADDED_ALWAYS = {b"received"}
ADDED_IF_MISSING = {b"date", b"message-id", b"from", b"to"}


# ---------------------------------------------------------------- building

def lines(*ls):
    """CRLF-terminated bytes from str (UTF-8) or bytes lines."""
    out = b""
    for l in ls:
        out += (l.encode("utf-8") if isinstance(l, str) else l) + CRLF
    return out


def blob(seed, n):
    """n deterministic pseudo-random bytes."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(("%s/%d" % (seed, i)).encode()).digest()
        i += 1
    return out[:n]


def b64(data):
    """base64 in 76-column lines, CRLF-terminated."""
    s = base64.b64encode(data)
    return b"".join(s[i:i + 76] + CRLF for i in range(0, len(s), 76))


def std_headers(tid, subject=None, ctype=None, sender="Corpus Sender <sender@it.test>",
                rcpt=None, extra=()):
    hs = [
        "From: %s" % sender,
        "To: <%s>" % (rcpt or "%s@sink.test" % tid),
        "Subject: corpus %s%s" % (tid, (" " + subject) if subject else ""),
        "Date: Tue, 02 Jan 2024 10:00:00 +0000",
        "Message-ID: <%s.corpus@it.test>" % tid,
        "X-Test-ID: %s" % tid,
    ]
    hs += list(extra)
    if ctype is not None:
        hs += ["MIME-Version: 1.0"]
        hs += ctype if isinstance(ctype, list) else [ctype]
    return lines(*hs)


def part(headers, body):
    return lines(*headers) + CRLF + body


def multipart(boundary, parts, close=True, preamble=b"", epilogue=b""):
    out = preamble
    for p in parts:
        out += b"--" + boundary.encode() + CRLF + p
        if not p.endswith(CRLF):
            out += CRLF
    if close:
        out += b"--" + boundary.encode() + b"--" + CRLF + epilogue
    return out


TEXT_PART = part(["Content-Type: text/plain; charset=us-ascii"],
                 lines("Please find the file attached.", "", "Regards"))


def with_attachment(tid, subject, att_headers, att_body, extra=()):
    bnd = "=_corpus_%s" % tid
    body = multipart(bnd, [TEXT_PART, part(att_headers, att_body)])
    return std_headers(tid, subject, 'Content-Type: multipart/mixed; boundary="%s"' % bnd,
                       extra=extra) + CRLF + body


def deep_multipart(tid, levels):
    """levels nested multipart/mixed, a text part at the bottom."""
    inner = part(["Content-Type: text/plain"], lines("bottom of %d levels" % levels))
    for i in range(levels - 1, 0, -1):
        b = "lvl%03d" % i
        inner = part(['Content-Type: multipart/mixed; boundary="%s"' % b],
                     multipart(b, [inner]))
    return (std_headers(tid, "%d levels" % levels,
                        'Content-Type: multipart/mixed; boundary="lvl000"')
            + CRLF + multipart("lvl000", [inner]))


def deep_rfc822(tid, levels):
    """levels nested message/rfc822 attachments."""
    inner = lines("Subject: innermost", "Content-Type: text/plain", "", "bottom")
    for i in range(levels - 1, 0, -1):
        inner = lines("Subject: level %d" % i, "MIME-Version: 1.0",
                      "Content-Type: message/rfc822", "") + inner
    return (std_headers(tid, "%d message levels" % levels, "Content-Type: message/rfc822")
            + CRLF + inner)


def cases():
    """[(id, expect, reply text or None, message bytes, options)]"""
    out = []

    def add(tid, expect, text, msg, **opt):
        out.append((tid, expect, text, msg, opt))

    # -- well-formed mail, delivered untouched
    add("c01-plain", "deliver", None,
        std_headers("c01-plain", "plain text") + CRLF +
        lines("Hello,", "", ".a line starting with a dot", "..and two", "",
              "trailing space   ", "tab\there", "x" * 990, "Bye."))

    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    from email import policy
    alt = MIMEMultipart("alternative", boundary="=_alt_c02")
    alt.attach(MIMEText("Plain version\nwith two lines\n", "plain", "us-ascii"))
    alt.attach(MIMEText("<html><body><p>HTML version</p></body></html>\n", "html", "us-ascii"))
    for k, v in [("From", "Corpus Sender <sender@it.test>"), ("To", "<c02-alternative@sink.test>"),
                 ("Subject", "corpus c02-alternative"), ("Date", "Tue, 02 Jan 2024 10:00:00 +0000"),
                 ("Message-ID", "<c02-alternative.corpus@it.test>"), ("X-Test-ID", "c02-alternative")]:
        alt[k] = v
    add("c02-alternative", "deliver", None, alt.as_bytes(policy=policy.SMTP))

    pdf = b"%PDF-1.4\n" + blob("pdf", 3000) + b"\n%%EOF\n"
    add("c03-pdf", "deliver", None, with_attachment(
        "c03-pdf", "pdf attachment",
        ['Content-Type: application/pdf; name="Quarterly report.pdf"',
         "Content-Transfer-Encoding: base64",
         'Content-Disposition: attachment; filename="Quarterly report.pdf"'], b64(pdf)))

    add("c04-exe-txt", "deliver", None, with_attachment(
        "c04-exe-txt", "name ends in .exe.txt",
        ['Content-Type: text/plain; name="setup.exe.txt"',
         'Content-Disposition: attachment; filename="setup.exe.txt"'],
        lines("not an executable")))

    # -- attachment names (decoded) and types
    add("c05-exe-plain", "reject", R_EXE, with_attachment(
        "c05-exe-plain", "plain .EXE name",
        ['Content-Type: application/octet-stream; name="SETUP.EXE"',
         "Content-Transfer-Encoding: base64",
         'Content-Disposition: attachment; filename="SETUP.EXE"'], b64(b"MZ" + blob("exe", 600))))

    # "Счет № 1.exe" in UTF-8, RFC 2231 encoded, the ".exe" split over
    # two continuations, the last one unencoded.
    name = "Счет № 1.e".encode("utf-8")
    pct = "".join("%%%02X" % c if c > 0x7e or c in b" %;\"'*" else chr(c) for c in name)
    cut = 18  # between two %XX escapes, in the middle of "Счет"
    assert pct[cut] == "%"
    add("c06-exe-rfc2231", "reject", R_EXE, with_attachment(
        "c06-exe-rfc2231", "RFC 2231 continuations",
        ["Content-Type: application/octet-stream",
         "Content-Transfer-Encoding: base64",
         "Content-Disposition: attachment;",
         "\tfilename*0*=UTF-8''%s;" % pct[:cut],
         "\tfilename*1*=%s;" % pct[cut:],
         "\tfilename*2=xe"], b64(b"MZ" + blob("exe2", 300))))

    koi = base64.b64encode("отчёт.scr".encode("koi8-r")).decode()
    add("c07-scr-rfc2047-koi8r", "reject", R_EXE, with_attachment(
        "c07-scr-rfc2047-koi8r", "=?KOI8-R?B?%s?=" % base64.b64encode("отчёт".encode("koi8-r")).decode(),
        ['Content-Type: application/octet-stream; name="=?KOI8-R?B?%s?="' % koi,
         "Content-Transfer-Encoding: base64"], b64(blob("scr", 500))))

    add("c08-scr-rfc2047-latin1", "reject", R_EXE, with_attachment(
        "c08-scr-rfc2047-latin1", "latin-1 encoded word",
        ["Content-Type: application/octet-stream",
         "Content-Transfer-Encoding: base64",
         'Content-Disposition: attachment; filename="=?ISO-8859-1?Q?R=E9sum=E9_2024.scr?="'],
        b64(blob("scr2", 500))))

    add("c09-js-rfc2231-plain", "reject", R_EXE, with_attachment(
        "c09-js-rfc2231-plain", "RFC 2231 continuations without charset",
        ["Content-Type: application/javascript;",
         '\tname*0="quarterly-"; name*1="invoice."; name*2="js"'],
        lines("var x = 1;")))

    add("c10-type-msdownload", "reject", R_TYPE, with_attachment(
        "c10-type-msdownload", "x-msdownload with a harmless name",
        ['Content-Type: application/x-msdownload; name="update.bin"',
         "Content-Transfer-Encoding: base64"], b64(b"MZ" + blob("dl", 400))))

    # -- decoded text
    fraud = "Dear friend,\nplease wire the money now to account 12345.\nThanks\n"
    add("c11-phrase-base64", "reject", R_FRAUD, std_headers(
        "c11-phrase-base64", "phrase in base64",
        ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64"])
        + CRLF + b64(fraud.replace("\n", "\r\n").encode()))

    add("c12-phrase-qp-soft", "reject", R_FRAUD, std_headers(
        "c12-phrase-qp-soft", "phrase in quoted-printable",
        ["Content-Type: text/plain; charset=us-ascii",
         "Content-Transfer-Encoding: quoted-printable"])
        + CRLF + lines("Dear friend, please wire the mo=", "ney now=2E Thanks"))

    # ISO-8859-1, 8-bit: matches only once converted to UTF-8 ("überweisen").
    add("c13-phrase-latin1", "reject", R_FRAUD, std_headers(
        "c13-phrase-latin1", "phrase in latin-1",
        ["Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: 8bit"])
        + CRLF + lines("Sehr geehrte Damen und Herren,".encode("latin-1"),
                       "bitte das Geld sofort überweisen.".encode("latin-1"),
                       "Grüße".encode("latin-1")))

    add("c14-phrase-html-qp", "reject", R_FRAUD, std_headers(
        "c14-phrase-html-qp", "phrase in QP HTML",
        'Content-Type: multipart/alternative; boundary="=_c14"') + CRLF + multipart("=_c14", [
            part(["Content-Type: text/plain; charset=us-ascii"], lines("see the HTML part")),
            part(["Content-Type: text/html; charset=utf-8",
                  "Content-Transfer-Encoding: quoted-printable"],
                 lines("<html><body><p style=3D\"x\">Please wire the money now</p></body></html>"))]))

    add("c15-phrase-in-binary", "deliver", None, with_attachment(
        "c15-phrase-in-binary", "phrase in an octet-stream (not text)",
        ['Content-Type: application/octet-stream; name="notes.dat"',
         "Content-Transfer-Encoding: base64"], b64(fraud.encode())))

    # -- body_checks: raw lines only
    add("c16-discard-base64", "deliver", None, std_headers(
        "c16-discard-base64", "body_checks line hidden in base64",
        ["Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: base64"])
        + CRLF + b64(DISCARD_LINE + CRLF))

    add("c17-discard", "discard", None, std_headers("c17-discard", "body_checks DISCARD") + CRLF +
        lines("first line", DISCARD_LINE, "last line"))

    # -- header_checks: HOLD, IGNORE (primary and nested headers)
    add("c18-hold", "hold", None, std_headers(
        "c18-hold", "header_checks HOLD", extra=["X-Mailer: BadMailer 2.0"]) + CRLF +
        lines("held for a human"))

    ign = lines("X-Internal-Trace: relay=10.1.2.3;", "\tpath=internal-only")
    msg = std_headers("c19-ignore", "header_checks IGNORE") + CRLF + lines("body stays")
    i = msg.index(b"X-Test-ID:")
    add("c19-ignore", "deliver", None, msg[:i] + ign + msg[i:], remove=[ign])

    inner_ign = lines("X-Internal-Trace: nested=1")
    inner = lines("From: Inner <inner@it.test>", "Subject: the forwarded one") + inner_ign + \
        lines("Content-Type: text/plain", "", "forwarded body")
    add("c20-nested-ignore", "deliver", None, std_headers(
        "c20-nested-ignore", "IGNORE in a nested message's headers",
        'Content-Type: multipart/mixed; boundary="=_c20"') + CRLF + multipart("=_c20", [
            TEXT_PART, part(["Content-Type: message/rfc822"], inner)]), remove=[inner_ign])

    # -- nested messages
    nested = (lines("From: Inner <inner@it.test>", "Subject: inner with exe", "MIME-Version: 1.0",
                    'Content-Type: multipart/mixed; boundary="=_inner"', "")
              + multipart("=_inner", [TEXT_PART, part(
                  ['Content-Type: application/octet-stream; name="payload.exe"',
                   "Content-Transfer-Encoding: base64"], b64(b"MZ" + blob("inner", 300)))]))
    add("c21-nested-exe", "reject", R_EXE, std_headers(
        "c21-nested-exe", "exe inside an attached message",
        'Content-Type: multipart/mixed; boundary="=_c21"') + CRLF + multipart("=_c21", [
            TEXT_PART, part(["Content-Type: message/rfc822"], nested)]))

    add("c22-deep-50", "deliver", None, deep_multipart("c22-deep-50", 50))
    add("c23-deep-120", "reject", R_NEST, deep_multipart("c23-deep-120", 120))
    add("c24-deep-rfc822-120", "reject", R_NEST, deep_rfc822("c24-deep-rfc822-120", 120))
    add("c25-parts-1200", "reject", R_PARTS, std_headers(
        "c25-parts-1200", "1200 parts", 'Content-Type: multipart/mixed; boundary="p"') + CRLF +
        multipart("p", [part(["Content-Type: text/plain"], lines("part %d" % n))
                        for n in range(1200)]))

    # -- broken MIME: relayed unchanged (strict_mime_checks = no) but still inspected
    add("c26-no-closing-boundary", "deliver", None, std_headers(
        "c26-no-closing-boundary", "missing closing boundary",
        'Content-Type: multipart/mixed; boundary="=_c26"') + CRLF + multipart("=_c26", [
            TEXT_PART, part(["Content-Type: text/plain"], lines("second part, never closed"))],
            close=False), malformed=True)

    add("c27-boundary-unused", "deliver", None, std_headers(
        "c27-boundary-unused", "boundary never used",
        'Content-Type: multipart/mixed; boundary="=_never_here"') + CRLF +
        lines("This is not really multipart.", "--=_something_else", "Just text."), malformed=True)

    add("c28-unclosed-exe", "reject", R_EXE, std_headers(
        "c28-unclosed-exe", "exe in an unclosed last part",
        'Content-Type: multipart/mixed; boundary="=_c28"') + CRLF + multipart("=_c28", [
            TEXT_PART, part(['Content-Type: application/octet-stream; name="tool.vbs"',
                             "Content-Transfer-Encoding: base64"], b64(blob("vbs", 200))[:-40])],
            close=False))

    add("c29-ambiguous-boundary", "deliver", None, std_headers(
        "c29-ambiguous-boundary", "two boundary parameters",
        'Content-Type: multipart/mixed; boundary="=_one"; boundary="=_two"') + CRLF +
        multipart("=_one", [TEXT_PART]), ambiguous=True)

    # -- missing headers: no From, To, Date, Message-ID
    add("c30-missing-headers", "deliver", None,
        lines("Subject: corpus c30-missing-headers", "X-Test-ID: c30-missing-headers") + CRLF +
        lines("A message with hardly any headers."))

    # -- 8-bit and SMTPUTF8
    add("c31-8bit", "deliver", None, std_headers(
        "c31-8bit", "8-bit body",
        ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]) + CRLF +
        lines("Grüße aus Köln, café, æøå, 日本語, Счёт.", b"\xc3\xa9 bytes: \xe2\x82\xac"))

    u_rcpt = "c32-jürgen@sink.test"
    add("c32-smtputf8", "deliver", None, std_headers(
        "c32-smtputf8", "Grüße an Jürgen — ✓",
        ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"],
        sender="José Müller <josé@it.test>", rcpt=u_rcpt) + CRLF +
        lines("Hallo Jürgen,", "schöne Grüße, José"), smtputf8=True, rcpt=u_rcpt,
        sender="josé@it.test")

    u_rcpt2 = "c33-zoë@sink.test"
    add("c33-smtputf8-exe", "reject", R_EXE, with_attachment(
        "c33-smtputf8-exe", "raw UTF-8 file name",
        ['Content-Type: application/octet-stream; name="счёт.exe"',
         "Content-Transfer-Encoding: base64"], b64(b"MZ" + blob("u8", 200))),
        smtputf8=True, rcpt=u_rcpt2, sender="josé@it.test")

    # -- a real DSN, null sender
    dsn = std_headers(
        "c34-dsn", "Undelivered Mail Returned to Sender",
        'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="=_dsn"',
        sender="MAILER-DAEMON@it.test (Mail Delivery System)") + CRLF + multipart("=_dsn", [
            part(["Content-Description: Notification", "Content-Type: text/plain; charset=us-ascii"],
                 lines("I'm sorry to have to inform you that your message could not",
                       "be delivered to one or more recipients.")),
            part(["Content-Description: Delivery report", "Content-Type: message/delivery-status"],
                 lines("Reporting-MTA: dns; mx.it.test", "Arrival-Date: Tue,  2 Jan 2024 10:00:00 +0000",
                       "", "Final-Recipient: rfc822; nobody@example.net", "Action: failed",
                       "Status: 5.1.1", "Diagnostic-Code: smtp; 550 5.1.1 User unknown")),
            part(["Content-Description: Undelivered Message Headers",
                  "Content-Type: text/rfc822-headers"],
                 lines("From: sender@it.test", "To: nobody@example.net", "Subject: hello",
                       "Message-ID: <orig.c34@it.test>"))])
    add("c34-dsn", "deliver", None, dsn, sender="")
    # -- the pcre "i" flag toggles case sensitivity off: "/\.(bat|cmd)$/i"
    # matches "run.bat" but not "RUN.BAT" (as postmap -q says)
    add("c35-bat-i-flag", "reject", R_EXE, with_attachment(
        "c35-bat-i-flag", "lower-case .bat",
        ['Content-Type: application/octet-stream; name="run.bat"'], lines("@echo off")))
    add("c36-bat-i-flag-upper", "deliver", None, with_attachment(
        "c36-bat-i-flag-upper", "upper-case .BAT, rule with the i flag",
        ['Content-Type: application/octet-stream; name="RUN.BAT"'], lines("@echo off")))

    # -- nested_header_checks and body_checks see attached messages too
    held = lines("From: Inner <inner@it.test>", "Subject: forwarded", "X-Mailer: BadMailer 3.1",
                 "Content-Type: text/plain", "", "forwarded body")
    add("c37-nested-hold", "hold", None, std_headers(
        "c37-nested-hold", "HOLD from a nested message's header",
        'Content-Type: multipart/mixed; boundary="=_c37"') + CRLF + multipart("=_c37", [
            TEXT_PART, part(["Content-Type: message/rfc822"], held)]))
    dropped = lines("From: Inner <inner@it.test>", "Subject: forwarded", "",
                    "inner text", DISCARD_LINE)
    add("c38-nested-discard", "discard", None, std_headers(
        "c38-nested-discard", "DISCARD from a nested message's body",
        'Content-Type: multipart/mixed; boundary="=_c38"') + CRLF + multipart("=_c38", [
            TEXT_PART, part(["Content-Type: message/rfc822"], dropped)]))

    # -- a name split over two encoded words: mail readers join them
    # ("Проверка.scr"); GMime 3.2.13 returns only the first word of a quoted
    # parameter, so the rule never sees ".scr".
    w1 = base64.b64encode("Прове".encode("utf-8")).decode()
    w2 = base64.b64encode("рка.scr".encode("utf-8")).decode()
    add("c39-scr-rfc2047-split", "reject", R_EXE, with_attachment(
        "c39-scr-rfc2047-split", "name in two encoded words",
        ['Content-Type: application/octet-stream;',
         '\tname="=?UTF-8?B?%s?= =?UTF-8?B?%s?="' % (w1, w2),
         "Content-Transfer-Encoding: base64"], b64(blob("split", 300))))
    return out


def cmd_gen(a):
    os.makedirs(a.dir, exist_ok=True)
    manifest = []
    for tid, expect, text, msg, opt in cases():
        if not msg.endswith(CRLF):
            msg += CRLF
        want = msg
        for r in opt.get("remove", []):
            assert want.count(r) == 1, (tid, r)
            want = want.replace(r, b"", 1)
        with open(os.path.join(a.dir, tid + ".eml"), "wb") as f:
            f.write(msg)
        with open(os.path.join(a.dir, tid + ".expect"), "wb") as f:
            f.write(want)
        manifest.append({
            "id": tid, "expect": expect, "text": text,
            "rcpt": opt.get("rcpt", "%s@sink.test" % tid),
            "sender": opt.get("sender", "sender@it.test"),
            "smtputf8": bool(opt.get("smtputf8")),
            "eightbit": any(c > 0x7f for c in msg),
            "ambiguous": bool(opt.get("ambiguous")),
            "malformed": bool(opt.get("malformed")),
            "removed": len(opt.get("remove", [])),
            "known": opt.get("known"),
        })
    with open(os.path.join(a.dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
    print("%d messages in %s" % (len(manifest), a.dir))


# ---------------------------------------------------------------- sending

def read_reply(f):
    text = []
    while True:
        l = f.readline()
        if not l:
            raise EOFError("connection closed")
        l = l.decode("utf-8", "replace").rstrip("\r\n")
        text.append(l)
        if len(l) < 4 or l[3] != "-":
            return int(l[:3]), "\n".join(text)


class Client:
    def __init__(self, port, helo, xclient):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.f = self.s.makefile("rb")
        read_reply(self.f)
        self.expect("EHLO client.it.test", 250)
        if xclient:
            self.expect("XCLIENT " + xclient, 220)
            self.expect("EHLO " + helo, 250)

    def cmd(self, line):
        self.s.sendall(line.encode("utf-8") + CRLF)
        return read_reply(self.f)

    def expect(self, line, code):
        got, text = self.cmd(line)
        if got != code:
            raise RuntimeError("%s: %s" % (line, text))
        return text

    def send(self, sender, rcpt, data, eightbit, smtputf8):
        opts = (" BODY=8BITMIME" if eightbit else "") + (" SMTPUTF8" if smtputf8 else "")
        self.expect("MAIL FROM:<%s>%s" % (sender, opts), 250)
        self.expect("RCPT TO:<%s>" % rcpt, 250)
        self.expect("DATA", 354)
        self.s.sendall(re.sub(rb"(?m)^\.", b"..", data) + b".\r\n")
        return read_reply(self.f)

    def close(self):
        try:
            self.cmd("QUIT")
        except (OSError, EOFError):
            pass
        self.s.close()


def cmd_send(a):
    manifest = load_manifest(a.dir)
    results = {}
    c = None
    for m in manifest:
        with open(os.path.join(a.dir, m["id"] + ".eml"), "rb") as f:
            data = f.read()
        try:
            if c is None:
                c = Client(a.port, a.helo, a.xclient)
            results[m["id"]] = c.send(m["sender"], m["rcpt"], data, m["eightbit"], m["smtputf8"])
        except Exception as e:  # noqa: BLE001 - reported, the next one gets a new connection
            results[m["id"]] = (0, str(e))
            if c is not None:
                c.s.close()
            c = None
    if c is not None:
        c.close()
    with open(os.path.join(a.dir, "sent.json"), "w") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
    accepted = sum(1 for v in results.values() if v[0] == 250)
    print("sent %d accepted %d" % (len(results), accepted))
    for k, v in results.items():
        if v[0] != 250:
            print("not accepted: %s: %s" % (k, v[1]))
    sys.exit(0 if accepted == len(results) else 1)


# ---------------------------------------------------------------- checking

def load_manifest(d):
    with open(os.path.join(d, "manifest.json")) as f:
        return json.load(f)


def header_units(block):
    """A header block (bytes, CRLF lines) as a list of whole headers, each
    with its continuation lines, bytes as they are."""
    units = []
    for l in block.split(CRLF)[:-1] if block else []:
        if l[:1] in (b" ", b"\t") and units:
            units[-1] += l + CRLF
        else:
            units.append(l + CRLF)
    return units


def split_message(data):
    i = data.find(CRLF + CRLF)
    if i < 0:
        return data, b""
    return data[:i + 2], data[i + 4:]


def hname(unit):
    return unit.split(b":", 1)[0].strip().lower()


def compare(got, want):
    """(ok, detail): got equals want once the headers Postfix or scand may add
    are left out (Received anywhere; Date/Message-Id/From/To where want
    has none)."""
    gh, gb = split_message(got)
    wh, wb = split_message(want)
    gu, wu = header_units(gh), header_units(wh)
    present = {hname(u) for u in wu}
    added = []
    j = 0
    for u in gu:
        if j < len(wu) and u == wu[j]:
            j += 1
        elif hname(u) in ADDED_ALWAYS or (hname(u) in ADDED_IF_MISSING and hname(u) not in present):
            added.append(hname(u).decode("ascii", "replace"))
        else:
            return False, "unexpected header %r (next expected %r)" % (
                u[:120], wu[j][:120] if j < len(wu) else None)
    if j != len(wu):
        return False, "header missing at the sink: %r" % wu[j][:120]
    if gb != wb:
        k = next((n for n in range(min(len(gb), len(wb))) if gb[n] != wb[n]), min(len(gb), len(wb)))
        return False, "body differs at byte %d of %d/%d: got %r want %r" % (
            k, len(gb), len(wb), gb[k:k + 60], wb[k:k + 60])
    extra = sorted(set(added) - {"received"})
    return True, "byte-identical after %d added header(s)%s" % (
        len(added), (" incl. " + ",".join(extra)) if extra else "")


def sink_index(sink):
    """{recipient: [eml path]} from the sink's envelopes."""
    idx = {}
    for env_path in sorted(glob.glob(os.path.join(sink, "*.env"))):
        eml = env_path[:-4] + ".eml"
        if not os.path.exists(eml):
            continue
        with open(env_path, encoding="utf-8") as f:
            env = json.load(f)
        for r in env.get("rcpts", []):
            m = re.match(r"TO:<([^>]*)>", r, re.I)
            if m:
                idx.setdefault(m.group(1), []).append(eml)
    return idx


LOG_TO = re.compile(r"postfix/(?:smtp|lmtp)\[\d+\]: (\w+): to=<([^>]*)>, relay=([^,]*), .*"
                    r"status=(\w+) \((.*)\)$")


def scan_hops(maillog, scan_port):
    """{recipient: [(status, reason, queue id)]} for deliveries to scand."""
    hops = {}
    with open(maillog, encoding="utf-8", errors="replace") as f:
        for l in f:
            m = LOG_TO.search(l.rstrip("\n"))
            if m and m.group(3).endswith(":%d" % scan_port):
                hops.setdefault(m.group(2), []).append((m.group(4), m.group(5), m.group(1)))
    return hops


def held_rcpts(queue_json):
    held = {}
    with open(queue_json, encoding="utf-8") as f:
        for l in f:
            if not l.strip():
                continue
            q = json.loads(l)
            for r in q.get("recipients", []):
                held.setdefault(r["address"], []).append(q["queue_name"])
    return held


class Report:
    """ok/FAIL lines. Inside a case marked as a known failure, a failed
    check prints "ok KNOWN FAILURE ..." (and its diagnostics); a known
    failure that no longer fails is itself a FAIL, so the mark is dropped
    once the bug is fixed."""

    def __init__(self):
        self.failed = 0
        self.known = None
        self.case_failed = False

    def begin(self, known):
        self.known, self.case_failed = known, False

    def end(self, tid):
        if self.known and not self.case_failed:
            self.fail("%s: marked as a known failure (%s) but passes now: drop the mark" % (
                tid, self.known))
        self.known = None

    def ok(self, text):
        print("ok %s" % text)

    def fail(self, text, diag=()):
        if self.known:
            self.case_failed = True
            print("ok KNOWN FAILURE %s [%s]" % (text, self.known))
        else:
            self.failed += 1
            print("FAIL %s" % text)
        for d in diag:
            print("#   %s" % d)


def grep_lines(path, needles, limit=8):
    out = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for l in f:
                if any(n and n in l for n in needles):
                    out.append(l.rstrip("\n"))
    except OSError:
        pass
    return out[-limit:]


def cmd_verify(a):
    manifest = load_manifest(a.dir)
    with open(os.path.join(a.dir, "sent.json"), encoding="utf-8") as f:
        sent = json.load(f)
    sink = sink_index(a.sink)
    hops = scan_hops(a.maillog, a.scan_port)
    held = held_rcpts(a.queue)
    rep = Report()
    tally = {"deliver": 0, "reject": 0, "discard": 0, "hold": 0}
    lost = dups = 0
    with open(a.scand_log, encoding="utf-8", errors="replace") as f:
        scand_log = f.read().splitlines()

    prev = None
    for m in manifest:
        tid, rcpt, expect = m["id"], m["rcpt"], m["expect"]
        if a.released and expect != "hold":
            continue
        if prev:
            rep.end(prev)
        rep.begin(m.get("known"))
        prev = tid
        files = sink.get(rcpt, [])
        hop = hops.get(rcpt, [])
        qids = {h[2] for h in hop}
        diag = (["sent: %s" % sent.get(tid)] + ["maillog: %s" % l for l in
                grep_lines(a.maillog, [rcpt] + sorted(qids))]
                + ["scand: %s" % l for l in grep_lines(a.scand_log, [rcpt] + sorted(qids))])
        finals = [h for h in hop if h[0] in ("sent", "bounced")]
        if sent.get(tid, [0])[0] != 250:
            rep.fail("%s: front smtpd accepted it" % tid, diag)
            lost += 1
            continue
        if len(files) > 1 or len(finals) > 1:
            dups += 1
            rep.fail("%s: %d copies at the sink, %d final scan deliveries" % (tid, len(files), len(finals)),
                     diag)
            continue
        got = ("deliver" if files else
               "hold" if "hold" in held.get(rcpt, []) else
               "reject" if finals and finals[0][0] == "bounced" else
               "discard" if finals and finals[0][0] == "sent" and not held.get(rcpt) else
               "lost")
        if got == "hold" and finals and finals[0][0] != "sent":
            got = "lost"
        want = "deliver" if a.released else expect
        if got == "lost":
            lost += 1
        else:
            tally[got if not a.released else "hold"] += 1
        if got != want:
            rep.fail("%s: expected %s%s, got %s%s" % (
                tid, want, " (%s)" % m["text"] if m["text"] else "", got,
                " (%s)" % finals[0][1] if finals else ""), diag)
            continue
        if got == "deliver":
            with open(files[0], "rb") as f:
                data = f.read()
            with open(os.path.join(a.dir, tid + ".expect"), "rb") as f:
                want_bytes = f.read()
            same, detail = compare(data, want_bytes)
            what = "delivered%s%s" % (" after release" if a.released else "",
                                     " with %d header(s) removed by IGNORE" % m["removed"]
                                     if m["removed"] else "")
            if same:
                rep.ok("%s: %s, %s" % (tid, what, detail))
            else:
                rep.fail("%s: %s but not as relayed: %s" % (tid, what, detail), diag + [files[0]])
            for flag, what in (("ambiguous", "ambiguous MIME: "),
                               ("malformed", "malformed MIME, relayed as received: ")):
                if not m[flag]:
                    continue
                note = [l for l in scand_log if any("%s: info: END-OF-MESSAGE " % q in l for q in qids)
                        and ": " + what in l]
                if note:
                    rep.ok("%s: scand logged \"%s\"" % (
                        tid, (what + note[0].split(": " + what, 1)[1]).split(";")[0]))
                else:
                    rep.fail("%s: scand logged an info line with \"%s\"" % (tid, what), diag)
        elif got == "reject":
            reason = finals[0][1]
            said = "said: %s (in reply to end of DATA command)" % m["text"]
            if said in reason:
                rep.ok("%s: bounced by Postfix: %s" % (tid, m["text"]))
            else:
                rep.fail("%s: bounced with %r, want %r" % (tid, reason, m["text"]), diag)
            rejected = [l for l in scand_log if any("%s: reject: END-OF-MESSAGE " % q in l for q in qids)
                        and ": %s; from=<" % m["text"] in l]
            outcome = [l for l in scand_log if "to=<%s>," % rcpt in l
                       and l.endswith("status=bounced (%s)" % m["text"])]
            if rejected and outcome:
                rep.ok("%s: scand logged the reject and the outcome" % tid)
            else:
                rep.fail("%s: scand logged \"QID: reject: END-OF-MESSAGE ...: %s\" (%d) and "
                         "\"to=<%s>, ... status=bounced (...)\" (%d)" % (
                             tid, m["text"], len(rejected), rcpt, len(outcome)), diag)
        elif got == "discard":
            if "250 2.0.0 Ok: discarded" in finals[0][1]:
                rep.ok("%s: discarded, Postfix saw %s" % (tid, finals[0][1][-60:]))
            else:
                rep.fail("%s: discarded with reply %r" % (tid, finals[0][1]), diag)
        elif got == "hold":
            rep.ok("%s: on Postfix's hold queue, scan delivery status=sent" % tid)

    if prev:
        rep.end(prev)
    n = sum(1 for m in manifest if not a.released or m["expect"] == "hold")
    total = sum(tally.values())
    line = ("sent %d = delivered %d + bounced %d + discarded %d + held %d; lost %d, duplicated %d"
            % (n, tally["deliver"], tally["reject"], tally["discard"], tally["hold"], lost, dups))
    if a.released:
        line = "released %d = delivered %d; lost %d, duplicated %d" % (n, total, lost, dups)
    if total == n and lost == 0 and dups == 0:
        rep.ok("every message accounted for: " + line)
    else:
        rep.fail("every message accounted for: " + line)
    deferred = sum(1 for hs in hops.values() for h in hs if h[0] == "deferred")
    if deferred == 0:
        rep.ok("no scan delivery deferred")
    else:
        rep.fail("%d scan deliveries deferred" % deferred)
    sys.exit(1 if rep.failed else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("gen")
    p.add_argument("--dir", required=True)
    p = sub.add_parser("send")
    p.add_argument("--dir", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--xclient", default="")
    p.add_argument("--helo", default="helo.client.example")
    p = sub.add_parser("verify")
    p.add_argument("--dir", required=True)
    p.add_argument("--sink", required=True)
    p.add_argument("--maillog", required=True)
    p.add_argument("--scand-log", required=True)
    p.add_argument("--queue", required=True, help="postqueue -j output")
    p.add_argument("--scan-port", type=int, required=True)
    p.add_argument("--released", action="store_true")
    a = ap.parse_args()
    {"gen": cmd_gen, "send": cmd_send, "verify": cmd_verify}[a.cmd](a)


if __name__ == "__main__":
    main()
