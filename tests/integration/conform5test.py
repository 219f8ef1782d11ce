"""Helpers for the MQTT 5.0 conformance scripts (12x-conform5-*): raw 5.0
exchanges with byte-exact expectations, one case per normative statement
of the OASIS MQTT 5.0 spec, the way Mosquitto's test/broker suite checks
a broker."""
from fhtest import Daemon, check
from mqtttest import Raw, Raw5, connect5_pkt, packet, publish5_pkt

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


def expect_disconnect(r, code, what):
    """r gets exactly DISCONNECT with reason code (no properties, as
    Mosquitto's tests expect: e0 01 code), then the connection closes
    [MQTT-4.13.1-1]."""
    try:
        p = r.read()
    except EOFError:
        check(False, "%s: closed without DISCONNECT 0x%02x" % (what, code))
    check(p == (14, 0, bytes([code])), "%s: want DISCONNECT 0x%02x, got %r"
          % (what, code, p))
    check(r.closed(), "%s: not closed after DISCONNECT" % what)


def expect_connack_refused(port, pkt, code, what):
    """A CONNECT answered by exactly CONNACK with reason code, session
    present 0, no properties (20 03 00 code 00), then closed
    [MQTT-3.2.2-6, 3.2.2-7]."""
    r = Raw(port)
    r.send(pkt)
    p = r.read()
    check(p == (2, 0, bytes([0, code, 0])), "%s: want CONNACK 0x%02x, got "
          "%r" % (what, code, p))
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
           "expect_disconnect", "pub", "sent"]
