#!/usr/bin/python3
"""Write the seed corpus of fuzz_broker (tests/fuzz/corpus/broker/).

Each seed: a settings byte, then client streams separated by FUZZ_SEP
(see tests/fuzz/fuzz_broker.c). Run from the source tree:
    /usr/bin/python3 tests/fuzz/make-broker-corpus.py
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
from mqtttest import (ack_pkt, ack5_pkt, connect_pkt, connect5_pkt,  # noqa
                     disconnect5_pkt, packet, prop, publish_pkt,
                     publish5_pkt, subscribe_pkt, subscribe5_pkt, _str)

SEP = b"\xff\xfe\xfd\xfc"
OUT = os.path.join(os.path.dirname(__file__), "corpus", "broker")

ANON = 0x01 | 0x02 | 0x04   # anonymous allowed and may publish, retain on
TIGHT, ACL, CERT, SLOW, PIECES = 0x08, 0x10, 0x20, 0x40, 0x80

PING = packet(0xc0)
DISC = packet(0xe0)


def unsub(mid, filters):
    return packet(0xa2, mid.to_bytes(2, "big") +
                  b"".join(_str(f) for f in filters))


def seed(flags, *streams):
    return bytes([flags]) + SEP.join(streams)


SEEDS = {
    "pubsub-311": seed(ANON, connect_pkt("a") +
                       subscribe_pkt(1, [("t/#", 0)]) +
                       publish_pkt("t/1", "hello") + PING + DISC),
    "pubsub-31": seed(ANON, connect_pkt("a31", proto="MQIsdp", level=3) +
                      subscribe_pkt(1, [("t/+", 1)]) +
                      publish_pkt("t/1", "x", qos=1, mid=7) +
                      ack_pkt("puback", 1) + DISC),
    "qos1-loop": seed(ANON, connect_pkt("q1") +
                      subscribe_pkt(1, [("q/#", 1)]) +
                      publish_pkt("q/a", "1", qos=1, mid=1) +
                      publish_pkt("q/b", "2", qos=1, mid=2) +
                      ack_pkt("puback", 1) + ack_pkt("puback", 2)),
    "qos2-loop": seed(ANON, connect_pkt("q2") +
                      subscribe_pkt(1, [("q/#", 2)]) +
                      publish_pkt("q/a", "1", qos=2, mid=1) +
                      publish_pkt("q/a", "1", qos=2, mid=1, dup=True) +
                      ack_pkt("pubrel", 1) + ack_pkt("pubrec", 1) +
                      ack_pkt("pubcomp", 1) + DISC),
    "retain": seed(ANON, connect_pkt("r") +
                   publish_pkt("r/1", "kept", qos=1, mid=1, retain=True) +
                   subscribe_pkt(2, [("r/#", 1), ("#", 0)]) +
                   publish_pkt("r/1", "", retain=True) +
                   unsub(3, ["r/#", "#"]) + DISC),
    "will-two-clients": seed(ANON, connect_pkt("w", will=("w/gone", "bye",
                                                          1, True)) + PING,
                             connect_pkt("watch") +
                             subscribe_pkt(1, [("w/#", 2)])),
    "takeover": seed(ANON, connect_pkt("same", clean=False) +
                     subscribe_pkt(1, [("s/#", 1)]),
                     connect_pkt("same", clean=False) +
                     publish_pkt("s/x", "y", qos=1, mid=9),
                     connect_pkt("same", clean=True) + DISC),
    "slow-tight": seed(ANON | TIGHT | SLOW, connect_pkt("slow") +
                       subscribe_pkt(1, [("#", 1)]) +
                       b"".join(publish_pkt("f/%d" % i, "z" * 900, qos=1,
                                            mid=i + 1) for i in range(12)) +
                       b"".join(publish_pkt("g", "z" * 900)
                                for _ in range(12))),
    "acl-cert": seed(ACL | CERT, connect_pkt("c1") +
                     subscribe_pkt(1, [("#", 2), ("$SYS/#", 0)]) +
                     publish_pkt("client/c1/x", "ok", qos=2, mid=3) +
                     publish_pkt("$SYS/broker/x", "no")),
    "acl-anon": seed(ANON | ACL, connect_pkt("c2") +
                     subscribe_pkt(1, [("public/#", 1), ("secret", 1)]) +
                     publish_pkt("public/a", "ok", qos=1, mid=1) +
                     publish_pkt("secret", "no", qos=1, mid=2)),
    "refused-anon": seed(0, connect_pkt("nobody") + PING),
    "bad-first": seed(ANON, PING + connect_pkt("late")),
    "bad-version": seed(ANON, connect_pkt("v", level=9)),
    "empty-id": seed(ANON, connect_pkt("") + PING,
                     connect_pkt("", clean=False)),
    "second-connect": seed(ANON, connect_pkt("x") + connect_pkt("x")),
    "pieces": seed(ANON | PIECES, connect_pkt("p", keepalive=5) +
                   subscribe_pkt(1, [("p", 1)]) +
                   publish_pkt("p", "piecewise", qos=1, mid=1) +
                   ack_pkt("puback", 1) + DISC),
    "too-large": seed(ANON | TIGHT, connect_pkt("big") +
                      publish_pkt("b", "x" * 3000)),
    # MQTT 5.0: sessions, wills, the broker's own DISCONNECTs
    "v5-pubsub": seed(ANON, connect5_pkt("a5", props=prop(0x11, 60)) +
                      subscribe5_pkt(1, [("t/#", 1)]) +
                      publish5_pkt("t/1", "x", qos=1, mid=1,
                                   props=prop(0x26, ("k", "v"))) +
                      ack5_pkt("puback", 1) + PING +
                      disconnect5_pkt(0, prop(0x11, 0))),
    "v5-will-delay": seed(ANON, connect5_pkt("w5", props=prop(0x11, 5),
                                             will=("w/5", "bye", 1, True),
                                             will_props=prop(0x18, 1) +
                                             prop(0x02, 30)) + PING,
                          connect5_pkt("w5", clean=False,
                                       props=prop(0x11, 5)) +
                          disconnect5_pkt(0x04)),
    "v5-takeover": seed(ANON, connect5_pkt("t5", props=prop(0x21, 1)),
                        connect5_pkt("t5", clean=False) +
                        publish5_pkt("x", "y", qos=2, mid=1) +
                        ack5_pkt("pubrel", 1)),
    "v5-receive-max": seed(ANON | TIGHT, connect5_pkt("rm") +
                           publish5_pkt("q", "1", qos=2, mid=1) +
                           publish5_pkt("q", "2", qos=2, mid=2)),
    "v5-client-max-packet": seed(ANON, connect5_pkt(
        "mp", props=prop(0x27, 20)) + subscribe5_pkt(1, [("#", 1)]) +
        publish5_pkt("long/topic", "z" * 50, qos=1, mid=1)),
    "v5-auth": seed(ANON, connect5_pkt("au", props=prop(0x15, "X"))),
    "v5-empty-id": seed(ANON, connect5_pkt("", clean=False,
                                           props=prop(0x11, 10))),
    "v5-bad-disconnect": seed(ANON, connect5_pkt("bd") +
                              disconnect5_pkt(0, prop(0x11, 9))),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
