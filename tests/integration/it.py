#!/usr/bin/env python3
"""Helpers for scand's integration tests (stdlib only).

  it.py sink --port P --dir D            final destination: one file per message
  it.py send --port P --count N ...      send test messages (XCLIENT, 8-bit, SMTPUTF8)
  it.py count --dir D [--tag T]          count delivered messages by Message-ID
  it.py compare --dir D --saved S        delivered bodies byte-identical to sent ones
  it.py proxy --port P --to Q --rate B   TCP forwarder, client->server throttled
  it.py smuggle --port P --rcpt R        smuggling payloads straight to scand
  it.py idle --port P --wait S           idle session: expect 421 and close
  it.py hold --port P ...                open a DATA transaction and stay in it

The sink stores each message as DIR/NNNNNN.eml holding the content exactly as
received (dot-unstuffed, CRLF kept) and DIR/NNNNNN.env (JSON envelope). Files
appear atomically (written under another name, then renamed).
"""

import argparse
import glob
import json
import os
import re
import select
import socket
import socketserver
import sys
import threading
import time

CRLF = b"\r\n"


# ---------------------------------------------------------------- sink

class SinkHandler(socketserver.StreamRequestHandler):
    timeout = 120

    def reply(self, text):
        self.wfile.write(text.encode() + CRLF)
        self.wfile.flush()

    def handle(self):
        srv = self.server
        lmtp = False
        self.reply("220 sink.test ESMTP it.py sink")
        mail_from, rcpts, helo = None, [], ""
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "LHLO"):
                lmtp = verb == "LHLO"
                helo = cmd[5:]
                self.wfile.write(b"250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                                 b"250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n"
                                 b"250 SIZE 204800000\r\n")
                self.wfile.flush()
            elif verb == "HELO":
                helo = cmd[5:]
                self.reply("250 sink.test")
            elif verb == "MAIL":
                mail_from, rcpts = cmd[5:], []
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                rcpts.append(cmd[5:])
                self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                if not rcpts:
                    self.reply("503 5.5.1 no recipients")
                    continue
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                content = bytearray()
                at_bol = True
                while True:
                    l = self.rfile.readline(1 << 20)
                    if not l:
                        return
                    if at_bol and l == b".\r\n":
                        break
                    if at_bol and l.startswith(b"."):
                        l = l[1:]
                    content += l
                    at_bol = l.endswith(b"\r\n")
                with srv.lock:
                    srv.seq += 1
                    n = srv.seq
                base = os.path.join(srv.dir, "%06d" % n)
                env = {"mail_from": mail_from, "rcpts": rcpts, "helo": helo,
                       "peer": "%s:%d" % self.client_address, "lmtp": lmtp}
                with open(base + ".env.tmp", "w") as f:
                    json.dump(env, f)
                with open(base + ".tmp", "wb") as f:
                    f.write(content)
                os.rename(base + ".env.tmp", base + ".env")
                os.rename(base + ".tmp", base + ".eml")
                if lmtp:
                    for _ in rcpts:
                        self.reply("250 2.0.0 Ok: queued as S%06d" % n)
                else:
                    self.reply("250 2.0.0 Ok: queued as S%06d" % n)
                mail_from, rcpts = None, []
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self.reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Error: command not recognized")


class ThreadedServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def cmd_sink(a):
    os.makedirs(a.dir, exist_ok=True)
    srv = ThreadedServer(("127.0.0.1", a.port), SinkHandler)
    srv.dir, srv.seq, srv.lock = a.dir, 0, threading.Lock()
    print("sink listening on 127.0.0.1:%d, dir %s" % (a.port, a.dir), flush=True)
    srv.serve_forever()


# ---------------------------------------------------------------- messages

