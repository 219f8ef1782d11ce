#!/usr/bin/python3
"""The original mqtt callback's path keeps working: it published each event
with paho's publish.single (a new connection per event, client id "",
QoS 0) as a user from the broker's password file (mosquitto_passwd). The
same topic shapes and payloads, published that way, reach subscribers
unchanged; anonymous and wrong-password publishes do not."""
import json
import os
import subprocess
import uuid

import fhtest
import mqtttest
from fhtest import Daemon, check, need
from mqtttest import Sub

CONF = """[broker]
allow_anonymous = true
anonymous_publish = false
password_file = {tmp}/passwd
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
"""

USER, PASSWORD = "infra", "infra-secret"


def original_events():
    """The original plugin's topics and payloads (ansible_result as a JSON
    string, FAILED with the session as playbook_id)."""
    host, session = "puppetmaster.openstack.org", str(uuid.uuid1())
    pid = str(uuid.uuid4())
    name = "localhost:!disabled"
    result = json.dumps({"changed": False, "ping": "pong"})
    task = {"host": host, "ansible_host": "controller00", "session": session,
            "ansible_type": "task", "playbook_name": name,
            "playbook_id": pid, "ansible_task": "TASK: ping",
            "ansible_result": result}
    return [
        ("playbook/%s/action/start" % pid,
         {"status": "OK", "host": host, "session": session,
          "playbook_name": name, "playbook_id": pid,
          "ansible_type": "start"}),
        ("playbook/%s/task/controller00/OK" % pid,
         dict(task, status="OK")),
        ("playbook/%s/task/controller00/FAILED" % pid,
         {"status": "FAILED", "host": host, "ansible_type": "task",
          "playbook_name": name, "playbook_id": session,
          "ansible_task": "TASK: ping", "ansible_result": result,
          "ansible_host": "controller00"}),
        ("playbook/%s/task/gone/UNREACHABLE" % pid,
         dict(task, status="UNREACHABLE", ansible_host="gone")),
        ("playbook/%s/stats/controller00" % pid,
         {"host": host, "ansible_host": "controller00", "playbook_id": pid,
          "playbook_name": name,
          "stats": {"ok": 1, "changed": 0, "unreachable": 0, "failures": 1,
                    "skipped": 0}}),
        ("playbook/%s/action/finish/FAILED" % pid,
         {"playbook_id": pid, "playbook_name": name, "status": "FAILED"}),
    ]


def original_plugin_case(body):
    """body(d, sub, auth, publish) with a daemon that has the plugin's
    user, and a stock subscriber on ansible/#."""
    need("mosquitto_sub", "mosquitto_passwd")
    try:
        from paho.mqtt import publish
    except ImportError:
        raise AssertionError("python3-paho-mqtt is missing under "
                             "/usr/bin/python3")
    with Daemon(CONF, wait=None) as d:
        pw = os.path.join(d.tmp, "passwd")
        r = subprocess.run(["mosquitto_passwd", "-c", "-b", pw, USER,
                            PASSWORD], capture_output=True, text=True)
        check(r.returncode == 0, "mosquitto_passwd: " + r.stderr)
        d.start()
        sub = Sub(d.port, "ansible/#")
        try:
            body(d, sub, {"username": USER, "password": PASSWORD}, publish)
        finally:
            sub.close()


def republish(d, publish, auth):
    events = original_events()
    for topic, payload in events:
        publish.single("ansible/" + topic, json.dumps(payload),
                       hostname="127.0.0.1", port=d.port, client_id="",
                       auth=auth)
    return ["ansible/%s %s" % (t, json.dumps(p)) for t, p in events]


def test_original_plugin_events_delivered_in_order():
    def body(d, sub, auth, publish):
        want = republish(d, publish, auth)
        got = sub.messages(len(want), timeout=20)
        check(got == want, "got\n%s\nwant\n%s" % ("\n".join(got),
                                                    "\n".join(want)))
    original_plugin_case(body)


def test_anonymous_publish_dropped():
    def body(d, sub, auth, publish):
        publish.single("ansible/playbook/anon/action/start", "{}",
                       hostname="127.0.0.1", port=d.port, client_id="")
        # the plugin's own events come next: the anonymous one would be
        # first among them
        want = republish(d, publish, auth)
        got = sub.messages(len(want), timeout=20)
        check(got == want, "got\n%s" % "\n".join(got))
    original_plugin_case(body)


def test_wrong_password_refused():
    # A client that waits (bounded) for its CONNACK: paho's
    # publish.single() would retry a connection lost before the CONNACK
    # forever.
    def body(d, sub, auth, publish):
        mqtttest.Client(d.port, "", user=USER, password="nope",
                        expect_rc=4)
    original_plugin_case(body)


fhtest.run_cases(globals())
