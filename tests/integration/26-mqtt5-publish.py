#!/usr/bin/python3
"""MQTT 5.0 PUBLISH through the broker: properties forwarded unchanged and
in order (raw, paho MQTTv5, mosquitto_pub/sub -V 5, MQTT.js over ws),
message expiry (remaining time passed on; expired retained and queued
messages never sent), topic aliases both ways, payload format indicator
(invalid UTF-8 -> 0x99), PUBACK/PUBREC 0x87 for a denied or anonymous
publish, a subscription identifier from a client is a protocol error, a
message over a subscriber's Maximum Packet Size is dropped for it."""
import json
import os
import queue
import tempfile
import threading
import time
import urllib.request

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import fhtest
from fhtest import SRCDIR, Daemon, check, need, run
from transport import make_pki
from mqtttest import (P_CONTENT_TYPE, P_CORRELATION_DATA, P_MESSAGE_EXPIRY,
                      P_PAYLOAD_FORMAT, P_RESPONSE_TOPIC, P_SUBSCRIPTION_ID,
                      P_TOPIC_ALIAS, P_TOPIC_ALIAS_MAXIMUM, P_USER,
                      P_MAXIMUM_PACKET_SIZE, V311, Client, Raw5, Sub, parse_ack5,
                      parse_publish5, prop, prop_get, publish5_pkt)

CONF = """[broker]
anonymous_publish = true
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
[listener web]
protocol = ws
bind = 127.0.0.1:{web}
"""

FORWARDED = (prop(P_USER, ("z", "1")) + prop(P_PAYLOAD_FORMAT, 1) +
             prop(P_CONTENT_TYPE, "application/json") +
             prop(P_USER, ("a", "2")) + prop(P_RESPONSE_TOPIC, "reply/to") +
             prop(P_CORRELATION_DATA, b"\x00\x01\x02") +
             prop(P_USER, ("z", "3")))
FORWARDED_LIST = [(P_USER, ("z", "1")), (P_PAYLOAD_FORMAT, 1),
                  (P_CONTENT_TYPE, "application/json"),
                  (P_USER, ("a", "2")), (P_RESPONSE_TOPIC, "reply/to"),
                  (P_CORRELATION_DATA, b"\x00\x01\x02"),
                  (P_USER, ("z", "3"))]


def daemon(extra=""):
    return Daemon(CONF.replace("[listener mqtt]", extra + "[listener mqtt]"),
                  ports={"web": fhtest.free_port()})


def metric(d, kind, reason):
    """A counter of /metrics: kind "dropped" or "errors", its reason."""
    url = "http://127.0.0.1:%d/metrics" % d.ports["web"]
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    for line in text.splitlines():
        if "_%s{" % kind in line and 'reason="%s"' % reason in line:
            return float(line.rpartition(" ")[2])
    raise AssertionError("no %s{reason=%r} on /metrics" % (kind, reason))


def sub5(d, cid, filt="t/#", qos=1, props=b""):
    s = Raw5(d.port, cid, props=props)
    codes = s.subscribe(1, [(filt, qos)])
    check(codes == [qos], "%s: SUBACK %r" % (cid, codes))
    return s


def test_properties_forwarded_unchanged_and_in_order():
    with daemon() as d:
        s = sub5(d, "s")
        p = Raw5(d.port, "p")
        p.send(publish5_pkt("t/a", b"{}", qos=1, mid=3, props=FORWARDED))
        check(parse_ack5(p.read())[:3] == (4, 3, 0), "PUBACK")
        m = parse_publish5(s.read())
        check(m["topic"] == "t/a" and m["payload"] == b"{}", "%r" % m)
        check(m["props"] == FORWARDED_LIST, "props: %r" % m["props"])


def test_v311_subscriber_gets_the_message_without_properties():
    with daemon() as d:
        s = Client(d.port, "old", protocol=V311)
        s.sub("t/#", 1)
        p = Raw5(d.port, "p")
        p.send(publish5_pkt("t/a", "body", qos=1, mid=1, props=FORWARDED))
        parse_ack5(p.read())
        s.expect("t/a", "body", qos=1)
        s.close()


