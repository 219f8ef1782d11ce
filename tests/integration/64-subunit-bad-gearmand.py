#!/usr/bin/python3
"""subunit source against a misbehaving gearmand: every kind of bad packet
costs that one connection (a protocol error, counted and logged), the
worker reconnects and still does its jobs right, also when packets arrive
in pieces. The fake server is a script on loopback; no real gearmand could
be made to send these."""
import json
import socket
import struct
import threading
import time

import fhtest
from fhtest import Daemon, check
import gearmanlib as gl

CONFIG = """
[gateway]
log_level = debug
[broker]
[listener mqtt]
protocol = mqtt
bind = 127.0.0.1:{port}
[source subunit]
type = subunit
gearman = 127.0.0.1:{fake}
concurrency = 1
"""

GRAB_JOB_UNIQ, PRE_SLEEP, NO_JOB, JOB_ASSIGN, JOB_ASSIGN_UNIQ = 30, 4, 10, 11, 31
NOOP, ERROR, ECHO_REQ, ECHO_RES = 6, 19, 16, 17

ABORTED = json.dumps({"event": {"fields": {
    "project": "openstack/nova", "build_change": "7",
    "build_status": "ABORTED", "build_uuid": "u7"}}})

# (what is sent after the worker's first GRAB_JOB_UNIQ, log text expected)
BAD = [
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not a gearman response"),
    (gl.RES + struct.pack("!II", NO_JOB, 2 << 20), "packet over 1 MiB"),
    (gl.packet(gl.REQ, NOOP), "unexpected NOOP request"),
    (gl.packet(gl.RES, ERROR, "ERR_TEST", "go away"),
     "server error ERR_TEST: go away"),
    (gl.packet(gl.RES, JOB_ASSIGN_UNIQ, "H:1", "push-subunit"),
     "malformed JOB_ASSIGN_UNIQ packet"),
    (gl.packet(gl.RES, JOB_ASSIGN_UNIQ, "", "push-subunit", "", ABORTED),
     "bad job handle in JOB_ASSIGN_UNIQ"),
    ("sleep-then-assign", "JOB_ASSIGN_UNIQ without GRAB_JOB"),
]


class Fake:
    """One connection at a time; the n-th connection gets BAD[n], the one
    after them behaves."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.port = self.srv.getsockname()[1]
        self.closed_by_worker = 0
        self.results = []
        self.error = None
        self.done = threading.Event()
        threading.Thread(target=self.run, daemon=True).start()

    def expect(self, s, ptype):
        while True:
            magic, t, data = gl.read_packet(s)
            if magic != gl.REQ:
                raise AssertionError("worker sent magic %r" % magic)
            if t == ECHO_REQ:
                self.echo = data
            if t == ptype:
                return data

    def wait_closed(self, s):
        s.settimeout(20)
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
        self.closed_by_worker += 1

    def run(self):
        try:
            for i, (bad, _) in enumerate(BAD):
                s, _ = self.srv.accept()
                self.echo = None
                self.expect(s, GRAB_JOB_UNIQ)
                if i > 0:
                    # a gearman server (the worker's echo comes back)
                    # that goes wrong later; the first one never was one
                    s.sendall(gl.packet(gl.RES, ECHO_RES, self.echo))
                if bad == "sleep-then-assign":
                    s.sendall(gl.packet(gl.RES, NO_JOB))
                    self.expect(s, PRE_SLEEP)
                    bad = gl.packet(gl.RES, JOB_ASSIGN_UNIQ, "H:2",
                                    "push-subunit", "", ABORTED)
                s.sendall(bad)
                self.wait_closed(s)
                s.close()
            self.behave()
        except Exception as e:  # reported by the test
            self.error = repr(e)
        self.done.set()

    def behave(self):
        s, _ = self.srv.accept()
        ids = []
        ids.append(self.expect(s, 22))      # SET_CLIENT_ID
        ids.append(self.expect(s, 1))       # CAN_DO
        self.expect(s, GRAB_JOB_UNIQ)
        # a good job, cut into three pieces mid-header and mid-data
        pkt = gl.packet(gl.RES, JOB_ASSIGN_UNIQ, "H:ok", "push-subunit",
                        "uniq", ABORTED)
        for piece in (pkt[:5], pkt[5:20], pkt[20:]):
            s.sendall(piece)
            time.sleep(0.05)
        magic, t, data = gl.read_packet(s)
        self.results.append((t, data))
        # the old JOB_ASSIGN (no unique) with an argument that is not JSON
        self.expect(s, GRAB_JOB_UNIQ)
        s.sendall(gl.packet(gl.RES, JOB_ASSIGN, "H:bad", "push-subunit",
                            "not json"))
        magic, t, data = gl.read_packet(s)
        self.results.append((t, data))
        self.expect(s, GRAB_JOB_UNIQ)
        s.sendall(gl.packet(gl.RES, NO_JOB))
        self.expect(s, PRE_SLEEP)
        self.ids = ids
        self.conn = s


STATE = {}


@fhtest.once
def scenario():
    """The fake gearmand's whole script against one daemon; the cases
    check what it saw and what the daemon logged; the last one stops the
    daemon."""
    fake = Fake()
    d = Daemon(CONFIG, ports={"fake": fake.port})
    STATE.update(d=d, fake=fake)
    check(fake.done.wait(60), "fake gearmand not done: " + d.logtext())
    check(fake.error is None, "%s\n%s" % (fake.error, d.logtext()))
    return fake, d


def test_each_bad_packet_costs_its_connection_only():
    fake, d = scenario()
    check(fake.closed_by_worker == len(BAD), fake.closed_by_worker)


def test_each_bad_packet_logged_once_as_a_protocol_error():
    fake, d = scenario()
    log = d.logtext()
    for _, why in BAD:
        check(why in log, "no %r in the log:\n%s" % (why, log))
    check(log.count("protocol error") == len(BAD), log)
    check(log.count(": cannot connect (not a gearman response)") == 1, log)
    check("gearman 127.0.0.1:%d: connected" % fake.port in log, log)


def test_a_good_job_in_pieces_answered():
    fake, d = scenario()
    (t1, d1), _ = fake.results
    check(t1 == gl.WORK_COMPLETE, "good job answered with %d" % t1)
    handle, _, payload = d1.partition(b"\0")
    check(handle == b"H:ok", handle)
    p = json.loads(payload)
    check(p["status"] == "failed" and p["error"] == "build aborted" and
          p["build_uuid"] == "u7", p)


def test_an_old_job_assign_with_a_bad_argument_failed():
    fake, d = scenario()
    _, (t2, d2) = fake.results
    check((t2, d2) == (gl.WORK_FAIL, b"H:bad"), (t2, d2))


def test_zz_clean_exit():
    if "fake" in STATE and getattr(STATE["fake"], "conn", None):
        STATE["fake"].conn.close()
    if "d" in STATE:
        with STATE["d"]:
            pass


fhtest.run_cases(globals())
