#!/usr/bin/python3
"""CONNECT: protocol name/level, client id rules, CONNACK codes, takeover
of a duplicate client id, second CONNECT, first packet not CONNECT."""
import fhtest
from fhtest import Daemon, check
from mqtttest import (V31, Client, Raw, connect_pkt, packet, publish_pkt,
                      subscribe_pkt)

CONF = """[broker]
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def connack(port, pkt, wait_close=True):
    """The CONNACK for pkt and whether the server then closed; an
    accepted connection is not waited on."""
    r = Raw(port)
    r.send(pkt)
    p = r.read()
    closed = r.closed(5) if wait_close else None
    r.close()
    return p, closed


def test_v311_and_v31_accepted():
    with Daemon(CONF) as d:
        port = d.port
        # 3.1.1 and 3.1 accepted
        p, _ = connack(port, connect_pkt("ok1"), False)
        check(p == (2, 0, b"\x00\x00"), "3.1.1: %r" % (p,))
        p, _ = connack(port, connect_pkt("ok2", proto="MQIsdp", level=3),
                       False)
        check(p == (2, 0, b"\x00\x00"), "3.1: %r" % (p,))


def test_bad_protocol_level_connack_1():
    with Daemon(CONF) as d:
        port = d.port
        # unacceptable protocol level (5.0 is level 5): CONNACK 1, closed
        p, closed = connack(port, connect_pkt("v6", level=6))
        check(p == (2, 0, b"\x00\x01") and closed, "level 6: %r" % (p,))


def test_unknown_protocol_name_closed():
    with Daemon(CONF) as d:
        port = d.port
        # unknown protocol name: closed without CONNACK [MQTT-3.1.2-1]
        r = Raw(port)
        r.send(connect_pkt("x", proto="MQTX"))
        check(r.closed(), "bad protocol name not closed")


def test_client_id_rules():
    with Daemon(CONF) as d:
        port = d.port
        # empty client id: rejected unless clean session (3.1.1)
        p, closed = connack(port, connect_pkt("", clean=False))
        check(p == (2, 0, b"\x00\x02") and closed, "empty id: %r" % (p,))
        p, _ = connack(port, connect_pkt("", clean=True), False)
        check(p == (2, 0, b"\x00\x00"), "empty id clean: %r" % (p,))
        p, closed = connack(port, connect_pkt("", proto="MQIsdp", level=3))
        check(p == (2, 0, b"\x00\x02") and closed, "3.1 empty id: %r" % (p,))
        p, closed = connack(port, connect_pkt("x" * 24, proto="MQIsdp",
                                              level=3))
        check(p == (2, 0, b"\x00\x02"), "3.1 long id: %r" % (p,))
        p, _ = connack(port, connect_pkt("x" * 200), False)
        check(p == (2, 0, b"\x00\x00"), "3.1.1 long id: %r" % (p,))


def test_bad_connect_flags_closed():
    with Daemon(CONF) as d:
        port = d.port
        # reserved flag, password without user name: closed, no CONNACK
        bad = bytearray(connect_pkt("r"))
        bad[9] |= 0x01
        r = Raw(port)
        r.send(bytes(bad))
        check(r.closed(), "reserved flag not closed")
        r = Raw(port)
        r.send(packet(0x10, connect_pkt("p", pw="x")[2:]))
        check(r.closed(), "password without user name not closed")


def test_first_packet_not_connect_closed():
    with Daemon(CONF) as d:
        port = d.port
        # first packet not CONNECT
        r = Raw(port)
        r.send(publish_pkt("a", "b"))
        check(r.closed(), "PUBLISH before CONNECT not closed")
        r = Raw(port)
        r.send(packet(0xc0))
        check(r.closed(), "PINGREQ before CONNECT not closed")


def test_second_connect_closed():
    with Daemon(CONF) as d:
        port = d.port
        # second CONNECT
        r = Raw(port, connect_pkt("twice"))
        r.send(connect_pkt("twice"))
        check(r.closed(), "second CONNECT not closed")


def test_duplicate_client_id_takes_over():
    with Daemon(CONF) as d:
        port = d.port
        # takeover: the old connection is closed, the new one works
        old = Raw(port, connect_pkt("dup"))
        new = Raw(port, connect_pkt("dup"))
        check(old.closed(), "old connection not taken over")
        new.send(subscribe_pkt(1, [("t", 0)]))
        p = new.read()
        check(p == (9, 0, b"\x00\x01\x00"), "SUBACK after takeover %r" % (p,))
        new.send(packet(0xc0))
        check(new.read() == (13, 0, b""), "PINGRESP")
        new.send(packet(0xe0))
        check(new.closed(), "not closed after DISCONNECT")


def test_session_present_flag():
    with Daemon(CONF) as d:
        port = d.port
        # session present: 0 for a clean or new session, 1 on resume
        r = Raw(port, connect_pkt("sp", clean=False))
        check(r.connack == b"\x00\x00", "new session: %r" % r.connack)
        r.send(packet(0xe0))
        r.close()
        r = Raw(port, connect_pkt("sp", clean=False))
        check(r.connack == b"\x01\x00", "resumed: %r" % r.connack)
        r.send(packet(0xe0))
        r.close()
        r = Raw(port, connect_pkt("sp", clean=True))
        check(r.connack == b"\x00\x00", "clean: %r" % r.connack)
        r.close()


def test_paho_v31_served():
    with Daemon(CONF) as d:
        port = d.port
        # paho, both versions, still served
        c = Client(port, "paho31", protocol=V31)
        c.close()
        check(d.alive(), "daemon died")


fhtest.run_cases(globals())