class Paho5:
    """A paho MQTTv5 client that waits for its CONNACK and SUBACKs."""

    def __init__(self, port, cid, transport="tcp", ca=None):
        self.got = queue.Queue()
        self.acked = threading.Event()
        self.connected = threading.Event()
        self.c = mqtt.Client(cid, protocol=mqtt.MQTTv5, transport=transport)
        if transport == "websockets":
            self.c.ws_set_options(path="/mqtt")
        if ca is not None:
            self.c.tls_set(ca_certs=ca)
        self.c.on_message = lambda c, u, m: self.got.put(m)
        self.c.on_connect = lambda c, u, f, rc, p=None: self.connected.set()
        self.c.on_subscribe = lambda c, u, mid, rc, p=None: self.acked.set()
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        check(self.connected.wait(10), "%s: no CONNACK" % cid)

    def sub(self, topic, qos=1):
        self.acked.clear()
        self.c.subscribe(topic, qos)
        check(self.acked.wait(10), "no SUBACK")

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def test_paho_v5_user_properties_and_content_type():
    with daemon() as d:
        sub = Paho5(d.port, "paho-sub")
        pub = Paho5(d.port, "paho-pub")
        sub.sub("paho/#")
        pr = Properties(PacketTypes.PUBLISH)
        pr.UserProperty = [("k1", "v1"), ("k2", "v2")]
        pr.ContentType = "text/plain"
        pr.ResponseTopic = "paho/reply"
        pr.CorrelationData = b"cd"
        pub.c.publish("paho/x", "hello", 1, properties=pr).wait_for_publish()
        try:
            m = sub.got.get(timeout=10)
        except queue.Empty:
            m = None
        pub.close()
        sub.close()
        check(m is not None, "paho subscriber got nothing")
        check(m.payload == b"hello", "payload %r" % m.payload)
        p = m.properties
        check(p.UserProperty == [("k1", "v1"), ("k2", "v2")],
              "user properties %r" % p.UserProperty)
        check(p.ContentType == "text/plain", "content type")
        check(p.ResponseTopic == "paho/reply", "response topic")
        check(p.CorrelationData == b"cd", "correlation data")


TLS_CONF = """[broker]
anonymous_publish = true
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
[listener mqtts]
protocol = mqtts
bind = 127.0.0.1:{mqtts}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
[listener ws]
protocol = ws
bind = 127.0.0.1:{ws}
path = /mqtt
[listener wss]
protocol = wss
bind = 127.0.0.1:{wss}
path = /mqtt
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
"""


def test_paho_v5_on_mqtt_mqtts_ws_wss():
    need("openssl")
    tmp = tempfile.mkdtemp(prefix="fh-mqtt5-")
    pki = make_pki(tmp)
    ports = {k: fhtest.free_port() for k in ("mqtts", "ws", "wss")}
    with Daemon(TLS_CONF, tmp=tmp, ports=ports) as d:
        ways = [("mqtt", d.port, "tcp", None),
                ("mqtts", ports["mqtts"], "tcp", pki["ca"]),
                ("ws", ports["ws"], "websockets", None),
                ("wss", ports["wss"], "websockets", pki["ca"])]
        for name, port, transport, ca in ways:
            fhtest.wait_port(port)
            sub = Paho5(port, "sub-" + name, transport, ca)
            pub = Paho5(port, "pub-" + name, transport, ca)
            sub.sub("every/" + name)
            pr = Properties(PacketTypes.PUBLISH)
            pr.UserProperty = [("over", name)]
            pub.c.publish("every/" + name, name, 1,
                          properties=pr).wait_for_publish()
            try:
                m = sub.got.get(timeout=10)
            except queue.Empty:
                m = None
            pub.close()
            sub.close()
            check(m is not None and m.payload == name.encode(),
                  "%s: %r" % (name, m))
            check(m.properties.UserProperty == [("over", name)],
                  "%s: %r" % (name, m.properties))


