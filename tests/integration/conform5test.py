"""Helpers for the MQTT 5.0 conformance scripts (12x-conform5-*): raw 5.0
exchanges with byte-exact expectations, one case per normative statement
of the OASIS MQTT 5.0 spec, the way Mosquitto's test/broker suite checks
a broker."""
from fhtest import Daemon, check
from mqtttest import (P_REASON_STRING, Raw, Raw5, connect5_pkt, packet,
                      parse_props, publish5_pkt)

# Anonymous clients may publish here: the scripts drive both ends raw.
CONF = """[broker]
sys_interval = 0
anonymous_publish = true
{extra}
[listener mqtt]
bind = 127.0.0.1:{port}
"""

PINGREQ = packet(0xC0)
PINGRESP = (13, 0, b"")


def daemon(extra="", anonymous_publish=True):
    conf = CONF if anonymous_publish else CONF.replace(
        "anonymous_publish = true", "anonymous_publish = false")
    return Daemon(conf, ports={"extra": extra})


def drain(r):
    """Every packet the server sent r before the answer to a PINGREQ (one
    connection's packets are answered in order)."""
    r.send(PINGREQ)
    out = []
    for _ in range(1000):
        p = r.read()
        check(p is not None, "no PINGRESP")
        if p == PINGRESP:
            return out
        out.append(p)
    check(False, "no PINGRESP after 1000 packets")


def only_reason_string(props, what):
    """A refusal may say why (Reason String) and nothing else."""
    check(all(k == P_REASON_STRING for k, _ in props),
          "%s: properties besides a reason string: %r" % (what, props))


def expect_disconnect(r, code, what):
    """r gets a DISCONNECT with reason code (and at most a reason string),
    then the connection closes [MQTT-4.13.1-1]."""
    try:
        p = r.read()
    except EOFError:
        check(False, "%s: closed without DISCONNECT 0x%02x" % (what, code))
    check(p is not None and p[0] == 14 and p[1] == 0,
          "%s: want DISCONNECT 0x%02x, got %r" % (what, code, p))
    check(p[2][0] == code, "%s: DISCONNECT 0x%02x, want 0x%02x" % (
        what, p[2][0], code))
    if len(p[2]) > 1:
        props, end = parse_props(p[2], 1)
        check(end == len(p[2]), "%s: DISCONNECT length" % what)
        only_reason_string(props, what)
    check(r.closed(), "%s: not closed after DISCONNECT" % what)


def expect_connack_refused(port, pkt, code, what):
    """A CONNECT answered by CONNACK with reason code (session present 0,
    at most a reason string), then closed [MQTT-3.2.2-6, 3.2.2-7]."""
    r = Raw(port)
    r.send(pkt)
    p = r.read()
    check(p is not None and p[0] == 2 and p[1] == 0,
          "%s: want CONNACK 0x%02x, got %r" % (what, code, p))
    check(p[2][0] == 0 and p[2][1] == code, "%s: CONNACK %r, want reason "
          "0x%02x" % (what, p[2][:2], code))
    props, end = parse_props(p[2], 2)
    check(end == len(p[2]), "%s: CONNACK length" % what)
    only_reason_string(props, what)
    check(r.closed(), "%s: not closed after CONNACK 0x%02x" % (what, code))
    r.close()


def after_connect(port, pkt, code, what, cid="bad"):
    """Send pkt on a fresh 5.0 connection; the server answers with
    DISCONNECT code and closes."""
    r = Raw5(port, cid)
    r.send(pkt)
    expect_disconnect(r, code, what)
    r.close()


def pub(r, topic, payload, qos=1, mid=1, retain=False, props=b"",
        reason=0):
    """PUBLISH at QoS 1 and its exact PUBACK (success, no properties; with
    reason: that reason, 0x10 when nobody subscribes): once back, the
    broker has routed the message."""
    r.send(publish5_pkt(topic, payload, qos=qos, mid=mid, retain=retain,
                        props=props))
    if qos == 0:
        return
    p = r.read()
    want = (4 if qos == 1 else 5, 0, mid.to_bytes(2, "big") +
            (bytes([reason]) if reason else b""))
    check(p == want, "ack for %d: %r, want %r" % (mid, p, want))


def sent(data):
    """(type, flags, body) of one whole packet given as bytes."""
    n, mult, i = 0, 1, 1
    while True:
        b = data[i]
        n += (b & 0x7F) * mult
        mult *= 128
        i += 1
        if not b & 0x80:
            break
    check(len(data) == i + n, "not one packet: %r" % data)
    return data[0] >> 4, data[0] & 15, data[i:]


def connect_ok(port, cid, **kw):
    return Raw5(port, cid, **kw)


__all__ = ["CONF", "PINGREQ", "PINGRESP", "after_connect", "connect5_pkt",
           "connect_ok", "daemon", "drain", "expect_connack_refused",
           "expect_disconnect", "only_reason_string", "pub", "sent"]
