#!/usr/bin/python3
"""MQTT 5.0 conformance, QoS flows and flow control (OASIS MQTT 5.0,
sections 4.3, 4.9): acks with error reasons end the flow and give the
send quota back; the server never exceeds the client's Receive Maximum.
Then stock 5.0 clients (paho MQTTv5, mosquitto_sub/pub -V 5) through the
common flows."""
import subprocess

import fhtest
from conformtest import CONF, drain
from fhtest import Daemon, check
from mqtttest import (Raw5, ack5_pkt, parse_ack5, parse_publish5, prop,
                      publish5_pkt, P_RECEIVE_MAXIMUM, P_USER)


def puback(r, mid):
    t, got, reason, _ = parse_ack5(r.read())
    check((t, got, reason) == (4, mid, 0), "PUBACK %d" % mid)


def window_of_one(d, cid, qos):
    """A subscriber with Receive Maximum 1 and three messages for it; the
    first one read."""
    s = Raw5(d.port, cid, props=prop(P_RECEIVE_MAXIMUM, 1))
    check(s.subscribe(1, [("fl/" + cid, qos)]) == [qos], "SUBACK")
    p = Raw5(d.port, "p" + cid)
    for i in range(3):
        p.send(publish5_pkt("fl/" + cid, str(i), qos=qos, mid=i + 1))
        t, mid, reason, _ = parse_ack5(p.read())
        check((t, mid, reason) == (3 + qos, i + 1, 0), "ack")
    first = parse_publish5(s.read())
    check(first["payload"] == b"0", "first %r" % first)
    # [MQTT-3.3.4-9]: no second QoS > 0 PUBLISH while one is unacked
    check(drain(s) == [], "over the Receive Maximum")
    return s, first


def test_4_3_3_4_pubrec_error_ends_the_flow_without_pubrel():
    # [MQTT-4.3.3-4]: PUBREL only for a PUBREC below 0x80; 4.9: a PUBREC
    # of 0x80 or more gives the send quota back: the next message comes.
    with Daemon(CONF) as d:
        s, first = window_of_one(d, "rec", 2)
        s.send(ack5_pkt("pubrec", first["mid"], 0x80))
        p = s.read()
        check(p is not None and p[0] == 3, "want the next PUBLISH, not "
              "%r" % (p,))
        check(parse_publish5(p)["payload"] == b"1", "next %r" % (p,))


def test_4_9_puback_error_gives_quota_back():
    # 4.9: the send quota grows with each PUBACK, error or not.
    with Daemon(CONF) as d:
        s, first = window_of_one(d, "ack", 1)
        s.send(ack5_pkt("puback", first["mid"], 0x83))
        nxt = parse_publish5(s.read())
        check(nxt["payload"] == b"1", "next %r" % nxt)


def test_4_3_3_pubcomp_after_pubrel_gives_quota_back():
    # [MQTT-4.3.3-5]..: PUBREC 0, PUBREL from the server (flags 0x02),
    # PUBCOMP: the flow is over and the next message comes.
    with Daemon(CONF) as d:
        s, first = window_of_one(d, "comp", 2)
        s.send(ack5_pkt("pubrec", first["mid"]))
        p = s.read()
        check(p is not None and p[:2] == (6, 2), "PUBREL %r" % (p,))
        check(parse_ack5(p)[1] == first["mid"], "PUBREL id")
        check(drain(s) == [], "a PUBLISH before PUBCOMP")
        s.send(ack5_pkt("pubcomp", first["mid"]))
        nxt = parse_publish5(s.read())
        check(nxt["payload"] == b"1", "next %r" % nxt)


def test_3_3_4_7_qos2_awaiting_pubrel_counts_toward_receive_maximum():
    # [MQTT-3.3.4-7]: the client MUST NOT have more than the server's
    # Receive Maximum QoS 1/2 PUBLISHes unacknowledged; a QoS 2 one is
    # until PUBCOMP. A third with two awaiting PUBREL: DISCONNECT 0x93.
    conf = CONF.replace("[broker]\n", "[broker]\nmax_inflight_messages = 2\n")
    with Daemon(conf) as d:
        r = Raw5(d.port, "q2", props=prop(0x17, 0))
        for i in (1, 2):
            r.send(publish5_pkt("x", "y", qos=2, mid=i))
            check(parse_ack5(r.read())[:2] == (5, i), "PUBREC %d" % i)
        r.send(publish5_pkt("x", "y", qos=2, mid=3))
        check(r.disconnected() == 0x93, "want DISCONNECT 0x93")


