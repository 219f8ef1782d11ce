#!/usr/bin/python3
"""subunit source against a real gearmand: every kind of build.

Jobs go in through gearmand with a small binary-protocol client; subunit
streams come from python3-subunit running fake test suites and are served
gzipped and plain by a test HTTP server. For each job the client's result
(WORK_COMPLETE with the event's payload, or WORK_FAIL) is checked, and so is
what a subscriber gets on gearman-subunit/#.
"""
import json
import socket
import subprocess
import tempfile
import urllib.request

import fhtest
from fhtest import Daemon, check, free_port, need
import gearmanlib as gl
import mqtttest

CONFIG = """
[gateway]
log_level = debug
[broker]
[listener mqtt]
protocol = mqtt
bind = 127.0.0.1:{port}
[listener web]
protocol = ws
bind = 127.0.0.1:{web}
[source subunit]
type = subunit
gearman = 127.0.0.1:{gearman}
worker_id = fh-test-pusher
concurrency = 2
fetch_timeout = 20s
[source small]
type = subunit
gearman = 127.0.0.1:{gearman}
function = push-subunit-small
max_stream_size = 64k
fetch_timeout = 2s
concurrency = 1
"""

HOST = socket.gethostname().split(".")[0]


def topic(project, level):
    return "gearman-subunit/%s/%s/%s" % (HOST, project, level)


class Bus:
    """A subscriber on gearman-subunit/#: every job's event, in order."""

    def __init__(self, port):
        self.c = mqtttest.Client(port)
        self.c.sub("gearman-subunit/#", 1)

    def event(self, topic):
        m = self.c.get(10)
        check(m is not None, "no event, want one on " + topic)
        check(m.topic == topic, "event on %s, want %s" % (m.topic, topic))
        return json.loads(m.payload)


def run_job(g, bus, function, arg, topic):
    """Submit, wait for the result, take the event; the client's
    WORK_COMPLETE carries the same payload as the event."""
    kind, data = gl.submit(g.port, function, arg)
    p = bus.event(topic) if topic is not None else None
    if kind == "complete":
        check(json.loads(data) == p, "result %r != event %r" % (data, p))
    return kind, p


def gearman_tool(g, function, arg, *flags):
    """The gearman client from gearman-tools."""
    return subprocess.run(["gearman", "-h", "127.0.0.1", "-p", str(g.port),
                           "-f", function] + list(flags) + [json.dumps(arg)],
                          capture_output=True, text=True, timeout=60)


STATE = {}


@fhtest.once
def scenario():
    """gearmand, the file server and one daemon for the cases below, in
    order (the counters at the end add them up); the last case stops it
    all."""
    need("gearmand")
    tmp = tempfile.mkdtemp(prefix="fh-subunit-")
    g = gl.Gearmand(tmp)
    files = gl.Files()
    STATE.update(g=g, files=files)
    d = Daemon(CONFIG, ports={"gearman": g.port, "web": free_port()})
    STATE["d"] = d
    check(g.wait_workers("push-subunit", 2),
          "worker did not register: " + d.logtext())
    check(g.wait_workers("push-subunit-small", 1),
          "second worker did not register")
    check("fh-test-pusher" in g.client_ids(),
          "SET_CLIENT_ID not seen: %r" % g.client_ids())
    bus = Bus(d.port)
    return (g, files, d, bus, gl.subunit_run(d.tmp),
            gl.subunit_run(d.tmp, failing=True))


def test_passing_run_served_gzipped():
    g, files, d, bus, passing, failing = scenario()
    # A passing run, served gzipped: one request, for the .gz.
    files.add("/1001/testrepository.subunit", passing, gz=True)
    url = files.url("/1001/testrepository.subunit")
    r = gearman_tool(g, "push-subunit", gl.job(url, change="1001"))
    check(r.returncode == 0, "gearman: %d %s" % (r.returncode, r.stderr))
    p = bus.event(topic("openstack/nova", "1001"))
    check(json.loads(r.stdout) == p, (r.stdout, p))
    check(p["status"] == "success", p)
    check(p["build_uuid"] == "5a3f2c1d9e" and p["source_url"] == url, p)
    check(p["fetched_url"] == url + ".gz", p)
    s = p["summary"]
    check(s["tests"]["success"] == 3 and s["tests"]["skip"] == 1, s)
    check(s["total"] == 4 and s["failing_tests"] == [], s)
    check(s["corrupt_packets"] == 0 and s["duration"] is not None, s)
    check(p["build_name"] == "gate-nova-python27" and
          p["build_change"] == "1001", p)
    check(files.requests.count("/1001/testrepository.subunit.gz") == 1,
          files.requests)


