#!/usr/bin/env python3
"""perf/genmsg.py - the benchmark's message mix (stdlib only).

  genmsg.py --dir D --size KB [--seed N]

writes four messages into D, each in the form smtp-source -F sends (LF line
ends; smtp-source adds CRLF and dot-stuffs):

  plain.eml   plain text, padded to about KB kilobytes
  alt.eml     multipart/alternative: text/plain + text/html, about KB
  attach.eml  multipart/mixed: a short text part and a 50 KB binary
              attachment (base64, ~68 KB on the wire), or larger when KB is
  dsn.eml     a delivery status notification (multipart/report,
              message/delivery-status, the returned message's headers and
              text), about KB

and D/mix.txt: one "file weight" line each (the share of each kind in a run:
plain 4, alt 3, attach 2, dsn 1).  Content is deterministic for a seed and
reads like mail (words, URLs, quoted-printable, long base64) so header and
body checks have something realistic to chew on.
"""

import argparse
import base64
import os
import random

WORDS = ("the of and to in is you that it he was for on are as with his they at be this "
         "have from or one had by word but not what all were we when your can said there use "
         "an each which she do how their if will up other about out many then them these so "
         "some her would make like him into time has look two more write go see number no way "
         "could people my than first water been call who oil its now find long down day did get "
         "come made may part invoice meeting report quarterly budget shipment order account "
         "password delivery schedule project review update please regards attached").split()

MIX = (("plain.eml", 4), ("alt.eml", 3), ("attach.eml", 2), ("dsn.eml", 1))


def para(rng, nbytes, width=72):
    """Wrapped lines of words, about nbytes long, no line starting with '.'."""
    out, line, total = [], [], 0
    while total < nbytes:
        w = rng.choice(WORDS)
        if rng.random() < 0.02:
            w = "https://www.example.com/%s/%d" % (rng.choice(WORDS), rng.randrange(10**6))
        if len(" ".join(line + [w])) > width:
            s = " ".join(line)
            out.append(s[0].upper() + s[1:] + ("." if rng.random() < 0.3 else ""))
            total += len(out[-1]) + 1
            line = []
            if rng.random() < 0.1:
                out.append("")
        line.append(w)
    return out


def headers(rng, n, subject, ctype, extra=()):
    h = [
        "Return-Path: <sender%d@mail.example.org>" % n,
        "Received: from mail.example.org (mail.example.org [192.0.2.%d])" % (n % 250 + 1),
        "\tby mx.example.net (Postfix) with ESMTPS id 4Q%06X" % rng.randrange(16**6),
        "\tfor <user%d@sink.test>; Tue, 24 Nov 2026 10:%02d:%02d +0100 (CET)" % (n, n % 60, n % 59),
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=sel1;",
        "\th=from:to:subject:date:message-id; bh=%s;" % base64.b64encode(rng.randbytes(32)).decode(),
        "\tb=%s" % base64.b64encode(rng.randbytes(128)).decode(),
        "From: \"Sender %d\" <sender%d@mail.example.org>" % (n, n),
        "To: <user%d@sink.test>" % n,
        "Subject: %s" % subject,
        "Date: Tue, 24 Nov 2026 10:%02d:%02d +0100" % (n % 60, n % 59),
        "Message-ID: <%016x.%d@mail.example.org>" % (rng.randrange(2**64), n),
        "MIME-Version: 1.0",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.5.0",
    ]
    h += list(extra)
    h += ctype
    return h


def plain(rng, size):
    h = headers(rng, 1, "Re: quarterly budget review", [
        "Content-Type: text/plain; charset=utf-8; format=flowed",
        "Content-Transfer-Encoding: 8bit"])
    body = ["Hello,", ""] + para(rng, max(size - 1100, 200)) + ["", "-- ", "Sender One"]
    return h + [""] + body


def html_of(lines):
    out = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\"><title>news</title></head>",
           "<body style=\"font-family: Arial, sans-serif;\">"]
    for ln in lines:
        out.append("<p>%s</p>" % ln if ln else "<br>")
    out += ["<p><a href=\"https://www.example.com/unsubscribe\">unsubscribe</a></p>", "</body></html>"]
    return out


