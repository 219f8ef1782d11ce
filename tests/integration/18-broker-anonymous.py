#!/usr/bin/python3
"""The firehose rule: an anonymous client can never get a message to
another subscriber - not by PUBLISH at any QoS, not retained, not by a
will, not over MQTT 3.1, not by naming a user the broker cannot verify.
Its PUBLISHes are still acknowledged as 3.1.1 requires, and logged at
debug."""
import fhtest
from fhtest import Daemon, check, need
from mqtttest import V31, Client, Raw, ack_pkt, connect_pkt, publish_pkt, \
    pub

CONF = """[broker]
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def anonymous(body):
    """Run body(port) with a "#" watcher there before and a "#" reader
    after: neither gets anything."""
    with Daemon(CONF, args=["-v"]) as d:
        w = Client(d.port, "watcher")
        w.sub("#", 2)
        body(d.port)
        w.nothing()
        late = Client(d.port, "late")
        late.sub("#", 2)
        late.nothing()
        w.close()
        late.close()
        return d.logtext()


def test_paho_every_qos_retained_or_not_both_versions():
    def body(port):
        for proto in (None, V31):
            kw = {"protocol": proto} if proto else {}
            a = Client(port, "anon", **kw)
            for q in (0, 1, 2):
                a.pub("t/q%d" % q, "x", qos=q)
                a.pub("t/r%d" % q, "x", qos=q, retain=True)
            a.sync()
            a.close()
    anonymous(body)


def test_user_name_without_password_file_is_anonymous():
    def body(port):
        a = Client(port, "named", user="admin", password="admin")
        a.pub("t/named", "x", qos=1, retain=True)
        a.close()
    anonymous(body)


def test_will_of_anonymous_client():
    def body(port):
        a = Client(port, "willer", will=("t/will", "x", 1, True))
        a.drop()
        Client(port, "willer").close()   # the drop is handled by now
    anonymous(body)


def test_stock_client():
    need("mosquitto_pub")

    def body(port):
        pub(port, "t/stock", "x", "-q", "1", "-r")
        pub(port, "t/stock", "x", "-q", "1", "-u", "root", "-P", "root")
    anonymous(body)


def test_raw_acknowledged_as_311_requires_and_logged():
    def body(port):
        r = Raw(port, connect_pkt("raw"))
        r.send(publish_pkt("t/raw", "x", qos=1, mid=5))
        check(r.read() == (4, 0, b"\x00\x05"), "PUBACK")
        r.send(publish_pkt("t/raw", "x", qos=2, mid=6, retain=True))
        check(r.read() == (5, 0, b"\x00\x06"), "PUBREC")
        r.send(ack_pkt("pubrel", 6))
        check(r.read() == (7, 0, b"\x00\x06"), "PUBCOMP")
        r.close()
    log = anonymous(body)
    check("anonymous PUBLISH to 't/raw' dropped" in log,
          "not logged at debug")


fhtest.run_cases(globals())
