#!/usr/bin/python3
"""Malformed input closes that connection only: bad remaining length,
reserved types, bad flags, invalid UTF-8 or NUL in a topic, wildcards in a
PUBLISH topic, a packet over max_packet_size (refused from its fixed
header, before the body is sent). Other clients are served throughout."""
import fhtest
from fhtest import Daemon, check
from mqtttest import Client, Raw, _str, connect_pkt, packet, publish_pkt, \
    subscribe_pkt

CONF = """[broker]
sys_interval = 0
anonymous_publish = true
max_packet_size = 1k
[listener mqtt]
bind = 127.0.0.1:{port}
"""

BAD = [
    ("remaining length of 5 bytes", b"\x30\xff\xff\xff\xff\x01"),
    ("reserved type 0", packet(0x00)),
    ("reserved type 15", packet(0xf0)),
    ("PUBLISH QoS 3", packet(0x36, _str("a") + b"\x00\x01")),
    ("PUBLISH QoS 0 with DUP", packet(0x38, _str("a") + b"x")),
    ("PUBLISH '#' topic", publish_pkt("a/#", "x")),
    ("PUBLISH '+' topic", publish_pkt("a/+/b", "x")),
    ("PUBLISH empty topic", publish_pkt("", "x")),
    ("PUBLISH NUL in topic", publish_pkt(b"a\x00b", "x")),
    ("PUBLISH invalid UTF-8", publish_pkt(b"a\xff", "x")),
    ("PUBLISH surrogate", publish_pkt(b"\xed\xa0\x80", "x")),
    ("PUBLISH id 0", packet(0x32, _str("a") + b"\x00\x00")),
    ("topic longer than packet", packet(0x30, b"\x00\x09ab")),
    ("SUBSCRIBE flags 0", packet(0x80, b"\x00\x01" + _str("a") + b"\x00")),
    ("SUBSCRIBE no filter", packet(0x82, b"\x00\x01")),
    ("SUBSCRIBE a/#/b", subscribe_pkt(1, [("a/#/b", 0)])),
    ("SUBSCRIBE a+", subscribe_pkt(1, [("a+", 0)])),
    ("SUBSCRIBE QoS 3", subscribe_pkt(1, [("a", 3)])),
    ("SUBSCRIBE invalid UTF-8", subscribe_pkt(1, [(b"\xc0\xaf", 0)])),
    ("UNSUBSCRIBE flags 0", packet(0xa0, b"\x00\x01" + _str("a"))),
    ("PUBREL flags 0", packet(0x60, b"\x00\x01")),
    ("PUBACK too long", packet(0x40, b"\x00\x01\x00")),
    ("PINGREQ with body", packet(0xc0, b"\x00")),
    ("DISCONNECT flags", packet(0xe1)),
    ("SUBACK from a client", packet(0x90, b"\x00\x01\x00")),
    ("PINGRESP from a client", packet(0xd0)),
    ("over max_packet_size, header only", b"\x30\xff\xff\xff\x7f"),
    ("over max_packet_size", publish_pkt("big", "x" * 2000)),
]


def test_each_malformed_packet_closes_only_its_connection():
    with Daemon(CONF) as d:
        w = Client(d.port, "watcher")
        w.sub("ok/#", 1)
        p = Client(d.port, "pub")
        bad = []
        for i, (what, data) in enumerate(BAD):
            # The warnings are logged once a minute per source address:
            # the one checked below comes from an address of its own.
            src = "127.0.0.2" if what.startswith("over max_") else None
            r = Raw(d.port, connect_pkt("bad%d" % i), src=src)
            r.send(data)
            if not r.closed():
                bad.append(what)
            r.close()
            p.pub("ok/%d" % i, what, qos=1)
            w.expect("ok/%d" % i, what)
        check(not bad, "connection not closed for: %s" % ", ".join(bad))
        check("packet of more than max_packet_size" in d.logtext(),
              "max_packet_size not logged")
        w.close()
        p.close()


def test_packet_just_under_max_packet_size_accepted():
    with Daemon(CONF) as d:
        w = Client(d.port, "watcher")
        w.sub("ok/#", 1)
        r = Raw(d.port, connect_pkt("fits"))
        r.send(publish_pkt("ok/fits", "y" * 900, qos=1, mid=1))
        check(r.read() == (4, 0, b"\x00\x01"), "PUBACK for 900 bytes")
        w.expect("ok/fits", "y" * 900)
        w.close()


def test_http_request_instead_of_connect_closed():
    with Daemon(CONF) as d:
        r = Raw(d.port)
        r.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        check(r.closed(), "HTTP request not closed")
        p = Client(d.port, "pub")
        p.sync()
        p.close()


fhtest.run_cases(globals())