def make_message(tag, i, kind, size, sender, rcpts):
    """Return (envelope sender, header+body bytes, body bytes, needs SMTPUTF8)."""
    msgid = "<%s.%d@it.test>" % (tag, i)
    utf8 = kind == "utf8" or (kind == "mixed" and i % 3 == 2)
    eight = utf8 or kind == "8bit" or (kind == "mixed" and i % 3 == 1)
    if utf8:
        sender = sender.replace("@", ".jos\u00e9@", 1) if "@" in sender else sender
    hdr = [
        "From: Sender <%s>" % sender,
        "To: %s" % ", ".join("<%s>" % r for r in rcpts),
        "Subject: %s message %d%s" % (tag, i, " \u00fcber caf\u00e9" if utf8 else ""),
        "Date: Mon, 01 Jan 2024 00:00:00 +0000",
        "Message-ID: %s" % msgid,
        "MIME-Version: 1.0",
    ]
    if eight:
        hdr += ["Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: 8bit"]
    else:
        hdr += ["Content-Type: text/plain; charset=us-ascii"]
    body = [
        "Test message %d of run %s." % (i, tag),
        ".a line that starts with a dot",
        "..two dots",
        ".",
        "a line with trailing space   ",
        "",
        "tab\there",
        "x" * 900,
    ]
    if eight:
        body += ["8-bit: gr\u00fc\u00dfe, caf\u00e9, \u00e6\u00f8\u00e5, \u65e5\u672c\u8a9e"]
    b = ("\r\n".join(body) + "\r\n").encode("utf-8")
    filler = b"filler line 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"
    while len(b) < size:
        b += filler
    h = ("\r\n".join(hdr) + "\r\n\r\n").encode("utf-8")
    return sender, h + b, b, utf8, eight


def read_reply(f):
    lines = []
    while True:
        l = f.readline()
        if not l:
            raise EOFError("connection closed")
        l = l.decode("utf-8", "replace").rstrip("\r\n")
        lines.append(l)
        if len(l) < 4 or l[3] != "-":
            return int(l[:3]), "\n".join(lines)


class Client:
    def __init__(self, port, timeout=60):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.s.makefile("rb")
        self.greeting = read_reply(self.f)

    def cmd(self, line):
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.s.sendall(line + CRLF)
        return read_reply(self.f)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def sid(msgid):
    return re.sub(r"[^A-Za-z0-9.@_-]", "_", msgid.strip("<>"))


