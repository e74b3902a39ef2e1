#!/usr/bin/env python3
"""perf/bench.py - throughput of scand against bare Postfix and the peer filters.

Run it through perf/bench (which installs the Debian packages and builds scand).
See perf/README.md for what is measured and how to read the table.

Everything runs on 127.0.0.1, ports 26000-26999, in a private Postfix instance
under a temporary directory; the system Postfix is never touched.  Every
process started here is stopped by PID on exit (normal, error, or signal).
"""

import argparse
import csv
import datetime
import glob
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PERF = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(PERF)
CLK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
PORT_LOCKS = "/tmp/scand-perf-ports"

SANDWICH = ["bare", "null", "scand", "scand-rules", "proxsmtp", "amavisd"]
DIRECT = ["direct-scand", "direct-scand-rules", "direct-proxsmtp", "direct-amavisd"]
ALL_MODES = SANDWICH + DIRECT
# Which filter process tree each mode's CPU and RSS are taken from.
FILTER_OF = {"null": "socat", "scand": "scand", "scand-rules": "scand-rules",
             "proxsmtp": "proxsmtp", "amavisd": "amavisd",
             "direct-scand": "scand-direct", "direct-scand-rules": "scand-rules-direct",
             "direct-proxsmtp": "proxsmtp-direct", "direct-amavisd": "amavisd"}



def ensure_scand_user():
    """scand started as root runs its workers as user scand (its default)."""
    import pwd
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam("scand")
    except KeyError:
        subprocess.call(["useradd", "--system", "--no-create-home", "--shell",
                         "/usr/sbin/nologin", "scand"])

def keep_trouble(work, outdir, name):
    """After a failed run: the maillog lines that say why (deferrals,
    warnings), kept in the results, since the work dir of a run that
    finishes is removed."""
    try:
        with open(os.path.join(work, "pf", "maillog"), errors="replace") as f:
            tail = f.readlines()[-20000:]
    except OSError:
        return
    why = [l for l in tail if re.search(r"status=(deferred|bounced)|warning:|error:|fatal:|panic:", l)]
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, name), "w") as f:
        f.writelines(why[-300:])


def log(*a):
    print("#", *a, flush=True)


# ------------------------------------------------------------------ processes

