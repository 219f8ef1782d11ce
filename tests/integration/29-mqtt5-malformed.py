#!/usr/bin/python3
"""MQTT 5.0 bad input after CONNECT: each malformed-property case gets a
DISCONNECT with the reason code the spec calls for (0x81 malformed, 0x82
protocol error, 0x94 topic alias invalid), is counted, and the broker
serves the other clients throughout."""
import urllib.request

import fhtest
from fhtest import Daemon, check
from mqtttest import (P_CONTENT_TYPE, P_MESSAGE_EXPIRY, P_PAYLOAD_FORMAT,
                      P_SESSION_EXPIRY, P_SUBSCRIPTION_ID, P_TOPIC_ALIAS,
                      P_USER, Raw5, _str, ack5_pkt, packet, parse_ack5,
                      parse_publish5, prop, publish5_pkt, subscribe5_pkt,
                      varint)

CONF = """[broker]
anonymous_publish = true
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
[listener web]
protocol = ws
bind = 127.0.0.1:{web}
"""


def raw_publish(props_bytes):
    """A QoS 0 PUBLISH to t with props_bytes as its property block, length
    included: for lengths that do not match."""
    return packet(0x30, _str("t") + props_bytes + b"x")


BAD = [
    ("duplicate message expiry", 0x82, publish5_pkt("t", "x", props=prop(
        P_MESSAGE_EXPIRY, 1) + prop(P_MESSAGE_EXPIRY, 2))),
    ("session expiry on PUBLISH", 0x81, publish5_pkt("t", "x", props=prop(
        P_SESSION_EXPIRY, 1))),
    ("unknown property 0x04", 0x81, raw_publish(b"\x02\x04\x00")),
    ("property length past the packet", 0x81, raw_publish(b"\x20\x01")),
    ("property length of 5 bytes", 0x81,
     raw_publish(b"\x80\x80\x80\x80\x01")),
    ("property cut short", 0x81, raw_publish(b"\x03\x02\x00\x00")),
    ("content type not UTF-8", 0x81, publish5_pkt("t", "x", props=prop(
        P_CONTENT_TYPE, b"\xc3\x28"))),
    ("user property value not UTF-8", 0x81, publish5_pkt(
        "t", "x", props=prop(P_USER, ("k", b"\xff")))),
    ("user property name with U+0000", 0x81, publish5_pkt(
        "t", "x", props=prop(P_USER, (b"a\x00", "v")))),
    ("payload format 2", 0x82, publish5_pkt("t", "x", props=prop(
        P_PAYLOAD_FORMAT, 2))),
    ("topic alias 0", 0x94, publish5_pkt("t", "x", props=prop(
        P_TOPIC_ALIAS, 0))),
    ("empty topic without alias", 0x82, publish5_pkt("", "x")),
    ("subscription identifier 0", 0x82, subscribe5_pkt(
        1, [("a", 0)], props=prop(P_SUBSCRIPTION_ID, 0))),
    ("two subscription identifiers", 0x82, subscribe5_pkt(
        1, [("a", 0)], props=prop(P_SUBSCRIPTION_ID, 1) +
        prop(P_SUBSCRIPTION_ID, 2))),
    ("reserved subscription option bits", 0x81,
     subscribe5_pkt(1, [("a", 0xC0)])),
    ("retain handling 3", 0x82, subscribe5_pkt(1, [("a", 0x30)])),
    ("subscription QoS 3", 0x81, subscribe5_pkt(1, [("a", 0x03)])),
    ("PUBACK reason 0x92", 0x82, ack5_pkt("puback", 1, 0x92)),
    ("PUBACK with a topic alias", 0x81, ack5_pkt(
        "puback", 1, 0, prop(P_TOPIC_ALIAS, 1))),
    ("DISCONNECT reason 0x10", 0x82, packet(0xE0, b"\x10")),
    ("SUBSCRIBE property length varint", 0x81,
     packet(0x82, b"\x00\x01" + varint(1 << 28)[:4])),
]


def counted(d):
    url = "http://127.0.0.1:%d/metrics" % d.ports["web"]
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        for r in ("malformed", "protocol"):
            if "errors" in line and 'reason="%s"' % r in line:
                out[r] = float(line.rpartition(" ")[2])
    return out


def test_each_bad_property_disconnects_with_its_reason():
    with Daemon(CONF, ports={"web": fhtest.free_port()}) as d:
        w = Raw5(d.port, "watcher")
        w.subscribe(1, [("ok/#", 1)])
        p = Raw5(d.port, "pub")
        before = counted(d)
        wrong = []
        for i, (what, reason, data) in enumerate(BAD):
            r = Raw5(d.port, "bad%d" % i)
            r.send(data)
            got = r.disconnected()
            if got != reason:
                wrong.append("%s: %r, want 0x%02x" % (what, got, reason))
            r.close()
            p.send(publish5_pkt("ok/%d" % i, what, qos=1, mid=i + 1))
            check(parse_ack5(p.read())[2] == 0, "served: PUBACK")
            m = parse_publish5(w.read())
            check(m["topic"] == "ok/%d" % i, "served: %r" % m)
            w.send(ack5_pkt("puback", m["mid"]))
        check(not wrong, "wrong DISCONNECT: " + "; ".join(wrong))
        after = counted(d)
        n81 = sum(1 for _, r, _ in BAD if r == 0x81)
        n82 = sum(1 for _, r, _ in BAD if r in (0x82, 0x94))
        check(after.get("malformed", 0) - before.get("malformed", 0) == n81,
              "malformed counted: %r -> %r" % (before, after))
        check(after.get("protocol", 0) - before.get("protocol", 0) == n82,
              "protocol errors counted: %r -> %r" % (before, after))


fhtest.run_cases(globals())
