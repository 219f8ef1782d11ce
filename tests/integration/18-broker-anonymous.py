#!/usr/bin/python3
"""The firehose rule: an anonymous client can never get a message to
another subscriber - not by PUBLISH at any QoS, not retained, not by a
will, not over MQTT 3.1, not by naming a user the broker cannot verify.
Its PUBLISHes are still acknowledged as 3.1.1 requires, and logged at
debug."""
from fhtest import Daemon, check, main, need
from mqtttest import V31, Client, Raw, ack_pkt, connect_pkt, publish_pkt, \
    pub

CONF = """[broker]
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def test():
    need("mosquitto_pub")
    with Daemon(CONF, args=["-v"]) as d:
        port = d.port
        w = Client(port, "watcher")
        w.sub("#", 2)
        # paho, every QoS, retained or not, both protocol versions
        for proto in (None, V31):
            kw = {"protocol": proto} if proto else {}
            a = Client(port, "anon", **kw)
            for q in (0, 1, 2):
                a.pub("t/q%d" % q, "x", qos=q)
                a.pub("t/r%d" % q, "x", qos=q, retain=True)
            a.close()
        # a user name without a password file is still anonymous
        a = Client(port, "named", user="admin", password="admin")
        a.pub("t/named", "x", qos=1, retain=True)
        # a will
        a = Client(port, "willer", will=("t/will", "x", 1, True))
        a.drop()
        # the stock client
        pub(port, "t/stock", "x", "-q", "1", "-r")
        pub(port, "t/stock", "x", "-u", "root", "-P", "root")
        # raw: acknowledged exactly as 3.1.1 requires
        r = Raw(port, connect_pkt("raw"))
        r.send(publish_pkt("t/raw", "x", qos=1, mid=5))
        check(r.read() == (4, 0, b"\x00\x05"), "PUBACK")
        r.send(publish_pkt("t/raw", "x", qos=2, mid=6, retain=True))
        check(r.read() == (5, 0, b"\x00\x06"), "PUBREC")
        r.send(ack_pkt("pubrel", 6))
        check(r.read() == (7, 0, b"\x00\x06"), "PUBCOMP")
        r.close()
        w.nothing(1.5)
        late = Client(port, "late")
        late.sub("#", 2)
        late.nothing(1)
        check("anonymous PUBLISH to 't/raw' dropped" in d.logtext(),
              "not logged at debug")
        w.close()
        late.close()


main(test)
