#!/usr/bin/python3
"""subunit source: gearmand restarts and several servers.

The worker reconnects with backoff, registers again (SET_CLIENT_ID,
CAN_DO) and goes on taking jobs; a job cut off by the restart is dropped,
not answered twice; a server that is down at start is logged once and
joined when it comes up.
"""
import json
import tempfile
import time

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
[source subunit]
type = subunit
gearman = 127.0.0.1:{gearman}, 127.0.0.1:{second}
worker_id = restart-pusher
concurrency = 2
"""


def wait(cond, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def complete(g, files, bus, change):
    url = files.url("/ok/testrepository.subunit")
    kind, data = gl.submit(g.port, "push-subunit",
                           gl.job(url, change=change))
    check(kind == "complete", "job %s: %s" % (change, kind))
    p = json.loads(data)
    check(p["status"] == "success" and p["build_change"] == change, p)
    m = bus.get(10)
    check(m is not None and m.topic.endswith("/openstack/nova/" + change),
          "event for %s: %r" % (change, m and m.topic))
    check(json.loads(m.payload) == p, m.payload)
    return p


STATE = {}


@fhtest.once
def scenario():
    """gearmand, a second server that is down, and one daemon; the cases
    below run in order on them, and the last one stops everything."""
    need("gearmand")
    tmp = tempfile.mkdtemp(prefix="fh-subunit-")
    g = gl.Gearmand(tmp)
    files = gl.Files()
    STATE.update(g=g, files=files, tmp=tmp, second_port=free_port())
    d = Daemon(CONFIG, ports={"gearman": g.port,
                              "second": STATE["second_port"]})
    STATE["d"] = d
    files.add("/ok/testrepository.subunit", gl.subunit_run(tmp), gz=True)
    check(g.wait_workers("push-subunit", 2), d.logtext())
    bus = mqtttest.Client(d.port)
    bus.sub("gearman-subunit/#", 1)
    STATE["bus"] = bus
    return g, files, d, bus


def test_a_job_completes():
    g, files, d, bus = scenario()
    complete(g, files, bus, "1")


def test_a_down_server_logged_once():
    g, files, d, bus = scenario()
    # One line about it, however many tries (the backoff makes several
    # within a few seconds).
    name = "127.0.0.1:%d" % STATE["second_port"]
    wait(lambda: d.logtext().count(name + ": cannot connect") >= 1,
         "the down server to be logged")
    time.sleep(2)
    check(d.logtext().count(name + ": cannot connect") == 1, d.logtext())


def test_gearmand_restart_between_jobs():
    g, files, d, bus = scenario()
    g.stop()
    wait(lambda: "connection lost" in d.logtext(), "lost")
    g.start()
    check(g.wait_workers("push-subunit", 2),
          "no CAN_DO after restart: " + d.logtext())
    check("restart-pusher" in g.client_ids(), g.client_ids())
    complete(g, files, bus, "2")
    check(d.logtext().count("connection lost") == 1, d.logtext())


def test_gearmand_restart_mid_job_drops_it_and_goes_on():
    g, files, d, bus = scenario()
    files.add("/stall/t.subunit", gl.subunit_run(STATE["tmp"]), gz=True)
    t = gl.SubmitThread(g.port, "push-subunit",
                        gl.job(files.url("/stall/t.subunit"), change="3"))
    t.start()
    wait(lambda: "/stall/t.subunit.gz" in files.requests,
         "the slow fetch to start")
    g.stop()
    g.start()
    t.join(30)
    check(t.result[0] == "error", "cut-off job: %r" % (t.result,))
    check(g.wait_workers("push-subunit", 2), d.logtext())
    complete(g, files, bus, "4")
    wait(lambda: "abandoned" in d.logtext(), "the job abandoned")


def test_second_server_up_worker_joins():
    g, files, d, bus = scenario()
    g2 = STATE["g2"] = gl.Gearmand(STATE["tmp"], port=STATE["second_port"])
    check(g2.wait_workers("push-subunit", 2, timeout=60),
          "not registered on the second server: " + d.logtext())
    kind, data = gl.submit(g2.port, "push-subunit",
                           gl.job(files.url("/ok/testrepository.subunit"),
                                  change="5"))
    check(kind == "complete", "second server job: %s" % kind)
    m = bus.get(10)
    check(m is not None and m.topic.endswith("/nova/5"), m)


def test_nothing_for_the_job_cut_off():
    g, files, d, bus = scenario()
    bus.nothing()
    check("protocol error" not in d.logtext(), d.logtext())


def test_zz_clean_exit():
    fhtest.finish(STATE, "bus", "d", "files", "g", "g2")


fhtest.run_cases(globals())
