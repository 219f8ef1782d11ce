#!/usr/bin/python3
"""MQTT 3.1.1 conformance, topic names and filters (OASIS MQTT 3.1.1,
section 4.7): wildcards, '$' topics, empty levels, no normalisation, for
live delivery and for retained messages alike."""
import fhtest
from conformtest import CONF, closed_silently, drain, pub1
from fhtest import Daemon, check
from mqtttest import (Raw, _str, connect_pkt, packet, publish_pkt,
                      subscribe_pkt)

TOPICS = ["a", "a/", "a/b", "a/b/c", "/a", "/", "//", "a//b", "a/b/",
          "$x", "$x/a", "$x/a/b", "x$/a", "A", "a ", "b/a",
          "\u00e9",         # U+00E9, composed
          "e\u0301"]        # e + U+0301, decomposed: not the same topic

# filter -> the TOPICS it matches [MQTT-4.7.1-1..3], [MQTT-4.7.2-1],
# [MQTT-4.7.3-4]
CASES = {
    "#": ["a", "a/", "a/b", "a/b/c", "/a", "/", "//", "a//b", "a/b/",
          "x$/a", "A", "a ", "b/a", "\u00e9", "e\u0301"],
    "a/#": ["a", "a/", "a/b", "a/b/c", "a//b", "a/b/"],
    "a/+": ["a/", "a/b"],
    "a/+/#": ["a/", "a/b", "a/b/c", "a//b", "a/b/"],
    "+": ["a", "A", "a ", "\u00e9", "e\u0301"],
    "+/+": ["a/", "a/b", "/a", "/", "b/a", "x$/a"],
    "/+": ["/a", "/"],
    "+/#": ["a", "a/", "a/b", "a/b/c", "/a", "/", "//", "a//b", "a/b/",
            "x$/a", "A", "a ", "b/a", "\u00e9", "e\u0301"],
    "a/+/b": ["a//b"],
    "+/+/+": ["a/b/c", "//", "a//b", "a/b/"],
    "a//b": ["a//b"],
    "a/b": ["a/b"],
    "$x/#": ["$x", "$x/a", "$x/a/b"],
    "$x/+": ["$x/a"],
    "+/a": ["/a", "b/a", "x$/a"],
    "#/": None,                 # invalid: '#' not last
    "\u00e9": ["\u00e9"],
    "A": ["A"],
}


def expect_deliveries(port, topics, publish_retained):
    """One subscriber per valid filter; publish TOPICS (live, or retained
    before subscribing); compare the sets."""
    bad = []
    p = Raw(port, connect_pkt("pub"))
    if publish_retained:
        for i, t in enumerate(topics):
            pub1(p, t, t, i + 1, retain=True)
    subs = {}
    for i, (f, want) in enumerate(CASES.items()):
        if want is None:
            continue
        s = Raw(port, connect_pkt("s%d" % i))
        s.send(subscribe_pkt(1, [(f, 0)]))
        check(s.read() == (9, 0, b"\x00\x01\x00"), "SUBACK for %r" % f)
        subs[f] = s
    if not publish_retained:
        for i, t in enumerate(topics):
            pub1(p, t, t, i + 1)
    for f, s in subs.items():
        got = []
        for pk in drain(s):
            check(pk[0] == 3 and (pk[1] & 1) == publish_retained,
                  "%r: %r" % (f, pk))
            tl = int.from_bytes(pk[2][:2], "big")
            got.append(pk[2][2:2 + tl].decode())
        if sorted(got) != sorted(CASES[f]):
            bad.append("%r: got %r, want %r" % (f, sorted(got),
                                                  sorted(CASES[f])))
        s.close()
    check(not bad, "; ".join(bad))


def test_4_7_matching_live():
    # [MQTT-4.7.1-2] '#' matches the parent and any number of levels;
    # [MQTT-4.7.1-3] '+' exactly one level, empty ones too;
    # [MQTT-4.7.2-1] filters starting with a wildcard do not match topics
    # starting with '$'; [MQTT-4.7.3-4] no normalisation (case, spaces,
    # Unicode forms).
    with Daemon(CONF) as d:
        expect_deliveries(d.port, TOPICS, False)


def test_4_7_matching_retained():
    # The same rules pick the retained messages sent on SUBSCRIBE
    # ([MQTT-3.3.1-6]).
    with Daemon(CONF) as d:
        expect_deliveries(d.port, TOPICS, True)


