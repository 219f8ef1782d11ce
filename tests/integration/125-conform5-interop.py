#!/usr/bin/python3
"""MQTT 5.0 interoperability, as a user would: paho-mqtt's MQTTv5 client
and mosquitto_sub/pub/rr -V 5 through the common flows (properties end
to end, request/response, sessions, subscription options, unsubscribe
reasons, takeover), the way Paho's client_test5.py exercises a broker."""
import queue
import subprocess

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

import fhtest
from conform5test import daemon
from fhtest import check
from mqtttest import Sub


class Paho5:
    """A paho MQTTv5 client whose callbacks land in one queue."""

    def __init__(self, port, cid, clean_start=True, expiry=None, will=None):
        self.ev = queue.Queue()
        self.msgs = queue.Queue()
        self.c = mqtt.Client(cid, protocol=mqtt.MQTTv5)
        self.c.on_connect = lambda c, u, f, rc, p=None: self.ev.put(
            ("connack", f, rc.value))
        self.c.on_subscribe = lambda c, u, mid, rcs, p=None: self.ev.put(
            ("suback", [x.value for x in rcs]))
        self.c.on_unsubscribe = lambda c, u, mid, p, rcs: self.ev.put(
            ("unsuback", [x.value for x in (rcs if isinstance(rcs, list)
                                            else [rcs])]))
        self.c.on_disconnect = lambda c, u, rc, p=None: self.ev.put(
            ("disconnect", getattr(rc, "value", rc)))
        self.c.on_message = lambda c, u, m: self.msgs.put(m)
        if will is not None:
            self.c.will_set(*will)
        props = None
        if expiry is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = expiry
        self.c.connect("127.0.0.1", port, clean_start=clean_start,
                       properties=props)
        self.c.loop_start()
        k = self.event("connack")
        check(k[2] == 0, "%s: CONNACK %r" % (cid, k))
        self.session_present = bool(k[1].get("session present"))

    def event(self, kind, timeout=10):
        try:
            e = self.ev.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no %s" % kind)
        check(e[0] == kind, "want %s, got %r" % (kind, e))
        return e

    def msg(self, timeout=10):
        try:
            return self.msgs.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message")

    def sub(self, *subs):
        self.c.subscribe(list(subs))
        return self.event("suback")[1]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def test_mosquitto_v5_every_publish_property():
    # [MQTT-3.3.2-4, -15..-18, -20], 3.3.2.3.3: mosquitto_pub -D's
    # properties reach mosquitto_sub -V 5 unchanged, with the
    # subscription identifier it asked for [MQTT-3.3.4-3].
    fhtest.need("mosquitto_sub", "mosquitto_pub")
    with daemon() as d:
        s = Sub(d.port, "mq/#", ["-V", "5", "-F",
                                 "%t|%p|%C|%R|%D|%E|%F|%P|%S", "-D",
                                 "subscribe", "subscription-identifier",
                                 "7"])
        try:
            r = subprocess.run(
                ["mosquitto_pub", "-V", "5", "-h", "127.0.0.1", "-p",
                 str(d.port), "-t", "mq/t", "-m", "hi", "-q", "1",
                 "-D", "publish", "content-type", "text/plain",
                 "-D", "publish", "response-topic", "re/t",
                 "-D", "publish", "correlation-data", "abc",
                 "-D", "publish", "message-expiry-interval", "60",
                 "-D", "publish", "payload-format-indicator", "1",
                 "-D", "publish", "user-property", "k", "v"],
                capture_output=True, text=True, timeout=20)
            check(r.returncode == 0, "mosquitto_pub: %s" % r.stderr)
            got = s.messages(1)
            check(got == ["mq/t|hi|text/plain|re/t|abc|60|1|k:v|7"],
                  "got %r" % got)
        finally:
            s.close()


def test_mosquitto_rr_request_response():
    # 4.10: request/response: mosquitto_rr publishes with a Response Topic
    # and Correlation Data; a paho responder answers on that topic with
    # the same correlation data.
    fhtest.need("mosquitto_rr")
    with daemon() as d:
        resp = Paho5(d.port, "responder")

        def answer(c, u, m):
            pr = Properties(PacketTypes.PUBLISH)
            if hasattr(m.properties, "CorrelationData"):
                pr.CorrelationData = m.properties.CorrelationData
            c.publish(m.properties.ResponseTopic, b"re:" + m.payload, 1,
                      properties=pr)
        resp.c.on_message = answer
        check(resp.sub(("rq/#", SubscribeOptions(qos=1))) == [1], "SUBACK")
        try:
            r = subprocess.run(
                ["mosquitto_rr", "-V", "5", "-h", "127.0.0.1", "-p",
                 str(d.port), "-t", "rq/t", "-e", "rs/t", "-m", "ask",
                 "-W", "20"], capture_output=True, text=True, timeout=30)
            check(r.returncode == 0, "mosquitto_rr %d: %s" % (
                r.returncode, r.stderr))
            check(r.stdout.strip() == "re:ask", "answer %r" % r.stdout)
        finally:
            resp.close()