def cmd_send(a):
    rcpts = a.to
    ok = fail = 0
    codes = {}
    per_conn = max(1, (a.count + a.conns - 1) // a.conns)
    lock = threading.Lock()

    def worker(first, last):
        nonlocal ok, fail
        c = None
        for i in range(first, last):
            try:
                if c is None:
                    c = Client(a.port)
                    c.cmd("EHLO client.it.test")
                    if a.xclient:
                        code, text = c.cmd("XCLIENT " + a.xclient)
                        if code != 220:
                            raise RuntimeError("XCLIENT: " + text)
                        c.cmd("EHLO " + a.helo)
                sender, msg, body, utf8, eight = make_message(a.tag, i, a.kind, a.size, a.sender, rcpts)
                if a.saved:
                    with open(os.path.join(a.saved, sid("%s.%d@it.test" % (a.tag, i)) + ".body"), "wb") as f:
                        f.write(body)
                opts = ""
                if eight:
                    opts += " BODY=8BITMIME"
                if utf8:
                    opts += " SMTPUTF8"
                code, text = c.cmd("MAIL FROM:<%s>%s" % (sender, opts))
                if code != 250:
                    raise RuntimeError("MAIL: " + text)
                for r in rcpts:
                    code, text = c.cmd("RCPT TO:<%s>" % r)
                    if code != 250:
                        raise RuntimeError("RCPT: " + text)
                code, text = c.cmd("DATA")
                if code != 354:
                    raise RuntimeError("DATA: " + text)
                stuffed = re.sub(rb"(?m)^\.", b"..", msg)
                c.s.sendall(stuffed + b".\r\n")
                code, text = read_reply(c.f)
                with lock:
                    codes[code] = codes.get(code, 0) + 1
                    if code == 250:
                        ok += 1
                    else:
                        fail += 1
                        print("send %d: %s" % (i, text), file=sys.stderr)
            except Exception as e:  # report, reconnect, go on
                with lock:
                    fail += 1
                print("send %d: %s" % (i, e), file=sys.stderr)
                if c:
                    c.close()
                c = None
        if c:
            try:
                c.cmd("QUIT")
            except Exception:
                pass
            c.close()

    threads = []
    for k in range(a.conns):
        first, last = a.first + k * per_conn, min(a.first + a.count, a.first + (k + 1) * per_conn)
        if first < last:
            t = threading.Thread(target=worker, args=(first, last))
            t.start()
            threads.append(t)
    for t in threads:
        t.join()
    print("sent %d accepted %d failed %d codes %s" % (a.count, ok, fail, json.dumps(codes)))
    sys.exit(0 if fail == 0 else 1)


# ---------------------------------------------------------------- inspect

def delivered(d):
    """[(path, content bytes, envelope dict)] for every delivered message."""
    out = []
    for p in sorted(glob.glob(os.path.join(d, "*.eml"))):
        with open(p, "rb") as f:
            content = f.read()
        try:
            with open(p[:-4] + ".env") as f:
                env = json.load(f)
        except OSError:
            env = {}
        out.append((p, content, env))
    return out


def header_block(content):
    i = content.find(b"\r\n\r\n")
    return content[:i + 2] if i >= 0 else content


def message_id(content):
    m = re.search(rb"(?im)^Message-ID:[ \t]*(<[^>\r\n]*>)", header_block(content))
    return m.group(1).decode("utf-8", "replace") if m else None


def cmd_count(a):
    ids = {}
    for p, content, env in delivered(a.dir):
        mid = message_id(content)
        if mid is None or (a.tag and not mid.startswith("<%s." % a.tag)):
            continue
        ids.setdefault(mid, []).append(p)
    dups = sum(len(v) - 1 for v in ids.values())
    print("unique %d duplicates %d" % (len(ids), dups))
    if a.list_dups:
        for k, v in ids.items():
            if len(v) > 1:
                print("duplicate %s: %s" % (k, " ".join(v)))


def cmd_compare(a):
    saved = {}
    for p in glob.glob(os.path.join(a.saved, "*.body")):
        with open(p, "rb") as f:
            saved[os.path.basename(p)[:-5]] = f.read()
    bad = matched = 0
    for p, content, env in delivered(a.dir):
        mid = message_id(content)
        if mid is None or sid(mid) not in saved:
            continue
        i = content.find(b"\r\n\r\n")
        body = content[i + 4:]
        if body == saved[sid(mid)]:
            matched += 1
        else:
            bad += 1
            print("body differs: %s (%s)" % (mid, p))
    print("identical %d different %d of %d sent" % (matched, bad, len(saved)))
    sys.exit(0 if bad == 0 and matched == len(saved) else 1)


def cmd_header(a):
    """Print the headers named a.name of the message with Message-ID a.msgid."""
    for p, content, env in delivered(a.dir):
        if message_id(content) == a.msgid:
            hb = header_block(content).decode("utf-8", "replace")
            hb = re.sub(r"\r\n[ \t]+", " ", hb)
            for l in hb.split("\r\n"):
                if l.lower().startswith(a.name.lower() + ":"):
                    print(l)
            return
    sys.exit(1)


def cmd_find(a):
    """Print the delivered files whose own Message-ID is a.msgid."""
    for p, content, env in delivered(a.dir):
        if message_id(content) == a.msgid:
            print(p)


# ---------------------------------------------------------------- proxy

def cmd_proxy(a):
    """TCP forwarder. With --hold-dot S, the end of DATA ("\\r\\n.\\r\\n") from
    the client is held back for S seconds before it is forwarded; if the client
    goes away meanwhile, the server connection is closed without it, so the
    server never accepts that message."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.port))
    ls.listen(64)
    print("proxy 127.0.0.1:%d -> 127.0.0.1:%d, rate %d bytes/s, hold-dot %gs"
          % (a.port, a.to, a.rate, a.hold_dot), flush=True)
    term = b"\r\n.\r\n"

    def close_both(x, y):
        for s in (x, y):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def upstream(src, dst):
        sent_tail = b""  # last bytes forwarded: is the next byte at a line start?
        pending = b""    # a "." or ".\r" at a line start: maybe the end of DATA
        try:
            while True:
                data = src.recv(4096 if a.rate else 65536)
                if not data:
                    break
                buf, pending = pending + data, b""
                if a.hold_dot:
                    ctx = sent_tail + buf
                    off = len(sent_tail)
                    i = ctx.find(term)
                    if i >= 0 and i + 2 >= off:
                        dst.sendall(ctx[off:i + 2])
                        held = ctx[i + 2:]
                        print("holding end of DATA for %gs" % a.hold_dot, flush=True)
                        r, _, _ = select.select([src], [], [], a.hold_dot)
                        if r:
                            more = src.recv(65536)
                            if not more:
                                print("client gone: end of DATA dropped", flush=True)
                                break
                            held += more
                        dst.sendall(held)
                        print("end of DATA forwarded", flush=True)
                        sent_tail = (ctx[:i + 2] + held)[-2:]
                        continue
                    keep = 1 if ctx.endswith(b"\r\n.") else 2 if ctx.endswith(b"\r\n.\r") else 0
                    keep = min(keep, len(buf))
                    out, pending = buf[:len(buf) - keep], buf[len(buf) - keep:]
                    dst.sendall(out)
                    sent_tail = (sent_tail + out)[-2:]
                else:
                    dst.sendall(buf)
                if a.rate:
                    time.sleep(len(data) / a.rate)
        except OSError:
            pass
        close_both(src, dst)

    def downstream(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        close_both(src, dst)

    while True:
        c, _ = ls.accept()
        try:
            u = socket.create_connection(("127.0.0.1", a.to), timeout=10)
            u.settimeout(None)
        except OSError:
            c.close()
            continue
        threading.Thread(target=upstream, args=(c, u), daemon=True).start()
        threading.Thread(target=downstream, args=(u, c), daemon=True).start()


# ---------------------------------------------------------------- direct

PAYLOADS = [b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r\n.\r", b"\r\n.\r\r\n"]


def cmd_smuggle(a):
    failures = 0
    for k, p in enumerate(PAYLOADS):
        c = Client(a.port)
        c.cmd("EHLO smuggler.it.test")
        replies = []
        replies.append(c.cmd("MAIL FROM:<good@it.test>")[0])
        replies.append(c.cmd("RCPT TO:<%s>" % a.rcpt)[0])
        replies.append(c.cmd("DATA")[0])
        msg = (b"From: <good@it.test>\r\nTo: <%s>\r\nSubject: smuggle %d\r\n"
               b"Message-ID: <%s.%d@it.test>\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\n"
               b"innocent body" % (a.rcpt.encode(), k, a.tag.encode(), k))
        msg += p + (b"MAIL FROM:<evil@x>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                    b"Subject: smuggled %d\r\n\r\nevil\r\n" % (a.rcpt.encode(), k))
        c.s.sendall(msg + b"\r\n.\r\n")
        replies.append(read_reply(c.f)[0])
        # Anything scand answers now beyond the one end-of-DATA reply would
        # mean it saw a second transaction in the content.
        c.s.settimeout(1.5)
        extra = b""
        try:
            extra = c.s.recv(4096)
        except socket.timeout:
            pass
        c.s.settimeout(10)
        q = c.cmd("QUIT")[0] if not extra else None
        c.close()
        good = replies == [250, 250, 354, 250] and not extra and q == 221
        failures += not good
        print("payload %d %r: replies %s quit %s extra %r -> %s"
              % (k, p, replies, q, extra, "ok" if good else "BAD"))
    sys.exit(1 if failures else 0)


def cmd_idle(a):
    c = Client(a.port)
    c.cmd("EHLO idler.it.test")
    c.s.settimeout(a.wait)
    t0 = time.time()
    try:
        data = b""
        while True:
            d = c.s.recv(4096)
            if not d:
                break
            data += d
    except socket.timeout:
        print("no close within %ds" % a.wait)
        sys.exit(1)
    took = time.time() - t0
    print("after %.1fs: %r then close" % (took, data))
    sys.exit(0 if data.startswith(b"421") else 1)


def cmd_direct(a):
    """One message of a.size bytes straight to scand (no SIZE parameter)."""
    c = Client(a.port)
    c.cmd("EHLO direct.it.test")
    r = [c.cmd("MAIL FROM:<direct@it.test>")[0], c.cmd("RCPT TO:<%s>" % a.rcpt)[0], c.cmd("DATA")[0]]
    if r[2] != 354:
        print("replies %s" % r)
        sys.exit(1)
    _, msg, _, _, _ = make_message(a.tag, 0, "plain", a.size, "direct@it.test", [a.rcpt])
    c.s.sendall(re.sub(rb"(?m)^\.", b"..", msg) + b".\r\n")
    code, text = read_reply(c.f)
    r.append(code)
    # the session must go on after the reply
    q = c.cmd("QUIT")[0]
    c.close()
    print("replies %s: %s; QUIT %d" % (r, text, q))
    sys.exit(0 if code == a.expect and q == 221 else 1)


def cmd_hold(a):
    """Open a transaction and send DATA content slowly (a.seconds), then end it."""
    c = Client(a.port)
    c.cmd("EHLO holder.it.test")
    r = [c.cmd("MAIL FROM:<hold@it.test>")[0], c.cmd("RCPT TO:<%s>" % a.rcpt)[0], c.cmd("DATA")[0]]
    c.s.sendall(b"Subject: held\r\nMessage-ID: <%s.0@it.test>\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\n" % a.tag.encode())
    print("in DATA", flush=True)
    end = time.time() + a.seconds
    n = 0
    while time.time() < end:
        c.s.sendall(b"slow line %d\r\n" % n)
        n += 1
        time.sleep(0.2)
    c.s.sendall(b".\r\n")
    code, text = read_reply(c.f)
    r.append(code)
    try:
        c.cmd("QUIT")
    except Exception:
        pass
    print("replies %s: %s" % (r, text))
    sys.exit(0 if r == [250, 250, 354, 250] else 1)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("sink")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p = sub.add_parser("send")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--from", dest="sender", default="sender@it.test")
    p.add_argument("--to", action="append", required=True)
    p.add_argument("--xclient", default="")
    p.add_argument("--helo", default="client.it.test")
    p.add_argument("--kind", default="plain", choices=["plain", "8bit", "utf8", "mixed"])
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--tag", default="msg")
    p.add_argument("--saved", default="")
    p = sub.add_parser("count")
    p.add_argument("--dir", required=True)
    p.add_argument("--tag", default="")
    p.add_argument("--list-dups", action="store_true")
    p = sub.add_parser("compare")
    p.add_argument("--dir", required=True)
    p.add_argument("--saved", required=True)
    p = sub.add_parser("header")
    p.add_argument("--dir", required=True)
    p.add_argument("--msgid", required=True)
    p.add_argument("--name", required=True)
    p = sub.add_parser("find")
    p.add_argument("--dir", required=True)
    p.add_argument("--msgid", required=True)
    p = sub.add_parser("proxy")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--to", type=int, required=True)
    p.add_argument("--rate", type=int, default=0)
    p.add_argument("--hold-dot", type=float, default=0)
    p = sub.add_parser("smuggle")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rcpt", required=True)
    p.add_argument("--tag", default="smuggle")
    p = sub.add_parser("idle")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--wait", type=int, default=30)
    p = sub.add_parser("direct")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rcpt", required=True)
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--expect", type=int, default=250)
    p.add_argument("--tag", default="direct")
    p = sub.add_parser("hold")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--rcpt", required=True)
    p.add_argument("--seconds", type=float, default=3)
    p.add_argument("--tag", default="held")
    a = ap.parse_args()
    globals()["cmd_" + a.cmd](a)


if __name__ == "__main__":
    main()
