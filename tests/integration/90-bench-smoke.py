#!/usr/bin/python3
"""fh-bench against firehosed, very briefly: every message is delivered.

Counts only (published, delivered, lost, out of order, connections), never
timing. Skips when fh-bench was not built (no libmosquitto).
"""
import os

import fhtest
from fhtest import Daemon, check, run

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
