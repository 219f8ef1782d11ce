#!/usr/bin/python3
"""Pub/sub with the stock clients: QoS 0/1/2 both ways, wildcards,
MQTT 3.1 and 3.1.1, overlapping subscriptions delivered once."""
import fhtest
from fhtest import Daemon, check, need
from mqtttest import V31, Client, Sub, pub

CONF = """[broker]
anonymous_publish = true
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def stock(q):
    need("mosquitto_sub", "mosquitto_pub")
    with Daemon(CONF) as d:
        s = Sub(d.port, "t/+/x/#", qos=q)
        pub(d.port, "t/a/x/y", "one", "-q", q)
        pub(d.port, "t/b/x", "two", "-q", q, "-V", "mqttv31")
        pub(d.port, "t/b/y", "not me", "-q", q)
        pub(d.port, "t/c/x/", "three", "-q", q)
        got = s.messages(3)
        s.close()
        check(got == ["t/a/x/y one", "t/b/x two", "t/c/x/ three"],
              "q%s: %r" % (q, got))


def test_stock_clients_wildcards_qos0():
    stock("0")


def test_stock_clients_wildcards_qos1():
    stock("1")


def test_stock_clients_wildcards_qos2():
    stock("2")


def overlapping(d):
    """a subscribed to o/# (1), o/+ (2) and o/x (0); b is MQTT 3.1."""
    a = Client(d.port, "a")
    check(a.sub("o/#", 1) == (1,), "granted")
    check(a.sub("o/+", 2) == (2,), "granted")
    check(a.sub("o/x", 0) == (0,), "granted")
    b = Client(d.port, "b", protocol=V31)
    return a, b


def test_overlapping_filters_delivered_once_at_highest_qos():
    with Daemon(CONF) as d:
        a, b = overlapping(d)
        b.pub("o/x", "hi", qos=2)
        a.expect("o/x", "hi", qos=2)
        a.nothing(via=b)
        a.close()
        b.close()


def test_downgrade_to_granted_qos():
    with Daemon(CONF) as d:
        a, b = overlapping(d)
        b.pub("o/x/y", "deep", qos=2)
        a.expect("o/x/y", "deep", qos=1)
        b.pub("o", "parent", qos=0)
        a.expect("o", "parent", qos=0)
        a.close()
        b.close()


def test_unsubscribe_stops_only_that_filter():
    with Daemon(CONF) as d:
        a, b = overlapping(d)
        a.unsub("o/#")
        b.pub("o/x/y", "gone", qos=1)
        b.pub("o/z", "still", qos=1)
        a.expect("o/z", "still", qos=1)
        a.nothing(via=b)
        a.close()
        b.close()


def test_qos1_order_kept():
    with Daemon(CONF) as d:
        a, b = overlapping(d)
        for i in range(200):
            b.c.publish("o/q", str(i), 1)
        for i in range(200):
            a.expect("o/q", str(i))
        a.close()
        b.close()


fhtest.run_cases(globals())
