#!/usr/bin/python3
"""A real ansible-playbook with the firehose plugin: mosquitto_sub sees the
whole life of the playbook, in the original plugin's topics and payloads,
once over TCP with a bearer token (plugin configured in the environment)
and once over a unix socket (configured in ansible.cfg)."""
import json
import os
import queue
import socket
import subprocess
import threading
import time

import fhtest
from fhtest import Daemon, check, need
import fhansible as fa

TOKEN = "playbook-token-1234"


class Sub:
    """mosquitto_sub -v on ansible/#, read line by line in a thread."""

    def __init__(self, port):
        self.proc = subprocess.Popen(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port),
             "-t", "ansible/#", "-v"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def get(self, timeout):
        line = self.lines.get(timeout=timeout)
        topic, _, payload = line.partition(" ")
        return topic, json.loads(payload)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def wait_subscribed(sub, post):
    """Post probe events until the subscriber sees one."""
    deadline = time.time() + 20
    probe = {"ansible_type": "start", "host": "probe", "session": "probe",
             "playbook_name": "probe", "playbook_id": "probe"}
    while time.time() < deadline:
        post(probe)
        try:
            while True:
                topic, _ = sub.get(0.3)
                if topic == "ansible/playbook/probe/action/start":
                    break
        except queue.Empty:
            continue
        # Drain the other probes still in flight.
        time.sleep(0.3)
        while not sub.lines.empty():
            sub.lines.get_nowait()
        return
    raise AssertionError("the subscriber never saw a probe event")


EXPECTED = [
    "action/start",
    "task/localhost/OK",
    "task/unreachable-host/SKIPPED",
    "task/unreachable-host/UNREACHABLE",
    "task/localhost/FAILED",
    "task/localhost/SKIPPED",
    "stats/localhost",
    "stats/unreachable-host",
    "action/finish/FAILED",
]


def check_run(sub, r):
    out = r.stdout + r.stderr
    check(r.returncode == 4, "playbook rc %d\n%s" % (r.returncode, out))
    check("[WARNING]" not in out, "warning with a live daemon\n" + out)
    got = {}
    order = []
    try:
        while len(order) < len(EXPECTED):
            topic, payload = sub.get(30)
            if "/probe/" in topic:
                continue
            order.append(topic)
            got[topic] = payload
    except queue.Empty:
        raise AssertionError("only got %r" % order)
    pid = order[0].split("/")[2]
    want = ["ansible/playbook/%s/%s" % (pid, t) for t in EXPECTED]
    check(sorted(order) == sorted(want), "topics %r\nwant %r" % (order, want))
    check(order[0].endswith("/action/start"), "start first: %r" % order)
    check(order[-1].endswith("/action/finish/FAILED"),
          "finish last: %r" % order)
    # Per host, the tasks arrive in playbook order.
    lh = [t for t in order if "/localhost/" in t]
    check(lh == ["ansible/playbook/%s/task/localhost/%s" % (pid, s)
                 for s in ("OK", "FAILED", "SKIPPED")], lh)

    host = socket.gethostname()
    p = lambda t: got["ansible/playbook/%s/%s" % (pid, t)]
    start = p("action/start")
    session = start["session"]
    check(start == {"status": "OK", "host": host, "session": session,
                    "playbook_name": "firehose test play",
                    "playbook_id": pid, "ansible_type": "start"}, start)
    for t in EXPECTED[1:6]:
        ev = p(t)
        ah, st = t.split("/")[1:3]
        keys = ["status", "host", "ansible_host", "session", "ansible_type",
                "playbook_name", "playbook_id", "ansible_task",
                "ansible_result"]
        if st == "FAILED":
            keys.append("ignore_errors")
        check(list(ev) == keys, "%s keys %r" % (t, list(ev)))
        check(ev["status"] == st and ev["ansible_host"] == ah and
              ev["host"] == host and ev["session"] == session and
              ev["playbook_id"] == pid and ev["ansible_type"] == "task" and
              ev["playbook_name"] == "firehose test play", ev)
        check(isinstance(ev["ansible_result"], dict),
              "ansible_result must be an object: %r" % ev)
        check(ev["ansible_task"].startswith("TASK: "), ev)
    ok = p("task/localhost/OK")
    check(ok["ansible_task"] == "TASK: say hello" and
          ok["ansible_result"]["msg"] == "hello firehose", ok)
    failed = p("task/localhost/FAILED")
    check(failed["ignore_errors"] is True and
          failed["ansible_result"]["rc"] == 1 and
          failed["ansible_result"]["cmd"] == ["/bin/false"], failed)
    unr = p("task/unreachable-host/UNREACHABLE")
    check(unr["ansible_result"]["unreachable"] is True, unr)
    skipped = p("task/localhost/SKIPPED")
    check(skipped["ansible_task"] == "TASK: never runs" and
          "skip_reason" in skipped["ansible_result"], skipped)
    for h, counts in (("localhost", dict(ok=2, changed=1, unreachable=0,
                                         failures=0, skipped=1)),
                      ("unreachable-host", dict(ok=0, changed=0,
                                                unreachable=1, failures=0,
                                                skipped=1))):
        s = p("stats/" + h)
        check(s["host"] == host and s["ansible_host"] == h and
              s["playbook_id"] == pid and s["session"] == session and
              s["playbook_name"] == "firehose test play", s)
        for k, v in counts.items():
            check(s["stats"][k] == v, "%s stats %r want %r" % (h, s, counts))
    fin = p("action/finish/FAILED")
    check(fin["status"] == "FAILED" and fin["playbook_id"] == pid and
          fin["playbook_name"] == "firehose test play" and
          fin["session"] == session, fin)
    return pid


