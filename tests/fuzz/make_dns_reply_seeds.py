#!/usr/bin/env python3
"""make_dns_reply_seeds.py - write the seeds of fuzz_dns_reply into
tests/fuzz/corpus/fuzz_dns_reply/: real-shaped DNS responses, each
prefixed by the target's selector byte (bits 0-2: type A=0 AAAA=1 MX=2
TXT=3 PTR=4; bits 3-4: c-ares status SUCCESS=0 ENOTFOUND=1 ENODATA=2).

    tests/fuzz/make_dns_reply_seeds.py      (rewrites the seeds; deterministic)

Names are compressed (RFC 1035 section 4.1.4) as a server would, so the
seeds hold pointers for the fuzzer to mutate.
"""
import os
import struct

A, NS, CNAME, SOA, PTR, MX, TXT, AAAA = 1, 2, 5, 6, 12, 15, 16, 28
SEL = {A: 0, AAAA: 1, MX: 2, TXT: 3, PTR: 4}
ST_OK, ST_NOTFOUND, ST_NODATA = 0, 1, 2


class Msg:
    """One DNS message, built section by section, with name compression."""

    def __init__(self, qname, qtype, rcode=0, flags=0x8180):
        self.buf = bytearray(struct.pack(">HHHHHH", 0x1234, flags | rcode, 1, 0, 0, 0))
        self.names = {}
        self.counts = [1, 0, 0, 0]
        self.name(qname)
        self.buf += struct.pack(">HH", qtype, 1)

    def name(self, name, out=None):
        out = self.buf if out is None else out
        labels = [l for l in name.rstrip(".").split(".") if l]
        for i in range(len(labels)):
            suffix = ".".join(labels[i:]).lower()
            if suffix in self.names:
                out += struct.pack(">H", 0xC000 | self.names[suffix])
                return
            if out is self.buf:
                self.names[suffix] = len(self.buf)
            lab = labels[i].encode()
            out += bytes([len(lab)]) + lab
        out += b"\0"

    def rr(self, section, name, rtype, ttl, rdata_fn, rclass=1):
        self.name(name)
        self.buf += struct.pack(">HHI", rtype, rclass, ttl)
        at = len(self.buf)
        self.buf += b"\0\0"
        rdata_fn()
        struct.pack_into(">H", self.buf, at, len(self.buf) - at - 2)
        self.counts[section] += 1
        struct.pack_into(">HHHH", self.buf, 4, *self.counts)

    def a(self, sec, name, ttl, addr):
        self.rr(sec, name, A, ttl, lambda: self.buf.extend(bytes(map(int, addr.split(".")))))

    def aaaa(self, sec, name, ttl, raw16):
        self.rr(sec, name, AAAA, ttl, lambda: self.buf.extend(raw16))

    def host(self, sec, name, rtype, ttl, target):
        self.rr(sec, name, rtype, ttl, lambda: self.name(target))

    def mx(self, sec, name, ttl, pref, target):
        def rd():
            self.buf.extend(struct.pack(">H", pref))
            self.name(target)
        self.rr(sec, name, MX, ttl, rd)

    def txt(self, sec, name, ttl, strings):
        def rd():
            for s in strings:
                self.buf.extend(bytes([len(s)]) + s)
        self.rr(sec, name, TXT, ttl, rd)

    def soa(self, sec, zone, ttl, minimum):
        def rd():
            self.name("ns." + zone)
            self.name("hostmaster." + zone)
            self.buf.extend(struct.pack(">IIIII", 2026112201, 3600, 600, 86400, minimum))
        self.rr(sec, zone, SOA, ttl, rd)

    def bytes(self):
        return bytes(self.buf)