def test_failing_run_plain_file_after_gz_404():
    g, files, d, bus, passing, failing = scenario()
    # A failing run, only the plain file: .gz 404, then the plain URL.
    files.add("/1002/testrepository.subunit", failing)
    url = files.url("/1002/testrepository.subunit")
    kind, p = run_job(g, bus, "push-subunit", gl.job(url, change="1002"),
                      topic("openstack/nova", "1002"))
    check(kind == "complete", "fail run: %s" % kind)
    check(p["status"] == "success" and p["fetched_url"] == url, p)
    s = p["summary"]
    check(s["tests"]["fail"] == 2 and s["tests"]["success"] == 3, s)
    check(sorted(s["failing_tests"]) == [
        "test_fake.TestBroken.test_boot",
        "test_fake.TestBroken.test_reboot"], s)
    check(files.requests[-2:] == ["/1002/testrepository.subunit.gz",
                                  "/1002/testrepository.subunit"],
          files.requests)


def test_content_encoding_gzip_undone():
    g, files, d, bus, passing, failing = scenario()
    # Content-Encoding: gzip is undone by curl.
    url = files.url("/ce/1002/testrepository.subunit")
    kind, p = run_job(g, bus, "push-subunit", gl.job(url, change="1002"),
                      topic("openstack/nova", "1002"))
    check(kind == "complete" and p["summary"]["tests"]["fail"] == 2,
          (kind, p))


def test_periodic_build_in_the_background_queue_level():
    g, files, d, bus, passing, failing = scenario()
    # A periodic build, submitted in the background as Zuul's
    # submit-log-processor-jobs role does: no change, the queue names the
    # level.
    files.add("/periodic/testrepository.subunit", passing, gz=True)
    url = files.url("/periodic/testrepository.subunit")
    r = gearman_tool(g, "push-subunit",
                     gl.job(url, change=None, build_queue="periodic",
                            build_ref="refs/heads/master"), "-b")
    check(r.returncode == 0, "gearman -b: %s" % r.stderr)
    p = bus.event(topic("openstack/nova", "periodic"))
    check(p["status"] == "success", p)
    check("build_change" not in p and p["build_queue"] == "periodic", p)


def test_post_build_short_ref():
    g, files, d, bus, passing, failing = scenario()
    files.add("/periodic/testrepository.subunit", passing, gz=True)
    url = files.url("/periodic/testrepository.subunit")
    # A post build without a queue: the short ref.
    kind, p = run_job(g, bus, "push-subunit",
                      gl.job(url, project="openstack/oslo.config",
                             change=None, build_queue=None,
                             build_ref="refs/tags/1.2.3"),
                      topic("openstack/oslo.config", "1.2.3"))
    check(kind == "complete" and p["status"] == "success", (kind, p))


def test_aborted_build_nothing_fetched():
    g, files, d, bus, passing, failing = scenario()
    # An aborted build: nothing fetched; published as failed (the
    # original's word for these) with error "build aborted", and the
    # job completed.
    n = len(files.requests)
    kind, p = run_job(g, bus, "push-subunit",
                      gl.job(files.url("/aborted/x.subunit"),
                             change="1003", build_status="ABORTED"),
                      topic("openstack/nova", "1003"))
    check(kind == "complete" and p["status"] == "failed" and
          p["error"] == "build aborted" and p["build_status"] == "ABORTED",
          (kind, p))
    check("summary" not in p and len(files.requests) == n, files.requests)


def test_missing_file_job_fails_event_says_why():
    g, files, d, bus, passing, failing = scenario()
    # A missing file: both URLs 404, the job fails, the event says why.
    url = files.url("/1004/testrepository.subunit")
    r = gearman_tool(g, "push-subunit", gl.job(url, change="1004"))
    check(r.returncode != 0 and "Job failed" in r.stderr,
          "missing: %d %r" % (r.returncode, r.stderr))
    p = bus.event(topic("openstack/nova", "1004"))
    check(p["status"] == "failed" and p["error"] == "HTTP 404", p)
    check(p["fetched_url"] == url and "summary" not in p, p)
    check(p["build_uuid"] == "5a3f2c1d9e" and p["source_url"] == url, p)