def playbook_case(body):
    """body(d, url, sub) against a daemon on TCP and a unix socket, with
    a subscriber that sees the source's events."""
    need("ansible-playbook", "mosquitto_sub")
    p = fa.ports()
    conf = fa.config("127.0.0.1:{http} unix:{tmp}/ansible.sock",
                     "token_file = {tmp}/token\n")
    with Daemon(conf, ports=p, wait=None) as d:
        with open(os.path.join(d.tmp, "token"), "w") as f:
            f.write(TOKEN + "\n")
        d.start()
        fa.wait_http(p["http"])
        url = "http://127.0.0.1:%d" % p["http"]

        def post(ev):
            c = fa.connect(p["http"])
            fa.request(c, body=ev,
                       headers={"Authorization": "Bearer " + TOKEN})
            c.close()

        sub = Sub(d.port)
        try:
            wait_subscribed(sub, post)
            return body(d, url, sub)
        finally:
            sub.close()


def test_playbook_over_tcp_with_a_token():
    playbook_case(lambda d, url, sub: check_run(
        sub, fa.playbook(d.tmp, url, token=TOKEN)))


def test_playbook_over_the_unix_socket_from_ansible_cfg():
    playbook_case(lambda d, url, sub: check_run(sub, fa.playbook(
        d.tmp, "unix:%s/ansible.sock" % d.tmp, token=TOKEN, cfg=True)))


def test_each_run_has_its_own_playbook_id():
    def body(d, url, sub):
        pid1 = check_run(sub, fa.playbook(d.tmp, url, token=TOKEN))
        pid2 = check_run(sub, fa.playbook(d.tmp, url, token=TOKEN))
        check(pid1 != pid2, "each run has its own playbook id")
    playbook_case(body)


def test_without_the_token_refused_with_one_warning():
    # Every event is refused and the playbook still finishes.
    def body(d, url, sub):
        r = fa.playbook(d.tmp, url)
        out = r.stdout + r.stderr
        check(r.returncode == 4, out)
        check(out.count("[WARNING]: firehose:") == 1 and "401" in out, out)
    playbook_case(body)


fhtest.run_cases(globals())
