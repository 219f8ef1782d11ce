#!/usr/bin/python3
"""Write the MQTT 5.0 golden inputs of tests/data/packet (one directory per
case, file 'input'), built from the field layouts of the OASIS MQTT 5.0
spec by hand, so that the C codec is checked against an independent
encoder. The expected decodings are reviewed text files next to them
(FH_REGEN=1 tests/unit/test_packet writes missing ones).

Run from anywhere: python3 tests/data/packet/mkv5.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def s(x):
    if isinstance(x, str):
        x = x.encode()
    return struct.pack(">H", len(x)) + x


def u8(i, v):
    return bytes([i, v])


def u16(i, v):
    return bytes([i]) + struct.pack(">H", v)


def u32(i, v):
    return bytes([i]) + struct.pack(">I", v)


def vi(i, v):
    return bytes([i]) + varint(v)


def st(i, v):
    return bytes([i]) + s(v)


def user(k, v):
    return b"\x26" + s(k) + s(v)


def props(*ps):
    body = b"".join(ps)
    return varint(len(body)) + body


def pkt(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(flags, pr, cid="c", will=None, user_=None, pw=None, level=5,
            keepalive=60):
    body = s("MQTT") + bytes([level, flags]) + struct.pack(">H", keepalive)
    body += pr + s(cid)
    if will is not None:
        body += will
    if user_ is not None:
        body += s(user_)
    if pw is not None:
        body += s(pw)
    return pkt(0x10, body)


def publish(qos, topic, pr, payload=b"", pid=1, flags=0):
    body = s(topic)
    if qos:
        body += struct.pack(">H", pid)
    return pkt(0x30 | qos << 1 | flags, body + pr + payload)


def ack(first, pid, rest=b""):
    return pkt(first, struct.pack(">H", pid) + rest)


def subscribe(pr, *topics, pid=1):
    body = struct.pack(">H", pid) + pr
    for f, o in topics:
        body += s(f) + bytes([o])
    return pkt(0x82, body)


def unsubscribe(pr, *topics, pid=1):
    body = struct.pack(">H", pid) + pr
    for f in topics:
        body += s(f)
    return pkt(0xA2, body)


E = props()
CASES = {
    # ---- valid
    "connect-v5-min": connect(0x02, E),
    "connect-v5-props": connect(0x02, props(
        u32(0x11, 3600), u16(0x21, 10), u32(0x27, 65536), u16(0x22, 5),
        u8(0x19, 1), u8(0x17, 0), user("a", "1"), user("b", "2"),
        st(0x15, "SCRAM"), st(0x16, b"\x00\xff"))),
    "connect-v5-will": connect(
        0x04 | 0x08 | 0x20 | 0x40 | 0x80, props(user("x", "y")),
        will=props(u32(0x18, 30), u8(0x01, 1), u32(0x02, 60),
                   st(0x03, "text/plain"), st(0x08, "r/t"),
                   st(0x09, b"\x00\x01"), user("k", "v"))
        + s("w/t") + s("bye"),
        user_="u", pw="p"),
    "connect-v5-password-no-user": connect(0x02 | 0x40, E, pw="secret"),
    "connack-v5": pkt(0x20, b"\x01\x00" + props(
        u32(0x11, 0), u16(0x21, 100), u8(0x24, 1), u8(0x25, 1),
        u32(0x27, 1048576), st(0x12, "auto-1"), u16(0x22, 10),
        st(0x1F, "welcome"), user("srv", "fh"), u8(0x28, 1), u8(0x29, 1),
        u8(0x2A, 0), u16(0x13, 30), st(0x1A, "ri"), st(0x1C, "other"),
        st(0x15, "m"), st(0x16, b"d"))),
    "connack-v5-refused": pkt(0x20, b"\x00\x87" + props(st(0x1F, "no"))),
    "publish-v5-qos0": publish(0, "a/b", E, b"hi"),
    "publish-v5-props": publish(1, "a/b", props(
        user("z", "1"), u8(0x01, 1), u32(0x02, 120), user("a", "2"),
        st(0x03, "application/json"), st(0x08, "reply/here"),
        st(0x09, b"\x01\x02\x03"), u16(0x23, 3), user("z", "3")),
        b"{}", pid=7),
    "publish-v5-alias-only": publish(2, "", props(u16(0x23, 2)), b"x",
                                     pid=9, flags=0x08),
    "publish-v5-subids": publish(0, "a/b", props(
        vi(0x0B, 1), vi(0x0B, 268435455), vi(0x0B, 200)), b"", flags=1),
    "puback-v5-short": ack(0x40, 1),
    "puback-v5-reason": ack(0x40, 2, b"\x10"),
    "puback-v5-props": ack(0x40, 3, b"\x87" + props(
        st(0x1F, "denied"), user("why", "acl"))),
    "puback-v5-noncanon-reason0": ack(0x40, 4, b"\x00"),
    "puback-v5-noncanon-empty-props": ack(0x40, 5, b"\x97" + E),
    "pubrec-v5": ack(0x50, 6, b"\x99" + props(st(0x1F, "not utf-8"))),
    "pubrel-v5-notfound": ack(0x62, 7, b"\x92"),
    "pubcomp-v5": ack(0x70, 8),
    "subscribe-v5": subscribe(
        props(vi(0x0B, 5), user("s", "1")),
        ("a/+", 0x01 | 0x04 | 0x08 | 0x20), ("#", 0x02 | 0x10),
        ("$share/g/x/#", 0x00)),
    "subscribe-v5-subid-max": subscribe(props(vi(0x0B, 268435455)),
                                        ("t", 1)),
    "suback-v5": ack(0x90, 1, props(st(0x1F, "partly")) +
                     bytes([0, 1, 2, 0x80, 0x87, 0x8F, 0x9E, 0xA1, 0xA2])),
    "unsubscribe-v5": unsubscribe(props(user("u", "2")), "a/+", "#"),
    "unsuback-v5": ack(0xB0, 1, props() + bytes([0x00, 0x11, 0x87])),
    "disconnect-v5-empty": pkt(0xE0, b""),
    "disconnect-v5-will": pkt(0xE0, b"\x04"),
    "disconnect-v5-props": pkt(0xE0, b"\x8e" + props(
        u32(0x11, 0), st(0x1F, "taken over"), st(0x1C, "srv2"),
        user("a", "b"))),
    "auth-v5-empty": pkt(0xF0, b""),
    "auth-v5-continue": pkt(0xF0, b"\x18" + props(
        st(0x15, "SCRAM-SHA-1"), st(0x16, b"\x00\x01\x02"),
        st(0x1F, "more"), user("k", "v"))),
    "pingreq-v5": pkt(0xC0, b""),

    # ---- malformed (0x81) and protocol errors (0x82), one per rule
    "connect-v5-err-no-props": connect(0x02, b"", cid=""),
    "connect-v5-err-dup-session-expiry": connect(0x02, props(
        u32(0x11, 1), u32(0x11, 2))),
    "connect-v5-err-receive-max-0": connect(0x02, props(u16(0x21, 0))),
    "connect-v5-err-max-packet-0": connect(0x02, props(u32(0x27, 0))),
    "connect-v5-err-topic-alias": connect(0x02, props(u16(0x23, 1))),
    "connect-v5-err-will-delay": connect(0x02, props(u32(0x18, 1))),
    "connect-v5-err-request-problem-2": connect(0x02, props(u8(0x17, 2))),
    "connect-v5-err-request-response-2": connect(0x02, props(u8(0x19, 2))),
    "connect-v5-err-auth-data-no-method": connect(0x02, props(
        st(0x16, b"x"))),
    "connect-v5-err-unknown-prop": connect(0x02, props(u8(0x04, 1))),
    "connect-v5-err-prop-0x7f": connect(0x02, props(u8(0x7F, 1))),
    "connect-v5-err-prop-length-over": connect(0x02, b"\x20" +
                                                u32(0x11, 1)),
    "connect-v5-err-prop-cut": connect(0x02, b"\x03" + u32(0x11, 1)[:3] +
                                        b""),
    "connect-v5-err-props-varint-5": connect(0x02, b"\x80\x80\x80\x80\x01"),
    "connect-v5-err-user-value-utf8": connect(0x02, props(
        user("k", b"\xc3\x28"))),
    "connect-v5-err-user-key-nul": connect(0x02, props(
        user(b"a\x00b", "v"))),
    "connect-v5-err-user-cut": connect(0x02, props(
        b"\x26" + s("k") + b"\x00\x05ab")),
    "connect-v5-err-will-session-expiry": connect(
        0x06, E, will=props(u32(0x11, 1)) + s("w") + s("")),
    "connect-v5-err-will-dup-content-type": connect(
        0x06, E, will=props(st(0x03, "a"), st(0x03, "b")) + s("w") + s("")),
    "connect-v5-err-will-payload-format-2": connect(
        0x06, E, will=props(u8(0x01, 2)) + s("w") + s("")),
    "connect-v5-err-auth-method-utf8": connect(0x02, props(
        st(0x15, b"\xed\xa0\x80"))),
    "publish-v5-err-alias-0": publish(0, "a", props(u16(0x23, 0))),
    "publish-v5-err-dup-alias": publish(0, "a", props(u16(0x23, 1),
                                                      u16(0x23, 1))),
    "publish-v5-err-empty-no-alias": publish(0, "", E),
    "publish-v5-err-subid-0": publish(0, "a", props(vi(0x0B, 0))),
    "publish-v5-err-subid-varint-5": publish(0, "a", props(
        b"\x0b\xff\xff\xff\xff\x01")),
    "publish-v5-err-dup-expiry": publish(0, "a", props(u32(0x02, 1),
                                                       u32(0x02, 2))),
    "publish-v5-err-payload-format-2": publish(0, "a", props(u8(0x01, 2))),
    "publish-v5-err-response-wildcard": publish(0, "a", props(
        st(0x08, "r/#"))),
    "publish-v5-err-content-type-utf8": publish(0, "a", props(
        st(0x03, b"\xff"))),
    "publish-v5-err-session-expiry": publish(0, "a", props(u32(0x11, 1))),
    "publish-v5-err-prop-length-over": publish(0, "a", b"\x05\x01"),
    "publish-v5-err-no-props": publish(0, "a", b""),
    "publish-v5-err-wildcard-topic": publish(0, "a/+", E),
    "subscribe-v5-err-subid-0": subscribe(props(vi(0x0B, 0)), ("a", 0)),
    "subscribe-v5-err-dup-subid": subscribe(props(vi(0x0B, 1),
                                                  vi(0x0B, 2)), ("a", 0)),
    "subscribe-v5-err-reserved-opts": subscribe(E, ("a", 0x40)),
    "subscribe-v5-err-qos3": subscribe(E, ("a", 0x03)),
    "subscribe-v5-err-rh3": subscribe(E, ("a", 0x30)),
    "subscribe-v5-err-shared-nolocal": subscribe(E, ("$share/g/a", 0x04)),
    "subscribe-v5-err-shared-empty-group": subscribe(E, ("$share//a", 0)),
    "subscribe-v5-err-shared-no-filter": subscribe(E, ("$share/g", 0)),
    "subscribe-v5-err-shared-wildcard-group": subscribe(E,
                                                        ("$share/g+/a", 0)),
    "subscribe-v5-err-reason-string": subscribe(props(st(0x1F, "x")),
                                                ("a", 0)),
    "subscribe-v5-err-no-topics": subscribe(props(vi(0x0B, 1))),
    "unsubscribe-v5-err-subid": unsubscribe(props(vi(0x0B, 1)), "a"),
    "puback-v5-err-reason": ack(0x40, 1, b"\x92"),
    "puback-v5-err-subid": ack(0x40, 1, b"\x00" + props(vi(0x0B, 1))),
    "puback-v5-err-trailing": ack(0x40, 1, b"\x00" + props() + b"\x00"),
    "puback-v5-err-dup-reason-string": ack(0x40, 1, b"\x80" + props(
        st(0x1F, "a"), st(0x1F, "b"))),
    "pubrel-v5-err-reason": ack(0x62, 1, b"\x10"),
    "pubcomp-v5-err-reason": ack(0x70, 1, b"\x87"),
    "suback-v5-err-code": ack(0x90, 1, props() + b"\x11"),
    "suback-v5-err-no-codes": ack(0x90, 1, props()),
    "unsuback-v5-err-code": ack(0xB0, 1, props() + b"\x01"),
    "unsuback-v5-err-no-codes": ack(0xB0, 1, props()),
    "disconnect-v5-err-reason": pkt(0xE0, b"\x10"),
    "disconnect-v5-err-receive-max": pkt(0xE0, b"\x00" +
                                         props(u16(0x21, 5))),
    "disconnect-v5-err-flags": bytes([0xE1, 0]),
    "auth-v5-err-reason": pkt(0xF0, b"\x01"),
    "auth-v5-err-flags": bytes([0xF1, 0]),
    "auth-v5-err-session-expiry": pkt(0xF0, b"\x18" + props(
        u32(0x11, 1))),
    "connack-v5-err-session-present-refused": pkt(0x20, b"\x01\x87" +
                                                  props()),
    "connack-v5-err-maximum-qos-2": pkt(0x20, b"\x00\x00" +
                                        props(u8(0x24, 2))),
    "connack-v5-err-dup-retain-available": pkt(0x20, b"\x00\x00" + props(
        u8(0x25, 1), u8(0x25, 0))),
    "connack-v5-err-reason": pkt(0x20, b"\x00\x10" + props()),
    "connack-v5-err-flags": pkt(0x20, b"\x02\x00" + props()),
    "connack-v5-err-will-delay": pkt(0x20, b"\x00\x00" +
                                     props(u32(0x18, 5))),
}


def main():
    for name, data in sorted(CASES.items()):
        d = os.path.join(HERE, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "input"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
