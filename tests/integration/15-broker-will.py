#!/usr/bin/python3
"""Will messages: published on abnormal loss (socket closed, protocol
error), not on DISCONNECT; QoS and retain kept; anonymous wills never
delivered."""
from fhtest import Daemon, check, main
from mqtttest import Client, Raw, connect_pkt, packet

CONF = """[broker]
sys_interval = 0
anonymous_publish = {anon}
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def test():
    with Daemon(CONF, ports={"anon": "true"}) as d:
        w = Client(d.port, "watcher")
        w.sub("w/#", 2)
        # DISCONNECT: no will
        c = Client(d.port, "polite", will=("w/polite", "bye", 1, False))
        c.close()
        # socket dropped: the will, at its QoS
        c = Client(d.port, "rude", will=("w/rude", "lost", 2, False))
        c.drop()
        w.expect("w/rude", "lost", qos=2)
        w.nothing(1)
        # retained will: a later subscriber gets it with retain set
        r = Raw(d.port, connect_pkt("ret", will=("w/ret", "R", 1, True)))
        r.close()
        w.expect("w/ret", "R", retain=False)
        late = Client(d.port, "late")
        late.sub("w/ret", 1)
        late.expect("w/ret", "R", retain=True)
        # protocol error: the will goes out too
        r = Raw(d.port, connect_pkt("bad", will=("w/bad", "err", 0, False)))
        r.send(packet(0x20, b"\x00\x00"))   # a CONNACK from a client
        check(r.closed(), "not closed")
        w.expect("w/bad", "err")
        # a taken-over client is lost abnormally: will sent
        old = Raw(d.port, connect_pkt("twin", will=("w/twin", "old", 0,
                                                    False)))
        new = Raw(d.port, connect_pkt("twin"))
        check(old.closed(), "not taken over")
        w.expect("w/twin", "old")
        new.send(packet(0xe0))
        w.nothing(1)
        w.close()
        late.close()
    # anonymous_publish = false: an anonymous will is dropped
    with Daemon(CONF, ports={"anon": "false"}) as d:
        w = Client(d.port, "watcher")
        w.sub("#", 2)
        c = Client(d.port, "anon", will=("w/anon", "sneaky", 1, True))
        c.drop()
        w.nothing(1.5)
        late = Client(d.port, "late")
        late.sub("#", 1)
        late.nothing(0.5)
        w.close()
        late.close()


main(test)
