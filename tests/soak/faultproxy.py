#!/usr/bin/env python3
"""Fault-injecting SMTP proxy for scand's soak test (stdlib only).

  faultproxy.py proxy --port P --to Q --log F [--seed S] [--rate R]
  faultproxy.py tally --sink DIR --maillog F --proxy-log F --tag T --sent N

proxy: sits between scand (its relay) and the 10026 smtpd. Each connection
draws one fault (probability --rate) from a seeded generator:

  reply   a command (MAIL, RCPT, DATA or the end-of-data ".") is answered by
          the proxy with 421, 451 or 554 instead of being forwarded. The text
          carries the word "faultproxy" so that bounces (554) can be told
          apart from any other 5yz. The upstream connection is closed (the
          10026 smtpd never sees an injected "."); later commands get 421.
  stall   before one command (or mid-DATA) nothing moves for 1-8 s.
  drop    mid-DATA, after some content lines, both connections are closed
          (the relay never gets the ".").
  lose250 the "." is forwarded and the relay's 250 read, but the proxy closes
          instead of passing the 250 on: the relay has the message, scand
          does not know it. This is the one legitimate source of duplicates;
          the Message-ID is logged ("lose250 <id>") so the tally explains it.

Replies are kept in order: an injected reply is written only once every
forwarded command has had its reply from upstream (pipelining).
SIGUSR1 turns faults off, SIGUSR2 on again. One log line per fault.

tally: counts what reached the sink against what was sent and prints
"sent N, delivered N, bounced N, duplicated N, lost N" as its last line.
"""

import argparse
import asyncio
import glob
import os
import random
import re
import signal
import sys
import time

MSGID_RE = re.compile(rb"(?i)^Message-ID:[ \t]*(<[^>\r\n]*>)")


class Conn:
    """One scand -> proxy -> relay connection."""

    def __init__(self, px, n, cr, cw):
        self.px, self.n, self.cr, self.cw = px, n, cr, cw
        self.ur = self.uw = None
        self.pending = 1  # replies owed by upstream (the greeting first)
        self.replied = asyncio.Event()
        self.data_mode = False
        self.in_header = False
        self.msgid = "-"
        self.last_cmd = ""
        self.detached = False  # upstream closed on purpose; we answer alone
        self.closed = False
        self.fault = px.draw()

    def log(self, text):
        self.px.log("conn %d %s" % (self.n, text))

    def close_all(self):
        self.closed = True
        for w in (self.cw, self.uw):
            if w is not None:
                try:
                    w.close()
                except Exception:
                    pass

    async def wait_replies(self):
        """Until upstream has answered every forwarded command (bounded)."""
        end = time.monotonic() + 60
        while self.pending > 0 and not self.closed and time.monotonic() < end:
            self.replied.clear()
            try:
                await asyncio.wait_for(self.replied.wait(), 1)
            except asyncio.TimeoutError:
                pass

    async def send_client(self, data):
        self.cw.write(data)
        await self.cw.drain()

    async def upstream(self):
        """Relay replies to scand, reply by reply."""
        lines = []
        try:
            while True:
                line = await self.ur.readline()
                if not line:
                    break
                lines.append(line)
                if len(line) >= 4 and line[3:4] == b"-":
                    continue
                reply, lines = b"".join(lines), []
                code = reply[:3]
                cmd = self.replies_for.pop(0) if self.replies_for else "?"
                if cmd == "DATA" and code == b"354":
                    self.data_mode, self.in_header = True, True
                if cmd == "." and code == b"250" and self.fault[0] == "lose250" and self.px.on:
                    self.log("lose250 %s relay said %s" % (self.msgid, reply.strip().decode("utf-8", "replace")))
                    self.close_all()
                    return
                self.pending -= 1
                self.replied.set()
                await self.send_client(reply)
        except (OSError, ConnectionError):
            pass
        if not self.detached:
            self.close_all()
        self.replied.set()

    async def inject(self, where):
        """Answer this command ourselves; cut the relay off."""
        code = self.fault[1]
        await self.wait_replies()
        self.detached = True
        if self.uw is not None:
            self.uw.close()
        texts = {421: "421 4.4.2 faultproxy: injected service shutdown",
                 451: "451 4.3.0 faultproxy: injected temporary failure",
                 554: "554 5.7.1 faultproxy: injected permanent failure"}
        self.log("reply %d at %s %s" % (code, where, self.msgid))
        self.fault = ("done",)
        await self.send_client(texts[code].encode() + b"\r\n")
        if code == 421:
            self.close_all()

    async def answer_detached(self, verb):
        if verb in ("RSET", "NOOP"):
            await self.send_client(b"250 2.0.0 Ok\r\n")
        elif verb == "QUIT":
            await self.send_client(b"221 2.0.0 Bye\r\n")
            self.close_all()
        else:
            await self.send_client(b"421 4.4.2 faultproxy: closing after an injected fault\r\n")
            self.close_all()

    def forward(self, line, expect_reply):
        self.uw.write(line)
        if expect_reply:
            self.pending += 1

    async def data_line(self, line):
        if self.in_header:
            m = MSGID_RE.match(line)
            if m:
                self.msgid = m.group(1).decode("utf-8", "replace")
            if line in (b"\r\n", b"\n"):
                self.in_header = False
        f = self.fault
        if line == b".\r\n":
            self.data_mode = False
            if f[0] == "reply" and f[2] == "." and self.px.on:
                await self.inject(".")
                return
            self.replies_for.append(".")
            self.forward(line, True)
            return
        if f[0] == "drop" and self.px.on:
            self.fault = ("drop", f[1] - 1)
            if f[1] <= 0:
                self.log("drop mid-DATA %s" % self.msgid)
                self.close_all()
                return
        if f[0] == "stall" and f[2] == "DATA-LINE" and self.px.on:
            self.fault = ("done",)
            self.log("stall %gs mid-DATA %s" % (f[1], self.msgid))
            await self.uw.drain()
            await asyncio.sleep(f[1])
        self.forward(line, False)

    async def command(self, line):
        verb = line.split(b" ", 1)[0].strip().upper().decode("ascii", "replace")
        verb = verb.split(":", 1)[0]
        if self.detached:
            await self.answer_detached(verb)
            return
        f = self.fault
        if self.px.on and f[0] == "reply" and f[2] == verb:
            await self.inject(verb)
            return
        if self.px.on and f[0] == "stall" and f[2] == verb:
            self.fault = ("done",)
            self.log("stall %gs before %s" % (f[1], verb))
            await asyncio.sleep(f[1])
        self.replies_for.append(verb)
        self.forward(line, True)
        if verb == "QUIT":
            pass

    async def run(self):
        self.replies_for = []
        try:
            self.ur, self.uw = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.px.to), 10)
        except (OSError, asyncio.TimeoutError):
            self.close_all()
            return
        self.replies_for.append("greeting")
        up = asyncio.ensure_future(self.upstream())
        try:
            while not self.closed:
                line = await self.cr.readline()
                if not line:
                    break
                if self.data_mode:
                    await self.data_line(line)
                else:
                    await self.command(line)
                if self.uw is not None and not self.detached and not self.closed:
                    await self.uw.drain()
        except (OSError, ConnectionError):
            pass
        self.close_all()
        up.cancel()


