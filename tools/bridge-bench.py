#!/usr/bin/python3
"""bridge-bench: how fast a firehosed bridge forwards to a real Mosquitto.

  tools/bridge-bench.py [-n EVENTS] [-s BYTES] [-q QOS] [--inflight N]
                        [--firehosed PATH]

Two figures, each on loopback with a private Mosquitto (Debian's
/usr/sbin/mosquitto) and a private firehosed, both started here:

  live   events published to firehosed (mosquitto_pub -l, one connection,
         at QOS) while the bridge is up, until a mosquitto_sub on the
         remote has them all: events/s end to end.
  drain  the same number of events queued while the remote is down, then
         the remote started: events/s from the remote's start until its
         subscriber (a persistent session made beforehand) has them all.

Each figure comes with the CPU seconds firehosed and Mosquitto used
meanwhile (utime + stime from /proc/PID/stat), to tell which one was the
limit. The last line is machine readable:
  RESULT qos=Q events=N size=S live_eps=... drain_eps=... ...
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from bridgetest import Mosquitto, bridge_metric  # noqa: E402
import fhtest  # noqa: E402
from fhtest import Daemon, free_port, wait_port  # noqa: E402


def cpu(pid):
    """utime + stime of pid, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mosq(tmp, port, start=True):
    return Mosquitto(tmp, "persistence true\npersistence_location %s/\n"
                     "max_queued_messages 0\nmax_inflight_messages 0\n"
                     "queue_qos0_messages true\nmax_queued_bytes 0\n"
                     % tmp, port=port, start=start)


def sub(port, n, qos, timeout):
    return subprocess.Popen(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t",
         "bench/#", "-q", str(qos), "-C", str(n), "-W", str(timeout),
         "-c", "-i", "bench-sub"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def publish(port, n, size, qos):
    line = ("x" * size + "\n").encode()
    p = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p",
                          str(port), "-t", "bench/load", "-q", str(qos),
                          "-l"], stdin=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    chunk = line * 1000
    left = n
    while left > 0:
        k = min(left, 1000)
        p.stdin.write(chunk if k == 1000 else line * k)
        left -= k
    p.stdin.close()
    return p


def firehosed_conf(port, qos, inflight, state=""):
    return ("[gateway]\n" +
            ("state_dir = %s\n" % state if state else "") +
            "[broker]\nanonymous_publish = true\nsys_interval = 0\n"
            "max_inflight_messages = 1000\n"
            "[listener mqtt]\nbind = 127.0.0.1:{port}\n"
            "[listener web]\nprotocol = ws\nbind = 127.0.0.1:{web}\n"
            "[bridge up]\naddress = 127.0.0.1:%d\nclient_id = bench\n"
            "restart_timeout = 100ms 200ms\nmax_queued = 1G\n"
            "max_inflight = %d\nnotifications = false\n"
            "topic = bench/# out %d\n" % (port, inflight, qos))


def wait_metric(d, name, want, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = bridge_metric(d, name, "up")
        if v is not None and v >= want:
            return v
        time.sleep(0.05)
    raise SystemExit("%s did not reach %d" % (name, want))


def live(args, tmp):
    port = free_port()
    with mosq(tmp, port) as m:
        s = sub(m.port, args.n, max(args.qos, 1), 600)
        time.sleep(0.3)
        with Daemon(firehosed_conf(m.port, args.qos, args.inflight),
                    ports={"web": free_port()}) as d:
            wait_metric(d, "connected", 1, 10)
            c0 = (cpu(d.proc.pid), cpu(m.proc.pid))
            t0 = time.time()
            p = publish(d.port, args.n, args.size, args.qos)
            if s.wait(600) != 0:
                raise SystemExit("subscriber: " + s.stderr.read().decode())
            dt = time.time() - t0
            c1 = (cpu(d.proc.pid), cpu(m.proc.pid))
            p.wait(60)
    return args.n / dt, c1[0] - c0[0], c1[1] - c0[1], dt


def drain(args, tmp):
    port = free_port()
    m = mosq(tmp, port)
    try:
        return drain_with(args, m, port)
    finally:
        m.stop()


def drain_with(args, m, port):
    # the subscriber's persistent session, so that it gets what arrives
    # before it is back
    s = sub(m.port, 1, 1, 1)
    s.wait(10)
    m.stop()
    with Daemon(firehosed_conf(port, args.qos, args.inflight),
                ports={"web": free_port()}) as d:
        p = publish(d.port, args.n, args.size, args.qos)
        p.wait(600)
        wait_metric(d, "queued", args.n, 120)
        c0 = cpu(d.proc.pid)
        t0 = time.time()
        m.start()
        s = sub(m.port, args.n, 1, 600)
        if s.wait(600) != 0:
            raise SystemExit("subscriber: " + s.stderr.read().decode())
        dt = time.time() - t0
        fc, mc = cpu(d.proc.pid) - c0, cpu(m.proc.pid)
    return args.n / dt, fc, mc, dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=50000)
    ap.add_argument("-s", "--size", type=int, default=200)
    ap.add_argument("-q", "--qos", type=int, default=1, choices=(0, 1, 2))
    ap.add_argument("--inflight", type=int, default=100)
    ap.add_argument("--firehosed", default=fhtest.FIREHOSED)
    args = ap.parse_args()
    fhtest.FIREHOSED = os.path.abspath(args.firehosed)
    for t in ("mosquitto_pub", "mosquitto_sub"):
        if shutil.which(t) is None:
            raise SystemExit(t + " not installed")
    tmp = tempfile.mkdtemp(prefix="fh-bridge-bench-")
    try:
        os.mkdir(os.path.join(tmp, "live"))
        lv, lf, lm, lt = live(args, os.path.join(tmp, "live"))
        print("live:  %d events of %d bytes at QoS %d: %.0f events/s "
              "(%.2fs; CPU firehosed %.2fs, mosquitto %.2fs)" %
              (args.n, args.size, args.qos, lv, lt, lf, lm))
        os.mkdir(os.path.join(tmp, "drain"))
        dr, df, dm, dt = drain(args, os.path.join(tmp, "drain"))
        print("drain: %d queued events of %d bytes at QoS %d: %.0f "
              "events/s (%.2fs; CPU firehosed %.2fs, mosquitto %.2fs)" %
              (args.n, args.size, args.qos, dr, dt, df, dm))
        print("RESULT qos=%d events=%d size=%d inflight=%d live_eps=%.0f "
              "drain_eps=%.0f live_cpu_fh=%.2f live_cpu_mosq=%.2f "
              "drain_cpu_fh=%.2f drain_cpu_mosq=%.2f" % (
                  args.qos, args.n, args.size, args.inflight, lv, dr,
                  lf, lm, df, dm))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
