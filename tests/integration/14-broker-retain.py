#!/usr/bin/python3
"""Retained messages: set, replace, clear with an empty payload, delivered
on subscribe with the retain flag (live ones without), QoS min'd with the
subscription; retain = false turns the store off."""
import fhtest
from fhtest import Daemon, check
from mqtttest import Client, Sub, pub

CONF = """[broker]
sys_interval = 0
anonymous_publish = true
retain = {retain}
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def retained(d):
    """A publisher that set r/a (replaced), r/b/c, set and cleared
    r/gone, and sent r/plain without retain."""
    p = Client(d.port, "p")
    p.pub("r/a", "A1", qos=1, retain=True)
    p.pub("r/a", "A2", qos=1, retain=True)        # replace
    p.pub("r/b/c", "BC", qos=0, retain=True)
    p.pub("r/gone", "G", qos=1, retain=True)
    p.pub("r/gone", "", qos=1, retain=True)       # clear
    p.pub("r/plain", "P", qos=1)                  # not retained
    return p


def test_replaced_and_cleared_on_subscribe_with_flag():
    with Daemon(CONF, ports={"retain": "true"}) as d:
        p = retained(d)
        c = Client(d.port, "c")
        c.sub("r/+", 1)
        c.expect("r/a", "A2", retain=True, qos=1)
        c.nothing(via=p)
        c.close()
        p.close()


def test_qos_is_the_lower_of_message_and_subscription():
    with Daemon(CONF, ports={"retain": "true"}) as d:
        p = retained(d)
        c = Client(d.port, "c")
        c.sub("r/#", 0)
        got = sorted((m.topic, m.payload, m.retain, m.qos)
                     for m in (c.get(), c.get()))
        check(got == [("r/a", b"A2", 1, 0), ("r/b/c", b"BC", 1, 0)],
              "r/#: %r" % got)
        c.nothing(via=p)
        c.close()
        p.close()


def test_live_retained_publish_has_no_flag_and_clear_is_delivered():
    with Daemon(CONF, ports={"retain": "true"}) as d:
        p = retained(d)
        c = Client(d.port, "c")
        c.sub("r/a", 1)
        c.expect("r/a", "A2", retain=True)
        p.pub("r/a", "A3", qos=1, retain=True)
        m = c.get()
        check((m.topic, m.payload, m.retain) == ("r/a", b"A3", 0), "live")
        # the empty retained publish is delivered live, then nothing kept
        p.pub("r/a", "", qos=1, retain=True)
        m = c.get()
        check((m.topic, m.payload) == ("r/a", b""), "live clear %r" % m)
        c.close()
        c = Client(d.port, "c2")
        c.sub("r/a", 1)
        c.nothing(via=p)
        c.close()
        p.close()


def test_stock_clients_retained():
    fhtest.need("mosquitto_sub", "mosquitto_pub")
    with Daemon(CONF, ports={"retain": "true"}) as d:
        p = retained(d)
        p.pub("r/a", "", qos=1, retain=True)
        s = Sub(d.port, "r/#")
        got = s.messages(1)
        s.close()
        check(got == ["r/b/c BC"], "mosquitto_sub: %r" % got)
        pub(d.port, "r/new", "N", "-r")
        s = Sub(d.port, "r/new")
        check(s.messages(1) == ["r/new N"], "mosquitto_pub -r")
        s.close()
        p.close()


def test_retain_false_keeps_nothing():
    with Daemon(CONF, ports={"retain": "false"}) as d:
        p = Client(d.port, "p")
        p.pub("x", "X", qos=1, retain=True)
        c = Client(d.port, "c")
        c.sub("#", 1)
        c.nothing(via=p)
        c.close()
        p.close()


fhtest.run_cases(globals())
