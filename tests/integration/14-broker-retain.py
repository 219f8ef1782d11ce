#!/usr/bin/python3
"""Retained messages: set, replace, clear with an empty payload, delivered
on subscribe with the retain flag (live ones without), QoS min'd with the
subscription; retain = false turns the store off."""
from fhtest import Daemon, check, main
from mqtttest import Client, Sub, pub

CONF = """[broker]
sys_interval = 0
anonymous_publish = true
retain = {retain}
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def test():
    with Daemon(CONF, ports={"retain": "true"}) as d:
        p = Client(d.port, "p")
        p.pub("r/a", "A1", qos=1, retain=True)
        p.pub("r/a", "A2", qos=1, retain=True)        # replace
        p.pub("r/b/c", "BC", qos=0, retain=True)
        p.pub("r/gone", "G", qos=1, retain=True)
        p.pub("r/gone", "", qos=1, retain=True)       # clear
        p.pub("r/plain", "P", qos=1)                  # not retained
        c = Client(d.port, "c")
        c.sub("r/+", 1)
        c.expect("r/a", "A2", retain=True, qos=1)
        c.nothing()
        c.sub("r/#", 0)
        got = sorted((m.topic, m.payload, m.retain, m.qos)
                     for m in (c.get(), c.get()))
        check(got == [("r/a", b"A2", 1, 0), ("r/b/c", b"BC", 1, 0)],
              "r/#: %r" % got)
        c.nothing()
        # live delivery of a retained publish: retain flag 0
        p.pub("r/a", "A3", qos=1, retain=True)
        m = c.get()
        check((m.topic, m.payload, m.retain) == ("r/a", b"A3", 0), "live")
        # the empty retained publish is delivered live, then nothing kept
        p.pub("r/a", "", qos=1, retain=True)
        m = c.get()
        check((m.topic, m.payload) == ("r/a", b""), "live clear %r" % m)
        c.close()
        # stock client: retained on subscribe, -R hides them
        s = Sub(d.port, "r/#")
        got = s.messages(1)
        s.close()
        check(got == ["r/b/c BC"], "mosquitto_sub: %r" % got)
        pub(d.port, "r/new", "N", "-r")
        s = Sub(d.port, "r/new")
        check(s.messages(1) == ["r/new N"], "mosquitto_pub -r")
        s.close()
        p.close()
    with Daemon(CONF, ports={"retain": "false"}) as d:
        p = Client(d.port, "p")
        p.pub("x", "X", qos=1, retain=True)
        c = Client(d.port, "c")
        c.sub("#", 1)
        c.nothing(1)
        c.close()
        p.close()


main(test)