class Procs:
    """Every process we start, stopped by PID at exit."""

    def __init__(self):
        self.procs = []  # (name, Popen)
        self.cleanups = []

    def start(self, name, argv, logfile, **kw):
        f = open(logfile, "ab")
        p = subprocess.Popen(argv, stdout=kw.pop("stdout", f), stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, **kw)
        self.procs.append((name, p))
        return p

    def stop_one(self, p, sig=signal.SIGTERM, wait=10):
        if p.poll() is not None:
            return
        try:
            p.send_signal(sig)
            p.wait(wait)
        except subprocess.TimeoutExpired:
            p.kill()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        except ProcessLookupError:
            pass

    def stop_all(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # keep stopping the rest
                log("cleanup:", e)
        self.cleanups = []
        for _, p in reversed(self.procs):
            self.stop_one(p)
        self.procs = []


PROCS = Procs()


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def run(argv, timeout=60, **kw):
    return subprocess.run(argv, timeout=timeout, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, **kw)


# ------------------------------------------------------------------ ports

MY_PORTS = []


def pick_port():
    os.makedirs(PORT_LOCKS, exist_ok=True)
    for i in range(2000):
        p = 26000 + (os.getpid() * 37 + i * 101) % 1000
        d = os.path.join(PORT_LOCKS, str(p))
        try:
            os.mkdir(d)
        except FileExistsError:
            try:
                owner = int(open(os.path.join(d, "pid")).read())
                os.kill(owner, 0)
                continue
            except (OSError, ValueError):
                shutil.rmtree(d, ignore_errors=True)
                try:
                    os.mkdir(d)
                except FileExistsError:
                    continue
        open(os.path.join(d, "pid"), "w").write(str(os.getpid()))
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            shutil.rmtree(d, ignore_errors=True)
            continue
        finally:
            s.close()
        MY_PORTS.append(p)
        return p
    raise SystemExit("no free port in 26000-26999")


def release_ports():
    for p in MY_PORTS:
        shutil.rmtree(os.path.join(PORT_LOCKS, str(p)), ignore_errors=True)


def wait_port(port, secs, proc=None):
    end = time.time() + secs
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        s = socket.socket()
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", port))
            s.close()
            return True
        except OSError:
            time.sleep(0.1)
        finally:
            s.close()
    return False


# ------------------------------------------------------------------ /proc

def proc_children():
    kids = {}
    for st in glob.glob("/proc/[0-9]*/stat"):
        try:
            data = open(st).read()
        except OSError:
            continue
        rest = data[data.rindex(")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(st.split("/")[2]))
    return kids


def tree(pid):
    kids = proc_children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_ticks(pid):
    """user+sys of pid's tree: the root's own and reaped children's, plus each live descendant's."""
    total = 0
    for p in tree(pid):
        try:
            data = open("/proc/%d/stat" % p).read()
        except OSError:
            continue
        f = data[data.rindex(")") + 2:].split()
        total += sum(int(x) for x in f[11:15])  # utime stime cutime cstime
    return total


def mem_of(pid):
    """(VmHWM kB, Pss kB) of one process."""
    hwm = pss = 0
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
        for line in open("/proc/%d/smaps_rollup" % pid):
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return hwm, pss


def worker_mem(pid):
    """Peak RSS and PSS over the workers of a filter (its descendants, or itself when it has none)."""
    t = tree(pid)
    workers = t[1:] or t
    best = (0, 0)
    for p in workers:
        hwm, pss = mem_of(p)
        if hwm > best[0]:
            best = (hwm, pss)
    return best


def machine_ticks():
    f = open("/proc/stat").readline().split()[1:]
    v = [int(x) for x in f]
    idle = v[3] + v[4]
    return sum(v), idle


# ------------------------------------------------------------------ the sink

class Sink:
    """smtp-sink -c: its running counter, read from its stdout."""

    def __init__(self, port, logdir):
        self.count = 0
        self.changed = time.time()
        self.lock = threading.Lock()
        self.p = PROCS.start("smtp-sink", ["smtp-sink", "-u", "nobody", "-c", "-m", "512",
                                          "127.0.0.1:%d" % port, "1024"],
                             os.path.join(logdir, "sink.log"), stdout=subprocess.PIPE)
        threading.Thread(target=self.reader, daemon=True).start()
        if not wait_port(port, 10, self.p):
            raise SystemExit("smtp-sink did not start")

    def reader(self):
        buf = b""
        while True:
            chunk = self.p.stdout.read1(4096) if hasattr(self.p.stdout, "read1") else self.p.stdout.read(64)
            if not chunk:
                return
            buf += chunk
            parts = buf.replace(b"\n", b"\r").split(b"\r")
            buf = parts.pop()
            for part in parts:
                i = part.find(b"mesg=")
                if i >= 0:
                    try:
                        n = int(part[i + 5:].split()[0])
                    except (ValueError, IndexError):
                        continue
                    with self.lock:
                        if n != self.count:
                            self.count = n
                            self.changed = time.time()

    def get(self):
        with self.lock:
            return self.count, self.changed


# ------------------------------------------------------------------ the bench

class Bench:
    def __init__(self, a):
        self.a = a
        self.W = tempfile.mkdtemp(prefix="scand-perf.")
        os.chmod(self.W, 0o755)
        self.skipped = {}  # mode -> reason
        self.warnings = []
        self.ports = {}
        self.filters = {}  # name -> Popen
        log("work dir", self.W)

    def port(self, name):
        if name not in self.ports:
            self.ports[name] = pick_port()
        return self.ports[name]

    # ---- Postfix
    def postfix(self):
        a = self.a
        W = self.W
        self.pfc, self.pfq = W + "/pf/etc", W + "/pf/queue"
        for d in (self.pfc, self.pfq, W + "/pf/data"):
            os.makedirs(d, exist_ok=True)
        shutil.chown(W + "/pf/data", "postfix")
        sink, relay = self.port("sink"), self.port("relay")
        with open(self.pfc + "/main.cf", "w") as f:
            f.write("""# private benchmark instance generated by perf/bench.py
compatibility_level = 3.6
queue_directory = {pfq}
data_directory = {W}/pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = front.bench.test
mydomain = bench.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = sink.test
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
transport_maps = inline:{{ sink.test=smtp:[127.0.0.1]:{sink} }}
default_transport = error:no delivery outside the benchmark
local_transport = error:no local delivery in the benchmark
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
maillog_file = {W}/pf/maillog
maillog_file_prefixes = {W}
minimal_backoff_time = 2s
maximal_backoff_time = 4s
queue_run_delay = 1s
message_size_limit = 20480000
# deploy/main.cf.snippet (content_filter itself is set per front port below)
scan_destination_recipient_limit = 1000
scanl_destination_recipient_limit = 1000
""".format(pfq=self.pfq, W=W, sink=sink))
        relay_o = """    -o content_filter=
    -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
    -o smtpd_helo_restrictions=
    -o smtpd_client_restrictions=
    -o smtpd_sender_restrictions=
    -o smtpd_relay_restrictions=
    -o smtpd_recipient_restrictions=permit_mynetworks,reject
    -o smtpd_data_restrictions=
    -o mynetworks=127.0.0.0/8
    -o smtpd_error_sleep_time=0s
    -o smtpd_soft_error_limit=1001
    -o smtpd_hard_error_limit=1000
    -o smtpd_client_connection_count_limit=0
    -o smtpd_client_connection_rate_limit=0
    -o smtpd_authorized_xforward_hosts=127.0.0.0/8
    -o smtpd_forbid_bare_newline=reject
    -o smtpd_forbid_bare_newline_exclusions=
"""
        fronts = []
        lm = a.transport == "lmtp"
        targets = {"null": ("scan", self.port("null")),
                   "scand": ("scanl" if lm else "scan", self.port("scand")),
                   "scand-rules": ("scanl" if lm else "scan", self.port("scand-rules")),
                   "proxsmtp": ("scan", self.port("proxsmtp")),
                   "amavisd": ("scanl" if lm else "scan", self.port("amavisd-lmtp" if lm else "amavisd"))}
        for mode in SANDWICH:
            fp = self.port("front-" + mode)
            if mode == "bare":
                fronts.append("127.0.0.1:%d inet n - n - - smtpd" % fp)
            else:
                tr, p = targets[mode]
                fronts.append("127.0.0.1:%d inet n - n - - smtpd\n"
                              "    -o content_filter=%s:[127.0.0.1]:%d\n"
                              "    -o receive_override_options=no_address_mappings" % (fp, tr, p))
        with open(self.pfc + "/master.cf", "w") as f:
            f.write("""# private benchmark instance generated by perf/bench.py; chroot n everywhere
{fronts}
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
# deploy/master.cf.snippet: the scan transport (smtp), its lmtp variant, the 10026 smtpd
scan      unix  -       -       n       -       {mp}      smtp
    -o smtp_send_xforward_command=yes
    -o disable_mime_output_conversion=yes
    -o smtp_generic_maps=
scanl     unix  -       -       n       -       {mp}      lmtp
    -o lmtp_send_xforward_command=yes
    -o disable_mime_output_conversion=yes
    -o lmtp_generic_maps=
127.0.0.1:{relay} inet n  -       n       -       {rmp}      smtpd
{relay_o}""".format(fronts="\n".join(fronts), mp=a.maxproc, rmp=a.relay_maxproc or a.maxproc,
                    relay=relay, relay_o=relay_o))
        os.chown(self.pfq, 0, -1)
        r = run(["postfix", "-c", self.pfc, "check"])
        if r.returncode:
            log("postfix check:", r.stdout, r.stderr)
        r = run(["script", "-qec", "postfix -c %s start" % self.pfc, "/dev/null"])
        if r.returncode:
            raise SystemExit("postfix start failed: %s %s" % (r.stdout, open(W + "/pf/maillog").read()[-2000:]))
        PROCS.cleanups.append(self.postfix_stop)
        if not wait_port(self.port("front-bare"), 20):
            raise SystemExit("private Postfix does not listen")

    def postfix_stop(self):
        run(["postfix", "-c", self.pfc, "stop"])
        try:
            pid = int(open(self.pfq + "/pid/master.pid").read().split()[0])
        except (OSError, ValueError, IndexError):
            return
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.1)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    def queue_count(self):
        r = run(["postqueue", "-c", self.pfc, "-j"])
        return sum(1 for line in r.stdout.splitlines() if '"queue_id"' in line)

    # ---- filters
    def start_filter(self, name, argv, port, logname, timeout=20):
        p = PROCS.start(name, argv, os.path.join(self.W, logname))
        if not wait_port(port, timeout, p):
            tail = open(os.path.join(self.W, logname), errors="replace").read()[-1500:]
            return None, "did not listen on %d (exit %s): %s" % (port, p.poll(), tail.strip())
        self.filters[name] = p
        return p, None

    def scand_conf(self, name, listen, relay, rules):
        ensure_scand_user()
        lines = ["# generated by perf/bench.py (%s)" % name]
        if rules:
            text = open(os.path.join(PERF, "rules", "scand.conf")).read()
            lines.append(text.replace("perf/rules/", os.path.join(PERF, "rules") + "/"))
        lines += ["listen = 127.0.0.1:%d" % listen, "relay = 127.0.0.1:%d" % relay,
                  "hold_relay = 127.0.0.1:%d" % relay, "process_limit = %d" % self.a.maxproc,
                  "myhostname = localhost"] + [x.strip() for x in self.a.scand_extra.split(";") if x.strip()]
        path = os.path.join(self.W, name + ".conf")
        open(path, "w").write("\n".join(lines) + "\n")
        return path

    def start_filters(self, modes):
        a, W = self.a, self.W
        relay, sink = self.port("relay"), self.port("sink")
        need = set(FILTER_OF[m] for m in modes if m in FILTER_OF)
        if "socat" in need:
            p = self.port("null")
            self.start_filter("socat", ["socat", "TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr,backlog=256" % p,
                                        "TCP:127.0.0.1:%d" % relay], p, "socat.log")
        for name, rules, to in (("scand", False, relay), ("scand-rules", True, relay),
                                ("scand-direct", False, sink), ("scand-rules-direct", True, sink)):
            if name not in need:
                continue
            conf = self.scand_conf(name, self.port(name), to, rules)
            p, err = self.start_filter(name, [a.scand, "-F", "-c", conf], self.port(name), name + ".log")
            if err:
                raise SystemExit("scand (%s) did not start: %s" % (name, err))
            warn = [l for l in open(os.path.join(W, name + ".log"), errors="replace")
                    if "unknown" in l or "warning" in l]
            for l in warn:
                self.warnings.append("%s: %s" % (name, l.strip()))
        for name, to in (("proxsmtp", relay), ("proxsmtp-direct", sink)):
            if name not in need:
                continue
            if not shutil.which("proxsmtpd"):
                self.skip_filter(name, "proxsmtpd not installed")
                continue
            conf = os.path.join(W, name + ".conf")
            open(conf, "w").write("# generated by perf/bench.py: pass-through, no FilterCommand\n"
                                  "Listen: 127.0.0.1:%d\nOutAddress: 127.0.0.1:%d\n"
                                  "MaxConnections: 256\nTimeOut: 180\nTempDirectory: %s\n"
                                  % (self.port(name), to, W))
            p, err = self.start_filter(name, ["proxsmtpd", "-d", "1", "-f", conf,
                                              "-p", os.path.join(W, name + ".pid")],
                                       self.port(name), name + ".log")
            if err:
                self.skip_filter(name, "proxsmtpd " + err)
        if "amavisd" in need:
            self.start_amavisd()

    def skip_filter(self, fname, reason):
        for m, f in FILTER_OF.items():
            if f == fname:
                self.skipped.setdefault(m, reason)

    def start_amavisd(self):
        W = self.W
        if not shutil.which("amavisd"):
            self.skip_filter("amavisd", "amavisd-new not installed")
            return
        home, confdir = W + "/amavis", W + "/amavis-conf"
        for d in ("tmp", "db", "var"):
            os.makedirs(os.path.join(home, d), exist_ok=True)
        os.makedirs(confdir, exist_ok=True)
        for d in [home] + glob.glob(home + "/*"):
            shutil.chown(d, "amavis", "amavis")
        # amavisd refuses a config file in a directory its user can write to.
        os.chmod(confdir, 0o755)
        ps, pd, pl = self.port("amavisd"), self.port("amavisd-direct"), self.port("amavisd-lmtp")
        conf = confdir + "/amavisd.conf"
        open(conf, "w").write("""# generated by perf/bench.py: amavisd-new as a pass-through peer
use strict;
$MYHOME = '{home}';
$TEMPBASE = "$MYHOME/tmp";
$db_home = "$MYHOME/db";
$QUARANTINEDIR = "$MYHOME/var";
$pid_file = "$MYHOME/amavisd.pid";
$lock_file = "$MYHOME/amavisd.lock";
$daemon_user = 'amavis'; $daemon_group = 'amavis';
$mydomain = 'bench.test'; $myhostname = 'amavis.bench.test';
# prefork like Debian's default setup, one server per scan transport process
$max_servers = {mp}; $max_requests = 20; $child_timeout = 120;
$inet_socket_bind = '127.0.0.1';
$inet_socket_port = [{ps}, {pd}, {pl}];
@inet_acl = qw(127.0.0.1);
$unix_socketname = undef;
$forward_method = 'smtp:[127.0.0.1]:{relay}';
$notify_method = $forward_method;
# scanners bypassed: virus, spam, banned files and bad headers
@bypass_virus_checks_maps = (1); @bypass_spam_checks_maps = (1);
@bypass_banned_checks_maps = (1); @bypass_header_checks_maps = (1);
@av_scanners = (); @av_scanners_backup = ();
$enable_dkim_verification = 0; $enable_dkim_signing = 0;
$enable_db = 0; $enable_global_cache = 0; $enable_zmq = 0;
$do_syslog = 0; $logfile = "$MYHOME/amavis.log"; $log_level = 0;
@local_domains_maps = (['.']);
$final_virus_destiny = D_PASS; $final_spam_destiny = D_PASS;
$final_banned_destiny = D_PASS; $final_bad_header_destiny = D_PASS;
$interface_policy{{'{pd}'}} = 'DIRECTSINK';
$policy_bank{{'DIRECTSINK'}} = {{ forward_method => 'smtp:[127.0.0.1]:{sink}' }};
$interface_policy{{'{pl}'}} = 'LMTPIN';
$policy_bank{{'LMTPIN'}} = {{ protocol => 'LMTP' }};
1;
""".format(home=home, mp=self.a.maxproc, ps=ps, pd=pd, pl=pl, relay=self.port("relay"),
           sink=self.port("sink")))
        os.chmod(conf, 0o644)
        p, err = self.start_filter("amavisd", ["amavisd", "-c", conf, "foreground"], ps, "amavisd.log",
                                   timeout=60)
        if err:
            more = ""
            try:
                more = open(home + "/amavis.log", errors="replace").read()[-800:]
            except OSError:
                pass
            self.skip_filter("amavisd", "amavisd " + err + " " + more)
            return
        for port in (pd, pl):
            wait_port(port, 10)

    # ---- sending
    def sender_lanes(self, n, conc, msgdir):
        """Per lane: a list of (file, count); every lane sends the whole mix in turn."""
        mix = [l.split() for l in open(os.path.join(msgdir, "mix.txt")) if l.strip()]
        wsum = sum(int(w) for _, w in mix)
        lanes = []
        for l in range(conc):
            k = n // conc + (1 if l < n % conc else 0)
            counts, acc = [], 0
            for i, (f, w) in enumerate(mix):
                c = k * int(w) // wsum
                counts.append([f, c])
                acc += c
            j = 0
            while acc < k:  # remainder to the kinds in turn, starting per lane
                counts[(l + j) % len(counts)][1] += 1
                acc += 1
                j += 1
            rot = l % len(counts)
            lanes.append([(os.path.join(msgdir, f), c) for f, c in counts[rot:] + counts[:rot] if c])
        return lanes

    def send(self, port, n, conc, msgdir, errors):
        def lane(work):
            for path, c in work:
                sender = "" if path.endswith("dsn.eml") else "sender@mail.example.org"
                argv = ["smtp-source", "-s", "1", "-m", str(c), "-M", "client.bench.test",
                        "-f", sender, "-t", "user@sink.test", "-F", path]
                if self.a.reuse:
                    argv.append("-d")
                argv.append("127.0.0.1:%d" % port)
                try:
                    r = subprocess.run(argv, capture_output=True, text=True, timeout=self.a.timeout,
                                       stdin=subprocess.DEVNULL)
                    if r.returncode:
                        errors.append("smtp-source exit %d: %s" % (r.returncode, r.stderr.strip()[-300:]))
                except subprocess.TimeoutExpired:
                    errors.append("smtp-source timed out")
        threads = [threading.Thread(target=lane, args=(w,)) for w in self.sender_lanes(n, conc, msgdir)]
        for t in threads:
            t.start()
        return threads

    # ---- one run
    def one(self, mode, size, conc, n, rep, msgdir):
        row = {"time": datetime.datetime.now().isoformat(timespec="seconds"), "rep": rep, "mode": mode,
               "size_kb": size, "concurrency": conc, "transport": self.transport_of(mode),
               "messages": n, "seconds": "", "msgs_per_s": "", "filter_cpu_ms_per_msg": "",
               "worker_peak_rss_kb": "", "worker_pss_kb": "", "machine_busy_pct": "",
               "arrived": 0, "queue_left": "", "status": ""}
        if mode in self.skipped:
            row["status"] = "skipped: " + self.skipped[mode]
            return row
        fproc = self.filters.get(FILTER_OF.get(mode, ""), None)
        if mode == "direct-amavisd":
            port = self.port("amavisd-direct")
        elif mode.startswith("direct-"):
            port = self.port(FILTER_OF[mode])
        else:
            port = self.port("front-" + mode)
        c0, _ = self.sink.get()
        cpu0 = cpu_ticks(fproc.pid) if fproc else 0
        m0 = machine_ticks()
        errors = []
        t0 = time.time()
        threads = self.send(port, n, conc, msgdir, errors)
        deadline = t0 + self.a.timeout
        status = ""
        while True:
            c, changed = self.sink.get()
            if c - c0 >= n:
                break
            now = time.time()
            if now > deadline:
                status = "FAILED: timeout after %ds" % self.a.timeout
                break
            if now - max(changed, t0) > self.a.stall:
                status = "FAILED: no progress for %ds" % self.a.stall
                break
            time.sleep(0.02)
        c, t1 = self.sink.get()
        m1 = machine_ticks()
        cpu1 = cpu_ticks(fproc.pid) if fproc else 0
        for t in threads:
            t.join(self.a.timeout)
        if fproc:
            rss, pss = worker_mem(fproc.pid)
            row["worker_peak_rss_kb"], row["worker_pss_kb"] = rss, pss
        # every message arrived, once, and nothing stays queued
        left = -1
        for _ in range(100):
            left = self.queue_count() if not mode.startswith("direct-") else 0
            if left == 0:
                break
            time.sleep(0.1)
        time.sleep(0.3)
        arrived = self.sink.get()[0] - c0
        row["arrived"], row["queue_left"] = arrived, left
        if not status:
            if arrived != n:
                status = "FAILED: %d of %d arrived" % (arrived, n)
            elif left:
                status = "FAILED: %d left in the queue" % left
            elif errors:
                status = "FAILED: " + errors[0]
        if status:
            if errors and not status.startswith("FAILED: smtp-source"):
                status += "; %d smtp-source error(s), first: %s" % (len(errors), errors[0])
            row["status"] = status
            self.recover()
            return row
        secs = max(t1 - t0, 1e-6)
        row["seconds"] = round(secs, 3)
        row["msgs_per_s"] = round(n / secs, 1)
        if fproc:
            row["filter_cpu_ms_per_msg"] = round((cpu1 - cpu0) * 1000.0 / CLK / n, 3)
        tot, idle = m1[0] - m0[0], m1[1] - m0[1]
        row["machine_busy_pct"] = round(100.0 * (tot - idle) / tot, 0) if tot else ""
        row["status"] = "ok"
        return row

    def transport_of(self, mode):
        if mode.startswith("direct-") or mode == "bare":
            return "-"
        if self.a.transport == "lmtp" and mode in ("null", "proxsmtp"):
            return "smtp"  # neither speaks LMTP
        return self.a.transport

    def recover(self):
        """After a failed run: flush, then empty the queue so the next run starts clean."""
        run(["postqueue", "-c", self.pfc, "-f"])
        for _ in range(10):
            if self.queue_count() == 0:
                break
            time.sleep(1)
        if self.queue_count():
            run(["postsuper", "-c", self.pfc, "-d", "ALL"])
        time.sleep(2)


# ------------------------------------------------------------------ reporting

def summarize(rows, key):
    groups = {}
    order = []
    for r in rows:
        k = tuple(r[x] for x in key)
        if k not in groups:
            groups[k] = []
            order.append(k)
        groups[k].append(r)
    out = []
    for k in order:
        rs = groups[k]
        ok = [r for r in rs if r["status"] == "ok"]
        s = dict(zip(key, k))
        s["runs"] = len(rs)
        s["ok"] = len(ok)
        failed = [r["status"] for r in rs if r["status"] != "ok"]
        s["note"] = failed[0] if failed else ""
        if ok:
            v = [r["msgs_per_s"] for r in ok]
            s["median"], s["min"], s["max"] = round(statistics.median(v), 1), min(v), max(v)
            cpu = [r["filter_cpu_ms_per_msg"] for r in ok if r["filter_cpu_ms_per_msg"] != ""]
            s["cpu_ms"] = round(statistics.median(cpu), 3) if cpu else ""
            rss = [r["worker_peak_rss_kb"] for r in ok if r["worker_peak_rss_kb"] != ""]
            s["rss_kb"] = max(rss) if rss else ""
            pss = [r["worker_pss_kb"] for r in ok if r["worker_pss_kb"] != ""]
            s["pss_kb"] = max(pss) if pss else ""
            busy = [r["machine_busy_pct"] for r in ok if r["machine_busy_pct"] != ""]
            s["busy_pct"] = round(statistics.median(busy)) if busy else ""
        else:
            for x in ("median", "min", "max", "cpu_ms", "rss_kb", "pss_kb", "busy_pct"):
                s[x] = ""
        out.append(s)
    return out


def add_ratios(summary):
    by = {(s["size_kb"], s["concurrency"], s["mode"]): s for s in summary}
    for s in summary:
        for ref in ("bare", "null"):
            b = by.get((s["size_kb"], s["concurrency"], ref))
            if s["median"] != "" and b and b["median"]:
                s["x_" + ref] = round(s["median"] / b["median"], 2)
            else:
                s["x_" + ref] = ""


def table(summary):
    hdr = ["mode", "size", "conc", "ok/runs", "median msg/s", "min", "max", "×bare", "×null",
           "filter CPU ms/msg", "worker peak RSS MB", "worker PSS MB", "busy %"]
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    notes = []
    for s in summary:
        mb = lambda kb: "%.1f" % (kb / 1024.0) if kb != "" else ""
        lines.append("| " + " | ".join(str(x) for x in (
            s["mode"], "%d KB" % s["size_kb"], s["concurrency"], "%d/%d" % (s["ok"], s["runs"]),
            s["median"], s["min"], s["max"], s["x_bare"], s["x_null"], s["cpu_ms"],
            mb(s["rss_kb"]), mb(s["pss_kb"]), s["busy_pct"])) + " |")
        if s["note"]:
            notes.append("%s %d KB c%d: %s" % (s["mode"], s["size_kb"], s["concurrency"], s["note"]))
    return "\n".join(lines), notes


def write_csv(path, rows, fields=None):
    if not rows:
        return
    fields = fields or list(rows[0].keys())
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def plot(outdir, sweep_summary, size):
    modes = []
    for s in sweep_summary:
        if s["mode"] not in modes:
            modes.append(s["mode"])
    datafile = os.path.join(outdir, "sweep.dat")
    with open(datafile, "w") as f:
        for m in modes:
            f.write("# %s\n" % m)
            for s in sweep_summary:
                if s["mode"] == m and s["median"] != "":
                    f.write("%d %s\n" % (s["concurrency"], s["median"]))
            f.write("\n\n")
    if not shutil.which("gnuplot"):
        return "gnuplot not installed: plot skipped (data in sweep.dat)"
    png = os.path.join(outdir, "throughput-vs-concurrency.png")
    concs = sorted(set(s["concurrency"] for s in sweep_summary))
    script = """set terminal pngcairo size 900,560 noenhanced
set output '{png}'
set title 'Throughput vs concurrency ({size} KB mix, smtp-source -> private Postfix -> smtp-sink)'
set xlabel 'concurrent smtp-source sessions'
set ylabel 'messages/s (median)'
set logscale x
set xtics ({xt})
set grid
set key outside right
plot {plots}
""".format(png=png, size=size, xt=", ".join(str(c) for c in concs),
           plots=", ".join("'%s' index %d using 1:2 with linespoints title '%s'" % (datafile, i, m)
                           for i, m in enumerate(modes)))
    gp = os.path.join(outdir, "plot.gp")
    open(gp, "w").write(script)
    r = run(["gnuplot", gp])
    if r.returncode:
        # pngcairo missing in some builds: fall back to the plain png terminal
        open(gp, "w").write(script.replace("pngcairo", "png"))
        r = run(["gnuplot", gp])
    return None if r.returncode == 0 else "gnuplot failed: " + r.stderr[-300:]


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description="scand throughput benchmark (see perf/README.md)")
    ap.add_argument("--quick", action="store_true",
                    help="200 messages, 1 repetition, 5 KB, a few modes, a short sweep (< 3 min)")
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--sizes", default="5,100", help="KB, comma separated (default 5,100)")
    ap.add_argument("--concurrency", type=int, default=10, help="smtp-source sessions (default 10)")
    ap.add_argument("--transport", choices=("smtp", "lmtp"), default="smtp", help="the scan transport")
    ap.add_argument("--reps", type=int, default=5, help="repetitions, interleaved (default 5)")
    ap.add_argument("--modes", default=",".join(ALL_MODES))
    ap.add_argument("--sweep", default="1,2,5,10,20",
                    help="concurrencies for the plot (empty: no sweep)")
    ap.add_argument("--sweep-modes", default=",".join(SANDWICH))
    ap.add_argument("--sweep-size", type=int, default=5)
    ap.add_argument("--sweep-reps", type=int, default=1)
    ap.add_argument("--maxproc", type=int, default=10,
                    help="scan transport maxproc = scand process_limit = amavisd max_servers")
    ap.add_argument("--relay-maxproc", type=int, default=0,
                    help="maxproc of the 10026 smtpd (default: --maxproc, as deploy/ has it)")
    ap.add_argument("--scand-extra", default="",
                    help='extra scand.conf lines for every scand mode, ";"-separated, e.g. "max_use = 1000"')
    ap.add_argument("--reuse", action="store_true", help="smtp-source -d: reuse client connections")
    ap.add_argument("--warmup", type=int, default=50, help="unrecorded messages per mode and size first")
    ap.add_argument("--timeout", type=int, default=600, help="seconds one run may take")
    ap.add_argument("--stall", type=int, default=60, help="seconds without a delivery that fail a run")
    ap.add_argument("--scand", default=os.path.join(ROOT, "build", "bin", "scand"))
    ap.add_argument("--out", default="", help="results dir (default perf/results/DATE)")
    a = ap.parse_args()
    if a.quick:
        d = ap.parse_args([])
        if a.messages == d.messages:
            a.messages = 200
        if a.reps == d.reps:
            a.reps = 1
        if a.sizes == d.sizes:
            a.sizes = "5"
        if a.modes == d.modes:
            a.modes = "bare,null,scand,scand-rules,proxsmtp,direct-scand,direct-proxsmtp"
        if a.sweep == d.sweep:
            a.sweep = "1,10"
        if a.sweep_modes == d.sweep_modes:
            a.sweep_modes = "bare,null,scand,scand-rules"
        if a.warmup == d.warmup:
            a.warmup = 20
    modes = [m for m in a.modes.split(",") if m]
    sweep = [int(c) for c in a.sweep.split(",") if c]
    sweep_modes = [m for m in a.sweep_modes.split(",") if m] if sweep else []
    for m in modes + sweep_modes:
        if m not in ALL_MODES:
            raise SystemExit("unknown mode %s (modes: %s)" % (m, ", ".join(ALL_MODES)))
    sizes = [int(s) for s in a.sizes.split(",") if s]
    if os.geteuid() != 0:
        raise SystemExit("perf/bench runs as root (private Postfix, smtp-sink -u nobody)")

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = a.out or os.path.join(PERF, "results", stamp + ("-quick" if a.quick else ""))
    os.makedirs(outdir, exist_ok=True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    b = Bench(a)
    started = time.time()
    try:
        run([sys.executable, os.path.join(PERF, "rules", "mkrules.py")], timeout=300)
        b.postfix()
        b.sink = Sink(b.port("sink"), b.W)
        b.start_filters(set(modes + sweep_modes))
        if b.warnings:
            log("scand said at start (parameters it does not apply yet):")
            for w in sorted(set(b.warnings)):
                log("  " + w)
        for m, why in sorted(b.skipped.items()):
            if m in modes or m in sweep_modes:
                log("%s: skipped: %s" % (m, why))
        msgdirs = {}
        for s in set(sizes + ([a.sweep_size] if sweep else [])):
            msgdirs[s] = os.path.join(b.W, "msg%d" % s)
            run([sys.executable, os.path.join(PERF, "genmsg.py"), "--dir", msgdirs[s], "--size", str(s)])
        log("ports: " + ", ".join("%s %d" % kv for kv in sorted(b.ports.items())))
        log("messages %d, sizes %s KB, concurrency %d, scan transport %s, reps %d, maxproc %d%s"
            % (a.messages, a.sizes, a.concurrency, a.transport, a.reps, a.maxproc,
               ", connection reuse" if a.reuse else ""))

        # warm-up: every mode once, unrecorded
        if a.warmup:
            for s in sorted(msgdirs):
                for m in dict.fromkeys(modes + sweep_modes):
                    r = b.one(m, s, a.concurrency, a.warmup, 0, msgdirs[s])
                    if not r["status"].startswith(("ok", "skipped")):
                        log("warm-up %s %d KB: %s" % (m, s, r["status"]))
                        keep_trouble(b.W, outdir, "warmup-%s-%dkb.log" % (m, s))

        rows = []
        partial = os.path.join(outdir, "runs-partial.csv")
        def keep(r):  # every run on disk as soon as it is done
            new = not os.path.exists(partial)
            with open(partial, "a", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(r.keys()))
                if new:
                    w.writeheader()
                w.writerow(r)
        for rep in range(1, a.reps + 1):
            for s in sizes:
                for m in modes:
                    r = b.one(m, s, a.concurrency, a.messages, rep, msgdirs[s])
                    rows.append(r)
                    keep(r)
                    log("rep %d %-18s %3d KB c%-2d %8s msg/s  cpu %s ms/msg  %s"
                        % (rep, m, s, a.concurrency, r["msgs_per_s"], r["filter_cpu_ms_per_msg"],
                           r["status"]))
        sweep_rows = []
        for rep in range(1, a.sweep_reps + 1):
            for c in sweep:
                for m in sweep_modes:
                    r = b.one(m, a.sweep_size, c, a.messages, rep, msgdirs[a.sweep_size])
                    sweep_rows.append(r)
                    keep(r)
                    log("sweep %-17s %3d KB c%-2d %8s msg/s  %s"
                        % (m, a.sweep_size, c, r["msgs_per_s"], r["status"]))
    finally:
        PROCS.stop_all()
        release_ports()

    key = ("mode", "size_kb", "concurrency")
    summary = summarize(rows, key)
    add_ratios(summary)
    write_csv(os.path.join(outdir, "runs.csv"), rows + sweep_rows)
    if os.path.exists(os.path.join(outdir, "runs-partial.csv")):
        os.unlink(os.path.join(outdir, "runs-partial.csv"))
    fields = ["mode", "size_kb", "concurrency", "runs", "ok", "median", "min", "max", "x_bare", "x_null",
              "cpu_ms", "rss_kb", "pss_kb", "busy_pct", "note"]
    write_csv(os.path.join(outdir, "summary.csv"), summary, fields)
    text, notes = table(summary)
    head = ("perf/bench %s: %s, %d cores, %s; %d messages, scan transport %s, maxproc %d, %d rep(s)%s"
            % (datetime.date.today().isoformat(), platform.node(), os.cpu_count(),
               " ".join(platform.platform().split("-")[:2]), a.messages, a.transport, a.maxproc,
               a.reps, ", quick" if a.quick else ""))
    out = [head, "", text]
    if notes:
        out += ["", "Failed or skipped runs:"] + ["- " + n for n in notes]
    if b.warnings:
        out += ["", "scand warnings at start (rules it did not apply):"] + \
               ["- " + w for w in sorted(set(b.warnings))]
    if sweep_rows:
        ss = summarize(sweep_rows, key)
        add_ratios(ss)
        write_csv(os.path.join(outdir, "sweep.csv"), ss, fields)
        err = plot(outdir, ss, a.sweep_size)
        out += ["", "Sweep (%d KB, medians msg/s):" % a.sweep_size, ""]
        hdr = "| mode | " + " | ".join("c%d" % c for c in sweep) + " |"
        out += [hdr, "|---|" + "---|" * len(sweep)]
        for m in sweep_modes:
            vals = []
            for c in sweep:
                v = [s for s in ss if s["mode"] == m and s["concurrency"] == c]
                vals.append(str(v[0]["median"]) if v and v[0]["median"] != "" else
                            ("skipped" if m in b.skipped else "FAILED"))
            out.append("| %s | %s |" % (m, " | ".join(vals)))
        if err:
            out += ["", err]
    out += ["", "%.0f s in all; results in %s" % (time.time() - started, outdir)]
    report = "\n".join(out) + "\n"
    open(os.path.join(outdir, "summary.md"), "w").write(report)
    print()
    print(report)
    failed = [r for r in rows + sweep_rows if r["status"].startswith("FAILED")]
    shutil.rmtree(b.W, ignore_errors=True) if not failed else log("kept work dir", b.W)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