def test_4_7_1_bad_filters_close():
    # [MQTT-4.7.1-2]: '#' alone or after '/', and last;
    # [MQTT-4.7.1-3]: '+' fills a whole level.
    with Daemon(CONF) as d:
        for i, f in enumerate(["#/", "a/#/b", "a#", "a/b#", "#a", "+a",
                               "a+", "a/+b", "a/b+/c", "++", "##"]):
            r = Raw(d.port, connect_pkt("b%d" % i))
            r.send(subscribe_pkt(1, [(f, 0)]))
            check(closed_silently(r), "filter %r accepted" % f)


def test_4_7_3_3_long_topic_and_filter():
    # [MQTT-4.7.3-3]: topic names and filters up to 65535 bytes.
    long_t = "l/" + "x" * 65533
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("s"))
        s.send(subscribe_pkt(1, [(long_t, 0), ("l/+", 0)]))
        check(s.read() == (9, 0, b"\x00\x01\x00\x00"), "SUBACK")
        p = Raw(d.port, connect_pkt("p"))
        pub1(p, long_t, "x", 1)
        got = drain(s)
        check(len(got) == 1 and got[0][2][2:2 + len(long_t)] ==
              long_t.encode(), "long topic: %d packets" % len(got))


def test_1_5_3_well_formed_utf8_kept_as_is():
    # 1.5.3: code points that are well-formed UTF-8 are valid in topics,
    # control characters and non-characters too (SHOULD NOT is for the
    # sender); [MQTT-1.5.3-3]: a leading U+FEFF is not stripped: "\ufeffa"
    # is not "a". 4-byte characters pass unchanged.
    topics = ["a\x01b", "a\x7f", "a\u0085", "\ufeffa", "a\uffff",
              "a\U0001F600", " "]
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("s"))
        s.send(subscribe_pkt(1, [("#", 0), ("a", 0)]))
        check(s.read() == (9, 0, b"\x00\x01\x00\x00"), "SUBACK")
        p = Raw(d.port, connect_pkt("p"))
        for i, t in enumerate(topics):
            pub1(p, t, "x", i + 1)
        got = [pk[2] for pk in drain(s)]
        want = [_str(t) + b"x" for t in topics]
        check(got == want, "got %r" % got)


def test_4_7_3_3_topic_depth_limit_as_mosquitto():
    # [MQTT-4.7.3-3] allows 65535 bytes, so 65535 levels: the broker
    # keeps at most 200 separators in a filter or topic, as Mosquitto
    # (02-subpub-qos0-long-topic, 03-publish-long-topic): 200 work, live
    # and retained; more close the connection (5.0: DISCONNECT 0x81),
    # and the broker goes on (a deeper one used to overflow its stack).
    from mqtttest import Raw5, publish5_pkt, subscribe5_pkt
    ok_t, deep = "/" * 200, "/" * 201
    with Daemon(CONF) as d:
        s = Raw(d.port, connect_pkt("s"))
        s.send(subscribe_pkt(1, [(ok_t, 0), ("abc/" * 199 + "d", 0)]))
        check(s.read() == (9, 0, b"\x00\x01\x00\x00"), "SUBACK")
        p = Raw(d.port, connect_pkt("p"))
        pub1(p, ok_t, "x", 1, retain=True)
        check(drain(s) == [(3, 0, _str(ok_t) + b"x")], "200 levels")
        for i, pkt in enumerate((subscribe_pkt(1, [(deep, 0)]),
                                 subscribe_pkt(1, [("abc/" * 201 + "d",
                                                    0)]),
                                 publish_pkt(deep, "x", qos=1, mid=1),
                                 publish_pkt("/" * 65535, "x", qos=1,
                                             mid=1, retain=True),
                                 packet(0xA2, b"\x00\x01" + _str(deep)))):
            r = Raw(d.port, connect_pkt("deep%d" % i))
            r.send(pkt)
            check(closed_silently(r), "case %d: deep topic kept" % i)
        r = Raw(d.port)
        r.send(connect_pkt("w", will=(deep, "x", 0, True)))
        check(closed_silently(r), "deep will topic kept")
        for i, pkt in enumerate((publish5_pkt("/" * 65535, "x", qos=1,
                                              mid=1, retain=True),
                                 subscribe5_pkt(1, [("/" * 65535, 0)]))):
            r = Raw5(d.port, "v5deep%d" % i)
            r.send(pkt)
            check(r.disconnected() == 0x81, "5.0 case %d" % i)
        late = Raw(d.port, connect_pkt("late"))
        late.send(subscribe_pkt(1, [("#", 0)]))
        check(late.read() == (9, 0, b"\x00\x01\x00"), "SUBACK")
        check(drain(late) == [(3, 1, _str(ok_t) + b"x")], "retained")


fhtest.run_cases(globals())