class Proxy:
    def __init__(self, a):
        self.to, self.rate = a.to, a.rate
        self.rng = random.Random(a.seed)
        self.logf = open(a.log, "a", buffering=1)
        self.on = True
        self.count = 0

    def log(self, text):
        self.logf.write("%.3f %s\n" % (time.time(), text))

    def draw(self):
        r = self.rng
        if not self.on or r.random() >= self.rate:
            return ("none",)
        kind = r.choice(["reply", "reply", "reply", "stall", "drop", "lose250"])
        if kind == "reply":
            return ("reply", r.choice([421, 451, 554]), r.choice(["MAIL", "RCPT", "DATA", "."]))
        if kind == "stall":
            return ("stall", round(r.uniform(1, 8), 1), r.choice(["MAIL", "RCPT", "DATA", "DATA-LINE"]))
        if kind == "drop":
            return ("drop", r.randint(0, 20))
        return ("lose250",)

    async def handle(self, cr, cw):
        self.count += 1
        await Conn(self, self.count, cr, cw).run()

    def set_on(self, on):
        self.on = on
        self.log("faults %s" % ("on" if on else "off"))


def cmd_proxy(a):
    px = Proxy(a)

    async def main():
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, px.set_on, False)
        loop.add_signal_handler(signal.SIGUSR2, px.set_on, True)
        srv = await asyncio.start_server(px.handle, "127.0.0.1", a.port, limit=1 << 22)
        px.log("listening 127.0.0.1:%d -> 127.0.0.1:%d rate %g seed %s" % (a.port, a.to, a.rate, a.seed))
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


# ---------------------------------------------------------------- tally

def sink_ids(d):
    ids = {}
    for p in sorted(glob.glob(os.path.join(d, "*.eml"))):
        with open(p, "rb") as f:
            head = f.read(65536)
        head = head[:head.find(b"\r\n\r\n") + 2]
        for l in head.split(b"\r\n"):
            m = MSGID_RE.match(l)
            if m:
                mid = m.group(1).decode("utf-8", "replace")
                ids[mid] = ids.get(mid, 0) + 1
                break
    return ids