def test_3_3_4_9_pubrec_0_still_counts_until_pubcomp():
    # [MQTT-3.3.4-9]: the server counts a QoS 2 PUBLISH against the
    # client's Receive Maximum until PUBCOMP (a PUBREC below 0x80 does
    # not free it).
    with Daemon(CONF) as d:
        s = Raw5(d.port, "s", props=prop(P_RECEIVE_MAXIMUM, 2))
        check(s.subscribe(1, [("t", 2)]) == [2], "SUBACK")
        p = Raw5(d.port, "p")
        for i in range(1, 5):
            p.send(publish5_pkt("t", str(i), qos=2, mid=i))
            check(parse_ack5(p.read())[:3] == (5, i, 0), "PUBREC")
        a, b = parse_publish5(s.read()), parse_publish5(s.read())
        check((a["payload"], b["payload"]) == (b"1", b"2"), "first two")
        s.send(ack5_pkt("pubrec", a["mid"]))
        check(s.read()[:2] == (6, 2), "PUBREL")
        check(drain(s) == [], "a third before PUBCOMP")
        s.send(ack5_pkt("pubcomp", a["mid"]))
        check(parse_publish5(s.read())["payload"] == b"3", "third")


def test_4_4_0_2_refused_not_resent_on_reconnect():
    # [MQTT-4.4.0-1]: on a resumed session the unacknowledged PUBLISHes
    # are resent; [MQTT-4.4.0-2]: one answered with a PUBACK or PUBREC of
    # 0x80 or more counts as acknowledged and is not.
    exp = prop(0x11, 300)
    with Daemon(CONF) as d:
        s = Raw5(d.port, "s", props=exp)
        check(s.subscribe(1, [("rr/#", 2)]) == [2], "SUBACK")
        p = Raw5(d.port, "p")
        for i, q in enumerate((1, 2, 2)):
            p.send(publish5_pkt("rr/%d" % i, str(i), qos=q, mid=i + 1))
            check(parse_ack5(p.read())[:3] == (3 + q, i + 1, 0), "ack")
        m = [parse_publish5(s.read()) for _ in range(3)]
        s.send(ack5_pkt("puback", m[0]["mid"], 0x80))
        s.send(ack5_pkt("pubrec", m[1]["mid"], 0x87))
        check(drain(s) == [], "an answer to a refusing ack")
        s.close()
        s = Raw5(d.port, "s", clean=False, props=exp)
        again = [parse_publish5(q) for q in drain(s)]
        check([(a["topic"], a["dup"]) for a in again] == [("rr/2", True)],
              "resent: %r" % again)


def test_paho_v5_flow():
    # paho-mqtt's MQTTv5 client: connect, subscribe with options, QoS 2
    # with a user property both ways, a retained message with RETAIN 1 on
    # subscribe.
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from paho.mqtt.subscribeoptions import SubscribeOptions
    import queue
    with Daemon(CONF) as d:
        got, acks = queue.Queue(), queue.Queue()
        c = mqtt.Client("paho5", protocol=mqtt.MQTTv5)
        c.on_connect = lambda *a: acks.put(("connack", a[3]))
        c.on_subscribe = lambda *a: acks.put(("suback", a[3]))
        c.on_message = lambda cl, u, m: got.put(m)
        c.connect("127.0.0.1", d.port)
        c.loop_start()
        try:
            k, rc = acks.get(timeout=10)
            check(k == "connack" and rc == 0, "CONNACK %r" % rc)
            pr = Properties(PacketTypes.PUBLISH)
            pr.UserProperty = ("k", "v")
            c.publish("pf/ret", "kept", qos=1, retain=True,
                      properties=pr).wait_for_publish()
            c.subscribe("pf/#", options=SubscribeOptions(
                qos=2, retainAsPublished=True))
            k, codes = acks.get(timeout=10)
            check(k == "suback" and [x.value for x in codes] == [2],
                  "SUBACK %r" % codes)
            m = got.get(timeout=10)
            check((m.topic, m.payload, m.retain) ==
                  ("pf/ret", b"kept", 1), "retained %r" % m.topic)
            check(m.properties.UserProperty == [("k", "v")],
                  "user property %r" % m.properties)
            c.publish("pf/live", "two", qos=2, properties=pr)
            m = got.get(timeout=10)
            check((m.topic, m.payload, m.qos) == ("pf/live", b"two", 2),
                  "QoS 2 %r" % m.topic)
        finally:
            c.disconnect()
            c.loop_stop()


def test_mosquitto_v5_flow():
    # mosquitto_sub/pub -V 5: QoS 2, a user property through -D.
    fhtest.need("mosquitto_sub", "mosquitto_pub")
    with Daemon(CONF) as d:
        sub = subprocess.Popen(
            ["mosquitto_sub", "-V", "5", "-h", "127.0.0.1", "-p",
             str(d.port), "-t", "mv/#", "-q", "2", "-C", "1", "-W", "20",
             "-F", "%t %p %P"], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        # retained: it reaches the subscriber whether it subscribes
        # before the publish or after
        r = subprocess.run(
            ["mosquitto_pub", "-V", "5", "-h", "127.0.0.1", "-p",
             str(d.port), "-t", "mv/a", "-m", "hello", "-q", "2", "-r",
             "-D", "publish", "user-property", "k", "v"],
            capture_output=True, text=True, timeout=20)
        check(r.returncode == 0, "mosquitto_pub: %s" % r.stderr)
        out, err = sub.communicate(timeout=30)
        check(sub.returncode == 0, "mosquitto_sub: %s" % err)
        check(out.strip() == "mv/a hello k:v", "got %r" % out)


fhtest.run_cases(globals())
