#!/usr/bin/python3
"""MQTT 5.0 on every listener kind, as a newcomer meets it: mosquitto_sub
-V 5 -t '#' -v on mqtt and mqtts (mosquitto 2.0's clients have no
WebSocket transport), paho-mqtt's MQTTv5 client on mqtt, mqtts, ws and
wss, and the broker's DISCONNECT 0x8B reaching 5.0 clients on each when
the daemon is stopped with SIGTERM."""
import queue
import signal
import subprocess

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

import fhtest
from fhtest import Daemon, check, need, run
from transport import make_pki

CONF = """[broker]
anonymous_publish = true
sys_interval = 0
[listener tcp]
bind = 127.0.0.1:{port}
[listener tls]
protocol = mqtts
bind = 127.0.0.1:{tls}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
[listener web]
protocol = ws
bind = 127.0.0.1:{ws}
path = /mqtt
[listener secure-web]
protocol = wss
bind = 127.0.0.1:{wss}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
path = /mqtt
"""


def daemon():
    d = Daemon(CONF, wait=None, ports={"tls": fhtest.free_port(),
                                       "ws": fhtest.free_port(),
                                       "wss": fhtest.free_port()})
    d.pki = make_pki(d.tmp)
    d.start()
    return d


def where(d, kind):
    """(port, paho transport, CA file or None) of a listener kind."""
    return {"mqtt": (d.port, "tcp", None),
            "mqtts": (d.ports["tls"], "tcp", d.pki["ca"]),
            "ws": (d.ports["ws"], "websockets", None),
            "wss": (d.ports["wss"], "websockets", d.pki["ca"])}[kind]


class Paho5:
    """paho-mqtt's MQTTv5 client on one listener, on its own thread."""

    def __init__(self, d, kind, cid):
        port, transport, ca = where(d, kind)
        self.c = mqtt.Client(cid, protocol=mqtt.MQTTv5, transport=transport)
        if transport == "websockets":
            self.c.ws_set_options(path="/mqtt")
        if ca is not None:
            self.c.tls_set(ca_certs=ca)
        self.events = queue.Queue()
        self.msgs = queue.Queue()
        self.c.on_connect = lambda c, u, f, rc, p=None: self.events.put(
            ("connack", rc.value, p))
        self.c.on_subscribe = lambda c, u, mid, rcs, p=None: \
            self.events.put(("suback", [r.value for r in rcs], p))
        self.c.on_disconnect = lambda c, u, rc, p=None: self.events.put(
            ("disconnect", getattr(rc, "value", rc), p))
        self.c.on_message = lambda c, u, m: self.msgs.put(m)
        self.c.connect("127.0.0.1", port, 60, clean_start=True)
        self.c.loop_start()
        ev = self.event("connack")
        check(ev[1] == 0, "%s: CONNACK reason %r" % (kind, ev[1]))

    def event(self, kind, timeout=10):
        try:
            ev = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no %s" % kind)
        check(ev[0] == kind, "want %s, got %r" % (kind, ev))
        return ev

    def sub(self, topic, qos):
        self.c.subscribe(topic, qos)
        return self.event("suback")[1]

    def pub(self, topic, payload, qos=1, user=None):
        props = Properties(PacketTypes.PUBLISH)
        if user is not None:
            props.UserProperty = user
        self.c.publish(topic, payload, qos, properties=props) \
            .wait_for_publish()

    def get(self, timeout=10):
        try:
            return self.msgs.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message within %ss" % timeout)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def mosquitto_v5(d, kind):
    """mosquitto_sub -V 5 -t '#' -v on a listener: a retained message
    first, then one published while it listens (by mosquitto_pub -V 5)."""
    need("mosquitto_sub", "mosquitto_pub")
    port, _, ca = where(d, kind)
    tls = ["--cafile", ca] if ca else []
    common = ["-h", "127.0.0.1", "-p", str(port), "-V", "5"] + tls
    r = run(["mosquitto_pub"] + common + ["-t", "m/kept", "-m", "old",
                                          "-r", "-q", "1"], timeout=20)
    check(r.returncode == 0, "%s: mosquitto_pub: %s" % (kind, r.stderr))
    sub = subprocess.Popen(["mosquitto_sub"] + common +
                           ["-t", "#", "-v", "-C", "2", "-W", "15"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    try:
        first = sub.stdout.readline().strip()
        check(first == "m/kept old", "%s: first %r" % (kind, first))
        r = run(["mosquitto_pub"] + common + ["-t", "m/live", "-m", "new",
                                              "-q", "1"], timeout=20)
        check(r.returncode == 0, "%s: mosquitto_pub: %s" % (kind, r.stderr))
        second = sub.stdout.readline().strip()
        check(second == "m/live new", "%s: second %r" % (kind, second))
        check(sub.wait(20) == 0, "%s: mosquitto_sub: %s" % (
            kind, sub.stderr.read()))
    finally:
        if sub.poll() is None:
            sub.kill()
            sub.wait()


def paho_v5(d, kind):
    s = Paho5(d, kind, "sub-" + kind)
    check(s.sub("p/#", 1) == [1], "%s: granted" % kind)
    p = Paho5(d, kind, "pub-" + kind)
    p.pub("p/" + kind, "hello " + kind, qos=1, user=("via", kind))
    m = s.get()
    check(m.topic == "p/" + kind and m.payload == ("hello " +
          kind).encode() and m.qos == 1, "%s: got %r %r q%d" % (
              kind, m.topic, m.payload, m.qos))
    p.close()
    s.close()


def test_mosquitto_sub_v5_mqtt():
    with daemon() as d:
        mosquitto_v5(d, "mqtt")


def test_mosquitto_sub_v5_mqtts():
    with daemon() as d:
        mosquitto_v5(d, "mqtts")


def test_paho_v5_mqtt():
    with daemon() as d:
        paho_v5(d, "mqtt")


def test_paho_v5_mqtts():
    with daemon() as d:
        paho_v5(d, "mqtts")


def test_paho_v5_ws():
    with daemon() as d:
        paho_v5(d, "ws")


def test_paho_v5_wss():
    with daemon() as d:
        paho_v5(d, "wss")


def test_sigterm_disconnect_0x8b_on_every_listener():
    with daemon() as d:
        clients = {k: Paho5(d, k, "stay-" + k)
                   for k in ("mqtt", "mqtts", "ws", "wss")}
        d.send(signal.SIGTERM)
        for k, c in clients.items():
            ev = c.event("disconnect")
            check(ev[1] == 0x8B, "%s: disconnect reason %r" % (k, ev[1]))
            c.c.loop_stop()
        # exits on the first SIGTERM (stop() would send another)
        d.proc.wait(20)
        check(d.stop() == 0, "exit status")


fhtest.run_cases(globals())