def test_corrupt_stream():
    g, files, d, bus, passing, failing = scenario()
    # A corrupt stream: a bit flipped in the middle.
    files.add("/1005/testrepository.subunit",
              gl.corrupt(failing, len(failing) // 2), gz=True)
    url = files.url("/1005/testrepository.subunit")
    kind, p = run_job(g, bus, "push-subunit", gl.job(url, change="1005"),
                      topic("openstack/nova", "1005"))
    check(kind == "fail", "corrupt: %s" % kind)
    check(p["status"] == "failed", p)
    check(p["error"].startswith("corrupt subunit packet at offset "), p)
    s = p["summary"]
    check(s["corrupt_packets"] == 1 and s["packets"] > 10, s)
    check(s["error"]["reason"] == "bad checksum", s)


def test_not_a_job_failed_no_event():
    g, files, d, bus, passing, failing = scenario()
    # Not a job at all: failed, and no event.
    kind, p = run_job(g, bus, "push-subunit", b"this is not json", None)
    check(kind == "fail", "bad job: %s" % kind)
    bus.c.nothing()


def test_over_the_size_cap():
    g, files, d, bus, passing, failing = scenario()
    # Over the size cap (64k on push-subunit-small): a plain stream, and a
    # small .gz that inflates past the cap.
    big = gl.big_stream(200 * 1024)
    files.add("/1006/big.subunit", big)
    files.add("/1007/big.subunit", big, gz=True)
    for change in ("1006", "1007"):
        url = files.url("/%s/big.subunit" % change)
        kind, p = run_job(g, bus, "push-subunit-small",
                          gl.job(url, change=change),
                          topic("openstack/nova", change))
        check(kind == "fail", "too large %s: %s" % (change, kind))
        check(p["status"] == "failed" and "max_stream_size" in p["error"],
              p)


def test_log_server_stalls_past_fetch_timeout():
    g, files, d, bus, passing, failing = scenario()
    # A log server that does not answer in fetch_timeout (2s here).
    files.add("/stall/1008/t.subunit", passing, gz=True)
    kind, p = run_job(g, bus, "push-subunit-small",
                      gl.job(files.url("/stall/1008/t.subunit"),
                             change="1008"),
                      topic("openstack/nova", "1008"))
    check(kind == "fail" and p["status"] == "failed", (kind, p))
    check(p["error"] == "download timed out after 2000 ms", p)


def test_same_streams_fine_without_the_cap():
    g, files, d, bus, passing, failing = scenario()
    files.add("/1007/big.subunit", gl.big_stream(200 * 1024), gz=True)
    # ... and the same streams are fine for the worker without the cap.
    kind, p = run_job(g, bus, "push-subunit",
                      gl.job(files.url("/1007/big.subunit"), change="1007"),
                      topic("openstack/nova", "1007"))
    check(kind == "complete" and p["summary"]["tests"]["success"] == 1,
          (kind, p))


def test_concurrency_two_fetches_at_once():
    g, files, d, bus, passing, failing = scenario()
    # Concurrency: four slow jobs, never more than two fetches at once.
    for i in range(4):
        files.add("/slow/%d/t.subunit" % i, passing, gz=True)
    threads = [gl.SubmitThread(g.port, "push-subunit",
                               gl.job(files.url("/slow/%d/t.subunit" % i),
                                      change=str(2000 + i)))
               for i in range(4)]
    files.max_active = 0
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for t in threads:
        check(t.result is not None and t.result[0] == "complete", t.result)
    check(files.max_active == 2, "max parallel fetches %d, want 2" %
          files.max_active)
    got = sorted(bus.c.get(10).topic for _ in range(4))
    check(got == [topic("openstack/nova", str(2000 + i)) for i in range(4)],
          got)


def test_one_event_per_job_and_the_counters():
    g, files, d, bus, _, _ = scenario()
    bus.c.nothing()      # one event per job, no more
    check("protocol error" not in d.logtext(), d.logtext())
    check_counters(d)


def test_zz_clean_exit():
    fhtest.finish(STATE, "d", "files", "g")


def check_counters(d):
    """The source's counters on /metrics match the jobs run."""
    url = "http://127.0.0.1:%d/metrics" % d.ports["web"]
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    got = {}
    for line in text.splitlines():
        if line.startswith("firehose_source_") and "type=\"subunit\"" in line:
            name, _, value = line.rpartition(" ")
            metric, _, labels = name.partition("{")
            source = labels.split('source="')[1].split('"')[0]
            got[(source, metric[len("firehose_source_"):])] = float(value)
    want = {
        ("subunit", "jobs"): 14, ("subunit", "jobs_completed"): 11,
        ("subunit", "jobs_failed"): 3, ("subunit", "jobs_invalid"): 1,
        ("subunit", "not_found"): 1, ("subunit", "corrupt_streams"): 1,
        ("subunit", "aborted_builds"): 1, ("subunit", "events"): 13,
        ("subunit", "jobs_in_flight"): 0, ("subunit", "protocol_errors"): 0,
        ("subunit", "connections_up"): 2, ("subunit", "jobs_abandoned"): 0,
        ("small", "jobs"): 3, ("small", "jobs_failed"): 3,
        ("small", "too_large"): 2, ("small", "fetch_errors"): 1,
        ("small", "connections_up"): 1,
    }
    for k, v in want.items():
        check(got.get(k) == v, "%s: %r, want %r" % (k, got.get(k), v))


fhtest.run_cases(globals())
