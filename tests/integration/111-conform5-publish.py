#!/usr/bin/python3
"""MQTT 5.0 conformance, PUBLISH (OASIS MQTT 5.0, section 3.3): topic
aliases, response topic, properties, subscription identifiers on
delivery. One case per normative statement or small group, raw packets,
exact reason codes."""
import fhtest
from conformtest import CONF, drain
from fhtest import Daemon, check
from mqtttest import (Raw5, parse_ack5, parse_publish5, prop, prop_get,
                      publish5_pkt, subscribe5_pkt, P_RESPONSE_TOPIC,
                      P_SUBSCRIPTION_ID, P_TOPIC_ALIAS,
                      P_TOPIC_ALIAS_MAXIMUM, P_USER)


def puback(r, mid, want=0):
    p = r.read()
    t, got, reason, _ = parse_ack5(p)
    check((t, got, reason) == (4, mid, want), "PUBACK %d: %r" % (mid, p))


def topics(r):
    return [parse_publish5(p)["topic"] for p in drain(r)]


def test_3_3_2_8_topic_alias_0_invalid():
    # [MQTT-3.3.2-8]: a Topic Alias of 0 is not allowed: DISCONNECT 0x94
    # (Topic Alias invalid).
    with Daemon(CONF) as d:
        r = Raw5(d.port, "a0")
        r.send(publish5_pkt("ta", "x", props=prop(P_TOPIC_ALIAS, 0)))
        check(r.disconnected() == 0x94, "want DISCONNECT 0x94")


