"""Helpers for the durable tests: a daemon whose state_dir outlives its
restarts, the packet types they wait for, and the two ways to stop it
(a clean SIGTERM, or kill -9 as a crash)."""
import signal

from fhtest import check
from mqtttest import packet

# Tests add their own keys or sections to it.
CONF = """[gateway]
state_dir = {tmp}/state
[broker]
anonymous_publish = true
sys_interval = 0
[listener mqtt]
bind = 127.0.0.1:{port}
"""

PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK = 4, 5, 6, 7, 9
DISCONNECT = packet(0xe0)


def expect(r, kind, mid=None):
    """The next packet on r, which must be of type kind (and for mid)."""
    p = r.read()
    check(p is not None and p[0] == kind, "want packet type %d, got %r"
          % (kind, p))
    if mid is not None:
        got = int.from_bytes(p[2][:2], "big")
        check(got == mid, "type %d for mid %d, want %d" % (kind, got, mid))
    return p


def bye(*rs):
    """A 3.1.1 DISCONNECT on each, then close it."""
    for r in rs:
        r.send(DISCONNECT)
        r.close()


def stop(d, how="term"):
    """Stop d: "kill9" as a crash, anything else with SIGTERM, which must
    exit 0."""
    if how == "kill9":
        d.kill9()
    else:
        check(d.stop(signal.SIGTERM) == 0, "SIGTERM: bad exit")