def seeds():
    out = {}
    m = Msg("mail.example.com", A)
    m.a(1, "mail.example.com", 300, "192.0.2.10")
    m.a(1, "mail.example.com", 60, "192.0.2.11")
    out["a_two"] = (A, ST_OK, m.bytes())

    m = Msg("2.0.0.127.zen.example.org", A)
    m.a(1, "2.0.0.127.zen.example.org", 900, "127.0.0.2")
    m.a(1, "2.0.0.127.zen.example.org", 900, "127.0.0.4")
    out["a_dnsbl"] = (A, ST_OK, m.bytes())

    m = Msg("v6.example.com", AAAA)
    m.aaaa(1, "v6.example.com", 3600, bytes.fromhex("20010db8000000000000000000000001"))
    out["aaaa"] = (AAAA, ST_OK, m.bytes())

    m = Msg("Example.COM", MX)
    m.mx(1, "Example.COM", 3600, 10, "MX1.Example.com")
    m.mx(1, "Example.COM", 1800, 20, "mx2.backup.example.net")
    m.a(3, "mx1.example.com", 3600, "192.0.2.25")
    out["mx_two_additional"] = (MX, ST_OK, m.bytes())

    m = Msg("nomail.example.com", MX)
    m.mx(1, "nomail.example.com", 3600, 0, ".")
    out["mx_null"] = (MX, ST_OK, m.bytes())

    m = Msg("2.0.0.127.dbl.example.org", TXT)
    m.txt(1, "2.0.0.127.dbl.example.org", 600,
          [b"Listed: see ", b"https://example.org/lookup?ip=127.0.0.2", b""])
    m.txt(1, "2.0.0.127.dbl.example.org", 600, [b"v=spf1 -all"])
    out["txt_strings"] = (TXT, ST_OK, m.bytes())

    m = Msg("long.example.com", TXT)
    m.txt(1, "long.example.com", 60, [b"x" * 255, b"y" * 255])
    out["txt_long"] = (TXT, ST_OK, m.bytes())

    m = Msg("10.2.0.192.in-addr.arpa", PTR)
    m.host(1, "10.2.0.192.in-addr.arpa", PTR, 86400, "Mail.Example.COM")
    m.host(2, "2.0.192.in-addr.arpa", NS, 86400, "ns.example.com")
    out["ptr"] = (PTR, ST_OK, m.bytes())

    m = Msg("www.example.com", A)
    m.host(1, "www.example.com", CNAME, 600, "edge.cdn.example.net")
    m.host(1, "edge.cdn.example.net", CNAME, 30, "a1.cdn.example.net")
    m.a(1, "a1.cdn.example.net", 120, "198.51.100.7")
    out["a_cname_chain"] = (A, ST_OK, m.bytes())

    m = Msg("alias.example.com", MX)
    m.host(1, "alias.example.com", CNAME, 600, "real.example.com")
    m.mx(1, "real.example.com", 600, 5, "real.example.com")
    out["mx_cname"] = (MX, ST_OK, m.bytes())

    m = Msg("nosuch.example.com", A, rcode=3)
    m.soa(2, "example.com", 3600, 300)
    out["nxdomain_soa"] = (A, ST_NOTFOUND, m.bytes())

    m = Msg("nosuch.example.com", MX, rcode=3)
    out["nxdomain_nosoa"] = (MX, ST_NOTFOUND, m.bytes())

    m = Msg("www.example.com", MX)
    m.soa(2, "example.com", 900, 86400 * 7)
    out["nodata_soa"] = (MX, ST_NODATA, m.bytes())

    m = Msg("www.example.com", TXT)
    m.host(1, "www.example.com", CNAME, 600, "other.example.com")
    m.soa(2, "example.com", 900, 60)
    out["nodata_cname_soa"] = (TXT, ST_NODATA, m.bytes())

    m = Msg("chaos.example.com", A)
    m.a(1, "chaos.example.com", 10, "192.0.2.1")
    m.rr(1, "chaos.example.com", TXT, 10, lambda: m.buf.extend(b"\x03abc"), rclass=3)
    out["a_other_class"] = (A, ST_OK, m.bytes())

    m = Msg("servfail.example.com", A, rcode=2)
    out["servfail"] = (A, ST_OK, m.bytes())

    m = Msg("mail.example.com", A)
    m.a(1, "mail.example.com", 300, "192.0.2.10")
    full = m.bytes()
    out["a_truncated_rdata"] = (A, ST_OK, full[:-2])
    m = Msg("example.com", MX)
    m.mx(1, "example.com", 300, 10, "mx.example.com")
    out["mx_truncated_name"] = (MX, ST_OK, m.bytes()[:-3])
    m = Msg("bad.example.com", A)
    m.rr(1, "bad.example.com", A, 300, lambda: m.buf.extend(b"\x01\x02\x03"))
    out["a_short_rdlen"] = (A, ST_OK, m.bytes())
    m = Msg("bad.example.com", TXT)
    m.rr(1, "bad.example.com", TXT, 300, lambda: m.buf.extend(b"\x09short"))
    out["txt_overrun"] = (TXT, ST_OK, m.bytes())
    m = Msg("loop.example.com", PTR)
    m.rr(1, "loop.example.com", PTR, 300, lambda: m.buf.extend(struct.pack(">H", 0xC000 | len(m.buf))))
    out["ptr_pointer_loop"] = (PTR, ST_OK, m.bytes())
    out["header_only"] = (A, ST_OK, Msg("x", A).bytes()[:12])
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    d = os.path.join(here, "corpus", "fuzz_dns_reply")
    os.makedirs(d, exist_ok=True)
    for name, (rtype, status, msg) in sorted(seeds().items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(bytes([SEL[rtype] | status << 3]) + msg)
    print(f"{len(seeds())} seeds in {d}")


if __name__ == "__main__":
    main()