def test_3_3_2_7_aliases_do_not_outlive_the_connection():
    # [MQTT-3.3.2-7]: topic alias mappings belong to one network
    # connection: after a reconnect (same session) an alias alone is
    # unknown, a Protocol Error.
    exp = prop(0x11, 300)
    with Daemon(CONF) as d:
        s = Raw5(d.port, "s")
        check(s.subscribe(1, [("ta/#", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "p", props=exp)
        r.send(publish5_pkt("ta/x", "1", qos=1, mid=1,
                            props=prop(P_TOPIC_ALIAS, 1)))
        puback(r, 1)
        r.close()
        r = Raw5(d.port, "p", clean=False, props=exp)
        r.send(publish5_pkt("", "2", qos=1, mid=2,
                            props=prop(P_TOPIC_ALIAS, 1)))
        check(r.disconnected() == 0x82, "want DISCONNECT 0x82")
        check(topics(s) == ["ta/x"], "the alias went on")


def test_3_3_2_12_alias_remapped_by_a_new_topic():
    # [MQTT-3.3.2-12]: a PUBLISH with an existing alias and a topic name
    # changes the mapping; later alias-only PUBLISHes use the new one.
    with Daemon(CONF) as d:
        s = Raw5(d.port, "s")
        check(s.subscribe(1, [("ta/#", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "p")
        a = prop(P_TOPIC_ALIAS, 2)
        for i, t in enumerate(("ta/a", "", "ta/b", "")):
            r.send(publish5_pkt(t, str(i), qos=1, mid=i + 1, props=a))
            puback(r, i + 1)
        check(topics(s) == ["ta/a", "ta/a", "ta/b", "ta/b"],
              "alias mapping")


def test_3_3_2_10_no_alias_to_a_client_without_a_maximum():
    # [MQTT-3.3.2-10] with [MQTT-3.1.2-27]: no Topic Alias Maximum from
    # the client (0): the server sends no alias, each PUBLISH has the
    # whole topic. [MQTT-3.3.2-11]: with a maximum of 1, none above 1.
    with Daemon(CONF) as d:
        for cid, props, top in (("none", b"", 0),
                                ("one", prop(P_TOPIC_ALIAS_MAXIMUM, 1), 1)):
            s = Raw5(d.port, cid, props=props)
            check(s.subscribe(1, [("al/#", 0)]) == [0], "SUBACK")
            r = Raw5(d.port, "p" + cid)
            for i in range(6):
                r.send(publish5_pkt("al/%d" % (i % 2), str(i), qos=1,
                                    mid=i + 1))
                puback(r, i + 1)
            got = [parse_publish5(p) for p in drain(s)]
            check(len(got) == 6, "%s: %d messages" % (cid, len(got)))
            for g in got:
                alias = prop_get(g["props"], P_TOPIC_ALIAS, 0)
                check(alias <= top, "%s: alias %d" % (cid, alias))
                if top == 0:
                    check(g["topic"] in ("al/0", "al/1"), "topic %r" %
                          g["topic"])


def test_3_3_2_14_response_topic_with_wildcards_refused():
    # [MQTT-3.3.2-14]: the Response Topic MUST NOT contain wildcards; one
    # that does is a Protocol Error (DISCONNECT 0x82, or 0x81).
    with Daemon(CONF) as d:
        s = Raw5(d.port, "s")
        check(s.subscribe(1, [("rt/#", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "p")
        r.send(publish5_pkt("rt/a", "x", qos=1, mid=1,
                            props=prop(P_RESPONSE_TOPIC, "reply/#")))
        check(r.disconnected() in (0x81, 0x82), "want DISCONNECT 0x82")
        check(drain(s) == [], "delivered")


def test_3_3_2_15_to_18_properties_unaltered_in_order():
    # [MQTT-3.3.2-15] Response Topic, [MQTT-3.3.2-16] Correlation Data,
    # [MQTT-3.3.2-17], [MQTT-3.3.2-18] User Properties, in their order,
    # [MQTT-3.3.2-20] Content Type: forwarded unaltered.
    ps = (prop(P_USER, ("z", "1")) + prop(0x03, "text/x") +
          prop(P_USER, ("a", "2")) + prop(P_RESPONSE_TOPIC, "re/ply") +
          prop(0x09, b"\x00\x01corr") + prop(P_USER, ("z", "3")))
    with Daemon(CONF) as d:
        s = Raw5(d.port, "s")
        check(s.subscribe(1, [("pr/#", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "p")
        r.send(publish5_pkt("pr/a", "x", qos=1, mid=1, props=ps))
        puback(r, 1)
        got = [parse_publish5(p) for p in drain(s)]
        check(len(got) == 1, "one message: %r" % got)
        users = [v for k, v in got[0]["props"] if k == P_USER]
        check(users == [("z", "1"), ("a", "2"), ("z", "3")],
              "user properties %r" % users)
        check(prop_get(got[0]["props"], 0x03) == "text/x" and
              prop_get(got[0]["props"], P_RESPONSE_TOPIC) == "re/ply" and
              prop_get(got[0]["props"], 0x09) == b"\x00\x01corr",
              "properties %r" % got[0]["props"])


def test_3_3_4_3_5_subscription_identifiers_on_delivery():
    # [MQTT-3.3.4-3]: the Subscription Identifier of the matching
    # subscription is on the PUBLISH; [MQTT-3.3.4-4]: every matching one
    # when delivered once; a subscription without one adds none. A
    # re-SUBSCRIBE replaces the subscription and its identifier
    # ([MQTT-3.8.4-3]).
    with Daemon(CONF) as d:
        s = Raw5(d.port, "s")
        check(s.subscribe(1, [("si/#", 1)], prop(P_SUBSCRIPTION_ID, 5)) ==
              [1], "SUBACK")
        check(s.subscribe(2, [("si/+", 0)], prop(P_SUBSCRIPTION_ID, 300))
              == [0], "SUBACK")
        check(s.subscribe(3, [("si/a", 0)]) == [0], "SUBACK")
        r = Raw5(d.port, "p")
        r.send(publish5_pkt("si/a", "x", qos=0))
        r.send(publish5_pkt("si/a/b", "y", qos=0))
        r.send(publish5_pkt("sync", "", qos=1, mid=99))
        puback(r, 99, 0x10)
        got = [parse_publish5(p) for p in drain(s)]
        ids = [sorted(v for k, v in g["props"] if k == P_SUBSCRIPTION_ID)
               for g in got]
        check(len(got) in (2, 4), "deliveries %r" % got)
        flat = sorted(sum(ids, []))
        check(flat == [5, 5, 300], "identifiers %r" % ids)
        # re-subscribe si/+ without an identifier: it has none now
        check(s.subscribe(4, [("si/+", 0)]) == [0], "SUBACK")
        check(s.subscribe(5, [("si/#", 1)], prop(P_SUBSCRIPTION_ID, 9)) ==
              [1], "SUBACK")
        r.send(publish5_pkt("si/a", "z", qos=0))
        r.send(publish5_pkt("sync", "", qos=1, mid=98))
        puback(r, 98, 0x10)
        got = [parse_publish5(p) for p in drain(s)]
        flat = sorted(v for g in got for k, v in g["props"]
                      if k == P_SUBSCRIPTION_ID)
        check(flat == [9], "after re-subscribing: %r" % flat)



def test_3_4_2_1_no_matching_subscribers_0x10():
    # 3.4.2.1: with no matching subscription the server may say 0x10
    # (No matching subscribers) in a PUBACK, as Mosquitto does; its
    # PUBREC stays 0x00 (Mosquitto routes a QoS 2 message at PUBREL, and
    # its tests expect 50 02 id). A retained message is still stored;
    # once someone subscribes, 0x00.
    from mqtttest import ack5_pkt
    with Daemon(CONF) as d:
        r = Raw5(d.port, "p")
        r.send(publish5_pkt("nm/a", "x", qos=1, mid=1, retain=True))
        puback(r, 1, 0x10)
        r.send(publish5_pkt("nm/b", "y", qos=2, mid=2))
        check(r.read() == (5, 0, b"\x00\x02"), "PUBREC 0x00")
        r.send(ack5_pkt("pubrel", 2))
        check(parse_ack5(r.read())[:3] == (7, 2, 0), "PUBCOMP")
        s = Raw5(d.port, "s")
        check(s.subscribe(1, [("nm/#", 0)]) == [0], "SUBACK")
        check(topics(s) == ["nm/a"], "retained not stored")
        r.send(publish5_pkt("nm/b", "z", qos=1, mid=3))
        puback(r, 3, 0)


fhtest.run_cases(globals())