def test_mosquitto_v5_properties():
    need("mosquitto_sub", "mosquitto_pub")
    with daemon() as d:
        s = Sub(d.port, "mq/#", qos=1,
                extra=["-V", "5", "-F", "%t|%p|%C|%R|%P"])
        r = run(["mosquitto_pub", "-V", "5", "-h", "127.0.0.1", "-p",
                 str(d.port), "-t", "mq/a", "-m", "m5", "-q", "1",
                 "-D", "publish", "content-type", "text/x",
                 "-D", "publish", "response-topic", "mq/reply",
                 "-D", "publish", "user-property", "uk", "uv"])
        check(r.returncode == 0, "mosquitto_pub -V 5: %s" % r.stderr)
        got = s.messages(1)
        s.close()
        check(got == ["mq/a|m5|text/x|mq/reply|uk:uv"],
              "mosquitto_sub -V 5: %r" % got)


def test_mqttjs_v5_over_ws():
    need("node")
    node_dir = os.path.join(os.path.abspath(SRCDIR), "tests",
                            "integration", "node")
    if not os.path.isdir(os.path.join(node_dir, "node_modules", "mqtt")):
        fhtest.skip_case("MQTT.js not installed")
    with daemon() as d:
        r = run(["node", os.path.join(node_dir, "mqtt5-client.js"),
                 "ws://127.0.0.1:%d/" % d.ports["web"]], timeout=60,
                cwd=node_dir)
        lines = r.stdout.strip().splitlines()
        check(r.returncode == 0 and lines, "%s %s" % (r.stdout,
                                                      r.stderr[-2000:]))
        res = json.loads(lines[-1])
        check(res["ok"], "MQTT.js: %r" % res)


def test_message_expiry_remaining_time_passed_on():
    with daemon() as d:
        p = Raw5(d.port, "p")
        p.send(publish5_pkt("t/r", "keep", qos=1, mid=1, retain=True,
                            props=prop(P_MESSAGE_EXPIRY, 30)))
        parse_ack5(p.read())
        time.sleep(2.1)
        s = Raw5(d.port, "late")
        s.subscribe(1, [("t/r", 1)])
        m = parse_publish5(s.read())
        left = prop_get(m["props"], P_MESSAGE_EXPIRY)
        check(m["payload"] == b"keep" and m["retain"], "%r" % m)
        check(left is not None and 1 <= left <= 28,
              "expiry passed on: %r" % left)


def test_expired_retained_message_is_not_sent():
    with daemon() as d:
        p = Raw5(d.port, "p")
        p.send(publish5_pkt("t/gone", "old", qos=1, mid=1, retain=True,
                            props=prop(P_MESSAGE_EXPIRY, 1)))
        parse_ack5(p.read())
        p.send(publish5_pkt("t/stay", "new", qos=1, mid=2, retain=True))
        parse_ack5(p.read())
        time.sleep(2.1)
        s = Raw5(d.port, "late")
        s.subscribe(1, [("t/+", 1)])
        m = parse_publish5(s.read())
        check(m["topic"] == "t/stay", "got %r" % m)
        s.nothing()
        check(metric(d, "dropped", "expired") == 1, "counted")
        # a 3.1.1 subscriber does not get it either
        old = Client(d.port, "old", protocol=V311)
        old.sub("t/+", 1)
        old.expect("t/stay", "new", retain=True)
        old.nothing()
        old.close()


