#!/usr/bin/python3
"""fh-bench against firehosed, very briefly: every message is delivered.

Counts only (published, delivered, lost, out of order, connections), never
timing. Skips when fh-bench was not built (no libmosquitto). Covers the raw
receivers (-R, -T: plain sockets, 64 kB reads, a hand-written MQTT reader)
and the trivial relay (fh-bench echo) they are measured against.
"""
import os
import signal
import subprocess

import fhtest
from fhtest import Daemon, check, free_port, run, wait_port

BENCH = os.path.join(os.environ.get("top_builddir", "."), "fh-bench")

CONFIG = ("[broker]\nallow_anonymous = true\nanonymous_publish = true\n"
          # counts every QoS 0 delivery: no slow-consumer drops here
          "max_output_buffer = 256M\nmax_output_buffer_hard = 0\n"
          "[listener mqtt]\nprotocol = mqtt\nbind = 127.0.0.1:{port}\n")

# (fh-bench arguments, messages published, deliveries per message)
RUNS = [
    (["-c", "5", "-n", "300", "fanout"], 300, 5),
    (["-c", "5", "-n", "300", "-q", "1", "fanout"], 300, 5),
    (["-c", "5", "-n", "200", "-r", "400", "-w", "20", "fanout"], 200, 5),
    (["-c", "8", "-n", "800", "fanin"], 800, 1),
    (["-c", "4", "-n", "200", "-q", "2", "fanin"], 200, 1),
    (["-c", "5", "-n", "100", "-s", "65536", "fanout"], 100, 5),
]

# Raw receivers: one thread, several (subscribers split unevenly), and
# 64 kB payloads, which no single read holds: the reader carries a split
# packet's start over and skips the rest. 300 subscribers connect through
# the per-thread cap on handshakes at once (128).
RAW_RUNS = [
    (["-R", "-c", "20", "-n", "500", "fanout"], 500, 20, 1),
    (["-R", "-T", "3", "-c", "31", "-n", "400", "-w", "10", "fanout"],
     400, 31, 3),
    (["-R", "-T", "2", "-c", "4", "-n", "60", "-s", "65536", "fanout"],
     60, 4, 2),
    (["-R", "-c", "300", "-n", "50", "fanout"], 50, 300, 1),
]


def result(out):
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return dict(kv.split("=", 1) for kv in line.split()[1:])
    return None


def bench(d, args):
    # -d/-D only bound the run; the assertions are on counts.
    cmd = [BENCH, "-Q", "-p", str(d.port), "-b", str(d.proc.pid),
           "-d", "60", "-D", "10"] + args
    r = run(cmd, timeout=120)
    res = result(r.stdout)
    check(res is not None, "%s: no RESULT line: %s %s"
          % (" ".join(args), r.stdout, r.stderr))
    return r, res


def check_counts(r, res, what, n, per):
    check(int(res["published"]) == n,
          "%s: published %s of %d" % (what, res["published"], n))
    check(int(res["expected"]) == n * per,
          "%s: expected %s" % (what, res["expected"]))
    check(int(res["delivered"]) == n * per,
          "%s: delivered %s of %d: %s" % (what, res["delivered"], n * per,
                                         r.stderr))
    check(res["lost"] == "0" and res["reordered"] == "0" and
          res["bad"] == "0" and res["failures"] == "0",
          "%s: %r" % (what, res))
    check(r.returncode == 0, "%s: exit %d" % (what, r.returncode))


def need_bench():
    if not os.access(BENCH, os.X_OK):
        fhtest.skip_case("fh-bench not built (libmosquitto-dev missing)")


def test_fh_bench_raw_receivers():
    need_bench()
    with Daemon(CONFIG) as d:
        for args, n, per, threads in RAW_RUNS:
            r, res = bench(d, args)
            what = " ".join(args)
            check_counts(r, res, what, n, per)
            check(res.get("raw") == "1" and
                  res.get("recv_threads") == str(threads) and
                  int(res["recv_reads"]) > 0,
                  "%s: %r" % (what, res))
            # every delivery took a latency sample, in the threads' merged
            # histogram (p99 of none would be 0)
            check(float(res["bench_cpu_s"]) >= float(res["recv_cpu_s"]),
                  "%s: bench CPU below its receivers': %r" % (what, res))
        # -R is for QoS 0 fanout only: refused, not half run
        r = run([BENCH, "-Q", "-p", str(d.port), "-R", "-q", "1",
                 "fanout"], timeout=30)
        check(r.returncode == 2 and "RESULT" not in r.stdout,
              "-R -q 1: %d %r" % (r.returncode, r.stdout))
        check(d.alive(), "firehosed died")


def test_fh_bench_echo_relay():
    need_bench()
    port = free_port()
    echo = subprocess.Popen([BENCH, "-Q", "-p", str(port), "echo"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_port(port, proc=echo)
        for args, n, per in [(["-R", "-T", "2", "-c", "50", "-n", "300",
                               "fanout"], 300, 50),
                             (["-c", "5", "-n", "200", "fanout"], 200, 5),
                             (["-c", "4", "-n", "400", "fanin"], 400, 1)]:
            cmd = [BENCH, "-Q", "-p", str(port), "-b", str(echo.pid),
                   "-d", "60", "-D", "10"] + args
            r = run(cmd, timeout=120)
            res = result(r.stdout)
            check(res is not None, "echo %s: no RESULT: %s %s"
                  % (args, r.stdout, r.stderr))
            check_counts(r, res, "echo " + " ".join(args), n, per)
    finally:
        echo.send_signal(signal.SIGTERM)
        rc = echo.wait(timeout=10)
    check(rc == 0, "fh-bench echo exit %d: %s" % (rc, echo.stderr.read()))


def test_fh_bench_scenarios_run():
    if not os.access(BENCH, os.X_OK):
        fhtest.skip_case("fh-bench not built (libmosquitto-dev missing)")
    with Daemon(CONFIG) as d:
        for args, n, per in RUNS:
            r, res = bench(d, args)
            what = " ".join(args)
            check(int(res["published"]) == n,
                  "%s: published %s of %d" % (what, res["published"], n))
            check(int(res["expected"]) == n * per,
                  "%s: expected %s" % (what, res["expected"]))
            check(int(res["delivered"]) == n * per,
                  "%s: delivered %s of %d: %s" % (what, res["delivered"],
                                                 n * per, r.stderr))
            check(res["lost"] == "0" and res["reordered"] == "0" and
                  res["bad"] == "0" and res["failures"] == "0",
                  "%s: %r" % (what, res))
            check(int(res["broker_rss_kb"]) > 0, "no broker RSS: %r" % res)
            check(r.returncode == 0, "%s: exit %d" % (what, r.returncode))

        r, res = bench(d, ["-c", "40", "idle"])
        check(res["connected"] == "40" and res["failures"] == "0",
              "idle: %r %s" % (res, r.stderr))
        check(r.returncode == 0, "idle: exit %d" % r.returncode)
        r, res = bench(d, ["-c", "20", "-S", "idle"])
        check(res["connected"] == "20", "idle -S: %r" % res)
        check(d.alive(), "firehosed died")


fhtest.run_cases(globals())