def alt(rng, size):
    b = "=_alt_%016x" % rng.randrange(2**64)
    h = headers(rng, 2, "Your November newsletter", [
        "Content-Type: multipart/alternative; boundary=\"%s\"" % b],
        extra=["List-Unsubscribe: <https://www.example.com/unsubscribe>",
               "List-Id: <news.example.org>"])
    text = para(rng, max((size - 2000) * 2 // 5, 200))
    html = html_of(para(rng, max((size - 2000) * 3 // 5 - 300, 200)))
    body = ["This is a multi-part message in MIME format.", "",
            "--" + b, "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 7bit", ""] + text + [
            "", "--" + b, "Content-Type: text/html; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable", ""]
    for ln in html:  # quoted-printable, soft breaks at 76
        ln = ln.replace("=", "=3D")
        while len(ln) > 75:
            body.append(ln[:75] + "=")
            ln = ln[75:]
        body.append(ln)
    body += ["", "--" + b + "--", ""]
    return h + [""] + body


def attach(rng, size):
    b = "=_mixed_%016x" % rng.randrange(2**64)
    h = headers(rng, 3, "Invoice 2026-11 (PDF attached)", [
        "Content-Type: multipart/mixed; boundary=\"%s\"" % b])
    raw = rng.randbytes(50 * 1024)
    enc = base64.b64encode(raw).decode()
    pad = max(size - len(enc) - 2500, 300)
    body = ["This is a multi-part message in MIME format.", "",
            "--" + b, "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 7bit", "",
            "Please find the invoice attached."] + para(rng, pad) + [
            "", "--" + b,
            "Content-Type: application/pdf; name=\"invoice-2026-11.pdf\"",
            "Content-Disposition: attachment; filename=\"invoice-2026-11.pdf\"",
            "Content-Transfer-Encoding: base64", ""]
    body += [enc[i:i + 76] for i in range(0, len(enc), 76)]
    body += ["", "--" + b + "--", ""]
    return h + [""] + body


def dsn(rng, size):
    b = "%016x/mx.example.net" % rng.randrange(2**64)
    h = [
        "Return-Path: <>",
        "Received: by mx.example.net (Postfix) id 4Q%06X; Tue, 24 Nov 2026 10:00:00 +0100 (CET)"
        % rng.randrange(16**6),
        "Date: Tue, 24 Nov 2026 10:00:00 +0100 (CET)",
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)",
        "Subject: Undelivered Mail Returned to Sender",
        "To: user4@sink.test",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        "\tboundary=\"%s\"" % b,
        "Content-Transfer-Encoding: 8bit",
        "Message-Id: <%016x@mx.example.net>" % rng.randrange(2**64),
    ]
    body = ["This is a MIME-encapsulated message.", "", "--" + b,
            "Content-Description: Notification", "Content-Type: text/plain; charset=us-ascii", "",
            "This is the mail system at host mx.example.net.", "",
            "I'm sorry to have to inform you that your message could not",
            "be delivered to one or more recipients. It's attached below.", "",
            "<nobody@example.com>: host mx.example.com[198.51.100.7] said: 550 5.1.1",
            "    <nobody@example.com>: Recipient address rejected: User unknown in",
            "    virtual mailbox table (in reply to RCPT TO command)", "",
            "--" + b, "Content-Description: Delivery report", "Content-Type: message/delivery-status", "",
            "Reporting-MTA: dns; mx.example.net", "X-Postfix-Queue-ID: 4QABCDEF",
            "Arrival-Date: Tue, 24 Nov 2026 09:59:58 +0100 (CET)", "",
            "Final-Recipient: rfc822; nobody@example.com",
            "Original-Recipient: rfc822;nobody@example.com", "Action: failed",
            "Status: 5.1.1", "Remote-MTA: dns; mx.example.com",
            "Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.com>: Recipient address",
            "    rejected: User unknown in virtual mailbox table", "",
            "--" + b, "Content-Description: Undelivered Message",
            "Content-Type: message/rfc822", "Content-Transfer-Encoding: 8bit", ""]
    inner = plain(rng, max(size - 1500, 500))
    body += inner + ["", "--" + b + "--", ""]
    return h + [""] + body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--size", type=int, default=5, help="KB")
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.dir, exist_ok=True)
    size = a.size * 1024
    for name, fn in (("plain.eml", plain), ("alt.eml", alt), ("attach.eml", attach), ("dsn.eml", dsn)):
        with open(os.path.join(a.dir, name), "w", newline="\n") as f:
            f.write("\n".join(fn(rng, size)) + "\n")
    with open(os.path.join(a.dir, "mix.txt"), "w") as f:
        for name, w in MIX:
            f.write("%s %d\n" % (name, w))


if __name__ == "__main__":
    main()