def test_expired_queued_message_is_not_sent():
    with daemon() as d:
        s = Raw5(d.port, "off", clean=False,
                 props=prop(0x11, 300))     # session expiry interval
        s.subscribe(1, [("q/#", 1)])
        s.close()
        p = Raw5(d.port, "p")
        p.send(publish5_pkt("q/old", "x", qos=1, mid=1,
                            props=prop(P_MESSAGE_EXPIRY, 1)))
        parse_ack5(p.read())
        p.send(publish5_pkt("q/new", "y", qos=1, mid=2,
                            props=prop(P_MESSAGE_EXPIRY, 100)))
        parse_ack5(p.read())
        time.sleep(2.1)
        s = Raw5(d.port, "off", clean=False, props=prop(0x11, 300))
        m = parse_publish5(s.read())
        check(m["topic"] == "q/new", "got %r" % m)
        left = prop_get(m["props"], P_MESSAGE_EXPIRY)
        check(left is not None and left <= 98, "expiry %r" % left)
        s.nothing()


def test_topic_alias_from_client():
    with daemon() as d:
        s = sub5(d, "s")
        p = Raw5(d.port, "p")
        check(prop_get(p.connack_props, P_TOPIC_ALIAS_MAXIMUM, 0) >= 1,
              "no Topic Alias Maximum in CONNACK: %r" % p.connack_props)
        p.send(publish5_pkt("t/long/name", "1", qos=1, mid=1,
                            props=prop(P_TOPIC_ALIAS, 1)))
        parse_ack5(p.read())
        p.send(publish5_pkt("", "2", qos=1, mid=2,
                            props=prop(P_TOPIC_ALIAS, 1)))
        check(parse_ack5(p.read())[2] == 0, "PUBACK of the alias")
        for want in (b"1", b"2"):
            m = parse_publish5(s.read())
            check((m["topic"], m["payload"]) == ("t/long/name", want),
                  "%r" % m)
            check(prop_get(m["props"], P_TOPIC_ALIAS) is None,
                  "the publisher's alias is not forwarded")


def test_topic_alias_over_maximum_disconnects_0x94():
    with daemon() as d:
        p = Raw5(d.port, "p")
        top = prop_get(p.connack_props, P_TOPIC_ALIAS_MAXIMUM, 0)
        p.send(publish5_pkt("t/x", "1", props=prop(P_TOPIC_ALIAS, top + 1)))
        check(p.disconnected() == 0x94, "DISCONNECT 0x94")
        sub5(d, "still-served")
        check(metric(d, "errors", "topic_alias") == 1, "counted")


def test_max_topic_alias_0_allows_none():
    with daemon("max_topic_alias = 0\n") as d:
        p = Raw5(d.port, "p")
        check(prop_get(p.connack_props, P_TOPIC_ALIAS_MAXIMUM) is None,
              "no Topic Alias Maximum: %r" % p.connack_props)
        p.send(publish5_pkt("t/x", "1", props=prop(P_TOPIC_ALIAS, 1)))
        check(p.disconnected() == 0x94, "DISCONNECT 0x94")


def test_unknown_topic_alias_disconnects_0x82():
    with daemon() as d:
        p = Raw5(d.port, "p")
        p.send(publish5_pkt("", "1", props=prop(P_TOPIC_ALIAS, 1)))
        check(p.disconnected() == 0x82, "DISCONNECT 0x82")


def test_topic_alias_to_client_within_its_maximum():
    with daemon() as d:
        s = sub5(d, "s", props=prop(P_TOPIC_ALIAS_MAXIMUM, 2))
        p = Raw5(d.port, "p")
        for i in range(3):
            p.send(publish5_pkt("t/one", str(i), qos=1, mid=i + 1))
            parse_ack5(p.read())
        got = [parse_publish5(s.read()) for _ in range(3)]
        check(got[0]["topic"] == "t/one" and
              prop_get(got[0]["props"], P_TOPIC_ALIAS) in (1, 2),
              "first carries topic and alias: %r" % got[0])
        alias = prop_get(got[0]["props"], P_TOPIC_ALIAS)
        for m in got[1:]:
            check(m["topic"] == "" and
                  prop_get(m["props"], P_TOPIC_ALIAS) == alias,
                  "then the alias alone: %r" % m)
        # a client that allows none gets none
        n = sub5(d, "none")
        p.send(publish5_pkt("t/one", "x", qos=1, mid=9))
        parse_ack5(p.read())
        m = parse_publish5(n.read())
        check(m["topic"] == "t/one" and
              prop_get(m["props"], P_TOPIC_ALIAS) is None, "%r" % m)