def test_mosquitto_sub_v5_session_expiry():
    # [MQTT-3.1.2-23]: mosquitto_sub -V 5 -c -x keeps its session; a QoS 1
    # message published while it is away is delivered when it is back.
    fhtest.need("mosquitto_sub", "mosquitto_pub")
    with daemon() as d:
        base = ["mosquitto_sub", "-V", "5", "-h", "127.0.0.1", "-p",
                str(d.port), "-c", "-i", "keeper", "-x", "300", "-q", "1",
                "-t", "ms/#"]
        r = subprocess.run(base + ["-E"], capture_output=True, text=True,
                           timeout=20)
        check(r.returncode == 0, "mosquitto_sub -E: %s" % r.stderr)
        r = subprocess.run(["mosquitto_pub", "-V", "5", "-h", "127.0.0.1",
                            "-p", str(d.port), "-t", "ms/t", "-m", "away",
                            "-q", "1"], capture_output=True, text=True,
                           timeout=20)
        check(r.returncode == 0, "mosquitto_pub: %s" % r.stderr)
        r = subprocess.run(base + ["-C", "1", "-W", "10", "-v"],
                           capture_output=True, text=True, timeout=20)
        check(r.returncode == 0 and r.stdout.strip() == "ms/t away",
              "resumed: %d %r %s" % (r.returncode, r.stdout, r.stderr))


def test_paho_v5_session_present_and_queued():
    # [MQTT-3.2.2-2, -3]: session present on a resumed session; its
    # queued QoS 1 message arrives.
    with daemon() as d:
        a = Paho5(d.port, "pk", clean_start=False, expiry=300)
        check(not a.session_present, "first: session present")
        check(a.sub(("pq/#", SubscribeOptions(qos=1))) == [1], "SUBACK")
        a.close()
        p = Paho5(d.port, "pp")
        p.c.publish("pq/t", "queued", 1).wait_for_publish()
        p.close()
        a = Paho5(d.port, "pk", clean_start=False, expiry=300)
        try:
            check(a.session_present, "not resumed")
            m = a.msg()
            check((m.topic, m.payload, m.qos) == ("pq/t", b"queued", 1),
                  "queued %r" % m.topic)
        finally:
            a.close()


def test_paho_v5_no_local_and_retain_handling():
    # [MQTT-3.8.3-3] No Local; [MQTT-3.3.1-11] Retain Handling 2: no
    # retained message on subscribe; through paho's SubscribeOptions.
    with daemon() as d:
        p = Paho5(d.port, "pr")
        p.c.publish("pn/ret", "old", 1, retain=True).wait_for_publish()
        me = Paho5(d.port, "me")
        try:
            check(me.sub(("pn/#", SubscribeOptions(
                qos=1, noLocal=True, retainHandling=2))) == [1], "SUBACK")
            me.c.publish("pn/t", "mine", 1).wait_for_publish()
            p.c.publish("pn/t", "theirs", 1).wait_for_publish()
            m = me.msg()
            check(m.payload == b"theirs", "first message %r" % m.payload)
            check(me.msgs.empty(), "more: %r" % me.msgs.queue)
        finally:
            me.close()
            p.close()


def test_paho_v5_unsubscribe_reason_codes():
    # [MQTT-3.11.3-1]: UNSUBACK 0x00 and 0x11 (no subscription existed),
    # as paho reports them.
    with daemon() as d:
        c = Paho5(d.port, "un")
        try:
            check(c.sub(("ua/#", SubscribeOptions(qos=0))) == [0], "SUBACK")
            c.c.unsubscribe(["ua/#", "never"])
            check(c.event("unsuback")[1] == [0x00, 0x11], "UNSUBACK")
        finally:
            c.close()


def test_paho_v5_takeover_reported_0x8e():
    # [MQTT-3.1.4-3]: a second connection with the client id takes the
    # session over; paho reports the first one's DISCONNECT 0x8E.
    with daemon() as d:
        a = Paho5(d.port, "twin")
        b = Paho5(d.port, "twin")
        try:
            check(a.event("disconnect")[1] == 0x8E, "takeover reason")
        finally:
            a.c.loop_stop()
            b.close()


def test_paho_v5_will_with_properties():
    # [MQTT-3.1.2-8], [MQTT-3.1.3-10]: a lost paho client's will, with
    # the user property it set, reaches another paho client.
    with daemon() as d:
        w = Paho5(d.port, "watch")
        check(w.sub(("pw/#", SubscribeOptions(qos=1))) == [1], "SUBACK")
        wp = Properties(PacketTypes.WILLMESSAGE)
        wp.UserProperty = ("why", "lost")
        connected = queue.Queue()
        c = mqtt.Client("dying", protocol=mqtt.MQTTv5)
        c.on_connect = lambda *a: connected.put(a[3])
        c.will_set("pw/t", "gone", 1, properties=wp)
        c.connect("127.0.0.1", d.port)
        c.loop_start()
        try:
            check(connected.get(timeout=10) == 0, "CONNACK")
            c.loop_stop()
            c.socket().close()
            m = w.msg()
            check((m.topic, m.payload) == ("pw/t", b"gone"), "will %r" %
                  m.topic)
            check(m.properties.UserProperty == [("why", "lost")],
                  "will properties %r" % m.properties)
        finally:
            w.close()


fhtest.run_cases(globals())