def maillog_bounces(path, more_than_once=None, relay_lost=None):
    """{message-id: [reason]} for every status=bounced in Postfix's log;
    the Message-IDs Postfix said "may be sent more than once" about go into
    the set more_than_once; those scand deferred because its relay
    connection went after the end of DATA go into relay_lost."""
    qid_mid = {}
    bounced = {}
    rx_mid = re.compile(r"\]: ([0-9A-Za-z]+): message-id=(<[^>]*>)")
    rx_b = re.compile(r"\]: ([0-9A-Za-z]+): to=.*status=bounced \((.*)\)$")
    try:
        f = open(path, errors="replace")
    except OSError:
        return bounced
    with f:
        for l in f:
            m = rx_mid.search(l)
            if m:
                qid_mid[m.group(1)] = m.group(2)
                continue
            if more_than_once is not None and "sent more than once" in l:
                m = re.search(r"\]: ([0-9A-Za-z]+): ", l)
                if m and m.group(1) in qid_mid:
                    more_than_once.add(qid_mid[m.group(1)])
            if (relay_lost is not None and "lost connection with relay" in l
                    and "end of DATA" in l):
                m = re.search(r"\]: ([0-9A-Za-z]+): ", l)
                if m and m.group(1) in qid_mid:
                    relay_lost.add(qid_mid[m.group(1)])
            m = rx_b.search(l)
            if m:
                mid = qid_mid.get(m.group(1), "?" + m.group(1))
                bounced.setdefault(mid, []).append(m.group(2))
    return bounced


def cmd_tally(a):
    unsent = set()
    if a.unsent:
        with open(a.unsent) as f:
            unsent = {int(x) for x in f.read().split()}
    sent = ["<%s.%d@it.test>" % (a.tag, i) for i in range(a.sent) if i not in unsent]
    sentset = set(sent)
    got = sink_ids(a.sink)
    more_than_once, relay_lost = set(), set()
    bounces = maillog_bounces(a.maillog, more_than_once, relay_lost)
    lose250 = set()
    faults = {}
    try:
        with open(a.proxy_log, errors="replace") as f:
            for l in f:
                w = l.split()
                if len(w) >= 4 and w[1] == "conn":
                    kind = w[3] if w[3] != "reply" else "reply-%s" % w[4]
                    faults[kind] = faults.get(kind, 0) + 1
                    if w[3] == "lose250" and len(w) > 4:
                        lose250.add(w[4])
    except OSError:
        pass
    print("proxy faults: %s" % ", ".join("%s %d" % kv for kv in sorted(faults.items())))
    delivered = {m for m in got if m in sentset}
    stray = [m for m in got if m not in sentset]
    dups = {m: got[m] - 1 for m in delivered if got[m] > 1}
    bounced, unexpected = set(), {}
    for m, reasons in bounces.items():
        if m not in sentset:
            continue
        if all("faultproxy" in r for r in reasons):
            if m not in delivered:
                bounced.add(m)
            else:
                print("note: %s delivered and also bounced (an earlier attempt's 250 was lost)" % m)
        else:
            unexpected[m] = reasons
    for m in sorted(dups):
        if m in lose250:
            why = "the proxy dropped the relay's 250 for it (lose250): expected"
        elif m in more_than_once:
            why = ("scand's connection to Postfix went after the end of DATA (a worker "
                   "killed between the relay's 250 and its own reply): Postfix logged "
                   "'message may be sent more than once'")
        elif m in relay_lost:
            why = ("the relay connection went after the end of DATA (seen when the 10026 smtpd, "
                   "stopped by the relay-down reload, had queued it but not answered): "
                   "scand answered 4yz, Postfix retried")
        else:
            why = "UNEXPLAINED: no lose250 logged, Postfix did not warn"
        print("duplicate %s x%d: %s" % (m, dups[m] + 1, why))
    for m, reasons in sorted(unexpected.items()):
        print("UNEXPECTED bounce %s: %s" % (m, reasons[0]))
    for m in stray:
        print("stray message at the sink: %s" % m)
    lost = [m for m in sent if m not in delivered and m not in bounced]
    for m in lost[:50]:
        print("LOST %s" % m)
    print("sent %d, delivered %d, bounced %d, duplicated %d, lost %d"
          % (len(sent), len(delivered), len(bounced), sum(dups.values()), len(lost)))
    sys.exit(1 if lost else 0)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("proxy")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--to", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--seed", default="1")
    p.add_argument("--rate", type=float, default=0.3)
    p = sub.add_parser("tally")
    p.add_argument("--sink", required=True)
    p.add_argument("--maillog", required=True)
    p.add_argument("--proxy-log", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--sent", type=int, required=True)
    p.add_argument("--unsent", default="", help="file: indices the front smtpd did not accept")
    a = ap.parse_args()
    globals()["cmd_" + a.cmd](a)


if __name__ == "__main__":
    main()