def test_payload_format_invalid_utf8_gets_0x99():
    with daemon() as d:
        s = sub5(d, "s")
        p = Raw5(d.port, "p")
        p.send(publish5_pkt("t/bad", b"\xff\xfe", qos=1, mid=5,
                            props=prop(P_PAYLOAD_FORMAT, 1)))
        check(parse_ack5(p.read())[:3] == (4, 5, 0x99), "PUBACK 0x99")
        p.send(publish5_pkt("t/bad", b"\xff\xfe", qos=2, mid=6,
                            props=prop(P_PAYLOAD_FORMAT, 1)))
        check(parse_ack5(p.read())[:3] == (5, 6, 0x99), "PUBREC 0x99")
        # not UTF-8 claimed: fine
        p.send(publish5_pkt("t/ok", b"\xff\xfe", qos=1, mid=7))
        check(parse_ack5(p.read())[2] == 0, "PUBACK 0")
        m = parse_publish5(s.read())
        check(m["topic"] == "t/ok", "only the valid one: %r" % m)
        check(metric(d, "dropped", "payload_format") == 2, "counted")


ACL_CONF = """[broker]
sys_interval = 0
allow_anonymous = true
anonymous_publish = {anon}
acl_file = {tmp}/acl
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def acl_daemon(anon):
    d = Daemon(ACL_CONF.replace("{anon}", anon), wait=None)
    with open(os.path.join(d.tmp, "acl"), "w") as f:
        f.write("topic readwrite open/#\n")
    return d.start()


def test_denied_publish_gets_0x87():
    with acl_daemon("true") as d:
        s = sub5(d, "s", filt="open/#")
        p = Raw5(d.port, "p")
        p.send(publish5_pkt("closed/x", "no", qos=1, mid=1))
        check(parse_ack5(p.read())[:3] == (4, 1, 0x87), "PUBACK 0x87")
        p.send(publish5_pkt("closed/x", "no", qos=2, mid=2))
        check(parse_ack5(p.read())[:3] == (5, 2, 0x87), "PUBREC 0x87")
        p.send(publish5_pkt("open/x", "yes", qos=1, mid=3))
        check(parse_ack5(p.read())[:3] == (4, 3, 0), "PUBACK 0")
        check(parse_publish5(s.read())["topic"] == "open/x", "delivered")


def test_anonymous_publish_gets_0x87():
    with acl_daemon("false") as d:
        p = Raw5(d.port, "p")
        p.send(publish5_pkt("open/x", "no", qos=1, mid=1))
        check(parse_ack5(p.read())[:3] == (4, 1, 0x87), "PUBACK 0x87")


def test_subscription_id_from_client_is_protocol_error():
    with daemon() as d:
        p = Raw5(d.port, "p")
        p.send(publish5_pkt("t/x", "1", props=prop(P_SUBSCRIPTION_ID, 1)))
        check(p.disconnected() == 0x82, "DISCONNECT 0x82")
        sub5(d, "still-served")


def test_message_over_subscriber_maximum_packet_size_dropped_for_it():
    with daemon() as d:
        small = sub5(d, "small", props=prop(P_MAXIMUM_PACKET_SIZE, 64))
        big = sub5(d, "big")
        p = Raw5(d.port, "p")
        p.send(publish5_pkt("t/big", "x" * 200, qos=1, mid=1))
        parse_ack5(p.read())
        p.send(publish5_pkt("t/fit", "y", qos=1, mid=2))
        parse_ack5(p.read())
        check(parse_publish5(big.read())["topic"] == "t/big", "big gets it")
        m = parse_publish5(small.read())
        check(m["topic"] == "t/fit", "small skips t/big: %r" % m)


fhtest.run_cases(globals())
