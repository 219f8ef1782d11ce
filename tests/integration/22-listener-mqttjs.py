#!/usr/bin/python3
"""MQTT.js (npm package mqtt, from tests/integration/node) over ws and wss:
a ~1 MB message and a burst of 10,000 small ones, all delivered in order."""
import json
import os
import tempfile

import fhtest
from fhtest import SRCDIR, Daemon, check, free_port, need, run, \
    wait_port
from transport import make_pki

NODE_DIR = os.path.join(os.path.abspath(SRCDIR), "tests", "integration",
                        "node")

CONF = """[broker]
anonymous_publish = true
sys_interval = 0
max_queued_messages = 20000
[listener tcp]
bind = 127.0.0.1:{port}
[listener web]
protocol = ws
bind = 127.0.0.1:{ws}
path = /mqtt
[listener secure-web]
protocol = wss
bind = 127.0.0.1:{wss}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
"""


def node_client(url, ca="-"):
    r = run(["node", os.path.join(NODE_DIR, "ws-client.js"), url, ca,
             "10000"], timeout=90, cwd=NODE_DIR)
    lines = r.stdout.strip().splitlines()
    check(r.returncode == 0 and lines, "%s: %s %s" % (url, r.stdout,
                                                     r.stderr[-2000:]))
    res = json.loads(lines[-1])
    check(res["ok"] and res["got"] == 10001, "%s: %r" % (url, res))


def test_mqtt_js_over_ws_and_wss():
    need("node", "openssl")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "mqtt")):
        print("SKIP: MQTT.js not installed: run tools/install-deps.sh "
              "(npm ci in tests/integration/node)")
        raise SystemExit(77)
    tmp = tempfile.mkdtemp(prefix="fh-mqttjs-")
    pki = make_pki(tmp)
    ports = {"ws": free_port(), "wss": free_port()}
    with Daemon(CONF, tmp=tmp, ports=ports) as d:
        wait_port(d.ports["ws"])
        wait_port(d.ports["wss"])
        node_client("ws://127.0.0.1:%d/mqtt" % d.ports["ws"])
        node_client("wss://127.0.0.1:%d/mqtt" % d.ports["wss"], pki["ca"])
        check(d.alive(), "daemon died")


fhtest.run_cases(globals())
