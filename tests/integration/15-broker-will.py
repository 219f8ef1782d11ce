#!/usr/bin/python3
"""Will messages: published on abnormal loss (socket closed, protocol
error), not on DISCONNECT; QoS and retain kept; anonymous wills never
delivered."""
import fhtest
from fhtest import Daemon, check
from mqtttest import Client, Raw, connect_pkt, packet

CONF = """[broker]
sys_interval = 0
anonymous_publish = {anon}
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def watcher(d):
    w = Client(d.port, "watcher")
    w.sub("w/#", 2)
    return w


def test_no_will_on_disconnect():
    with Daemon(CONF, ports={"anon": "true"}) as d:
        w = watcher(d)
        c = Client(d.port, "polite", will=("w/polite", "bye", 1, False))
        c.close()
        # the same id again: the old session is gone before this CONNACK
        c = Client(d.port, "polite")
        w.nothing()
        c.close()
        w.close()


def test_will_on_socket_drop_at_its_qos():
    with Daemon(CONF, ports={"anon": "true"}) as d:
        w = watcher(d)
        c = Client(d.port, "rude", will=("w/rude", "lost", 2, False))
        c.drop()
        w.expect("w/rude", "lost", qos=2)
        w.nothing()
        w.close()


def test_retained_will_kept_for_later_subscriber():
    with Daemon(CONF, ports={"anon": "true"}) as d:
        w = watcher(d)
        r = Raw(d.port, connect_pkt("ret", will=("w/ret", "R", 1, True)))
        r.close()
        w.expect("w/ret", "R", retain=False)
        late = Client(d.port, "late")
        late.sub("w/ret", 1)
        late.expect("w/ret", "R", retain=True)
        late.close()
        w.close()


def test_will_on_protocol_error():
    with Daemon(CONF, ports={"anon": "true"}) as d:
        w = watcher(d)
        r = Raw(d.port, connect_pkt("bad", will=("w/bad", "err", 0, False)))
        r.send(packet(0x20, b"\x00\x00"))   # a CONNACK from a client
        check(r.closed(), "not closed")
        w.expect("w/bad", "err")
        w.close()


def test_will_on_takeover_not_for_the_new_connection():
    with Daemon(CONF, ports={"anon": "true"}) as d:
        w = watcher(d)
        old = Raw(d.port, connect_pkt("twin", will=("w/twin", "old", 0,
                                                    False)))
        new = Raw(d.port, connect_pkt("twin"))
        check(old.closed(), "not taken over")
        w.expect("w/twin", "old")
        new.send(packet(0xe0))
        check(new.closed(), "not closed after DISCONNECT")
        Client(d.port, "twin").close()   # the session is gone by now
        w.nothing()
        w.close()


def test_anonymous_will_never_delivered():
    with Daemon(CONF, ports={"anon": "false"}) as d:
        w = Client(d.port, "watcher")
        w.sub("#", 2)
        c = Client(d.port, "anon", will=("w/anon", "sneaky", 1, True))
        c.drop()
        # the same id again: the dropped connection is handled (its will
        # sent or refused) before this CONNACK
        Client(d.port, "anon").close()
        w.nothing()
        late = Client(d.port, "late")
        late.sub("#", 1)
        late.nothing()
        w.close()
        late.close()


fhtest.run_cases(globals())
