"""Helpers for the conformance scripts (1xx-conform*): raw exchanges with
byte-exact expectations, checked against the spec's normative statements
the way Mosquitto's test/broker suite does."""
from fhtest import check
from mqtttest import Raw, packet, publish_pkt

# Anonymous clients may publish here: the scripts drive both ends raw.
CONF = """[broker]
sys_interval = 0
anonymous_publish = true
[listener mqtt]
bind = 127.0.0.1:{port}
"""

PINGREQ = packet(0xC0)
PINGRESP = (13, 0, b"")
DISCONNECT = packet(0xE0)


def closed_silently(r, timeout=10):
    """The server closes r without sending anything first."""
    try:
        p = r.read(timeout)
    except EOFError:
        return True
    check(p is None, "a packet before the close: %r" % (p,))
    return False


def drain(r):
    """Every packet the server sent r before the answer to a PINGREQ (the
    broker answers one connection's packets in order, so whatever was
    routed to r before comes first)."""
    r.send(PINGREQ)
    out = []
    for _ in range(10000):
        p = r.read()
        check(p is not None, "no PINGRESP")
        if p == PINGRESP:
            return out
        out.append(p)
    check(False, "no PINGRESP after 10000 packets")


def pub1(r, topic, payload, mid, retain=False):
    """A QoS 1 PUBLISH on r and its exact PUBACK: once it is back, the
    broker has routed the message [MQTT-3.3.4-1]."""
    r.send(publish_pkt(topic, payload, qos=1, mid=mid, retain=retain))
    p = r.read()
    check(p == (4, 0, mid.to_bytes(2, "big")),
          "PUBACK for %d: %r" % (mid, p))


def publish0_bytes(topic, payload, retain=False):
    """The exact QoS 0 PUBLISH the broker sends for topic."""
    return publish_pkt(topic, payload, retain=retain)


def as_tuple(data):
    """(type, flags, body) of one whole packet given as bytes, to compare
    with Raw.read()."""
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
