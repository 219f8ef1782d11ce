"""Helpers for the limits tests: RSS of a process, the broker's stats
from /metrics, file descriptor limits, and whether firehosed runs under
AddressSanitizer (whose quarantine keeps freed memory resident)."""
import os
import resource
import time

from fhtest import check
from mqtttest import ack_pkt, publish_pkt
from transport import http_get, metric

# A ws listener beside the tcp one, for /metrics.
LISTENERS = """[listener tcp]
bind = 127.0.0.1:{port}
[listener web]
protocol = ws
bind = 127.0.0.1:{ws}
"""


def rss_kb(pid):
    """VmRSS of pid in kB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def is_asan(pid):
    """Does pid run under a sanitizer with its own allocator and shadow
    memory: AddressSanitizer or ThreadSanitizer (dynamic or static)?
    Its RSS then says little about what the daemon gives back."""
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read()
        if "libasan" in maps or "libtsan" in maps:
            return True
    try:
        with open("/proc/%d/exe" % pid, "rb") as f:
            exe = f.read()
            return b"AddressSanitizer" in exe or b"ThreadSanitizer" in exe
    except OSError:
        return False


def asan_env():
    """A smaller ASan quarantine for the daemons these tests start, so that
    RSS follows what the daemon holds rather than the last 256 MB it
    freed. Use-after-free is still caught for recent frees."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    os.environ["ASAN_OPTIONS"] = (opts + ":" if opts else "") + \
        "quarantine_size_mb=8:allocator_release_to_os_interval_ms=500"


def raise_nofile(want):
    """Raise our soft fd limit (children inherit it) towards want; return
    the limit we got."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def stats(d):
    """The /metrics text of daemon d (which has a 'ws' port)."""
    st, _, body = http_get(d.ports["ws"], "/metrics")
    assert st == 200, "GET /metrics: %r" % st
    return body.decode() if isinstance(body, bytes) else body


def stat(d, name, **labels):
    """A counter from /metrics; one that is not there fails the test
    (it is never taken for 0)."""
    text = stats(d)
    v = metric(text, "firehose_mqtt_" + name, **labels)
    if v is None:
        raise AssertionError("no metric firehose_mqtt_%s%r in /metrics"
                             % (name, labels or ""))
    return int(v)


def wait_until(cond, timeout=30, what="condition", step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(step)
    raise AssertionError("timed out (%ds) waiting for %s" % (timeout, what))


PARK_WAIT = 5       # s: a connection parks 1 to 2 s after its traffic


def parked(d):
    """{current, total, woken} of parked, from one /metrics page."""
    text = stats(d)
    out = {}
    for k in ("current", "total", "woken"):
        v = metric(text, "firehose_mqtt_parked_" + k)
        check(v is not None, "no firehose_mqtt_parked_%s in /metrics" % k)
        out[k] = int(v)
    return out


def wait_parked(d, n, timeout=PARK_WAIT):
    """Wait until exactly n connections are parked; their stats."""
    last = {}

    def done():
        last.update(parked(d))
        return last["current"] == n
    try:
        wait_until(done, timeout, "%d parked connections" % n)
    except AssertionError:
        raise AssertionError("want %d parked within %ds, have %r"
                             % (n, timeout, last))
    return dict(last)


def expect(r, ptype, what, timeout=5):
    """The next packet of r (a mqtttest.Raw, or anything with its read()
    and send()), which must be of type ptype."""
    p = r.read(timeout)
    check(p is not None and p[0] == ptype, "%s: got %r" % (what, p))
    return p


def publish(r, topic, payload, qos=0, mid=1):
    """PUBLISH from r with its QoS handshake done."""
    r.send(publish_pkt(topic, payload, qos=qos, mid=mid))
    if qos == 1:
        expect(r, 4, "PUBACK")
    elif qos == 2:
        expect(r, 5, "PUBREC")
        r.send(ack_pkt("pubrel", mid))
        expect(r, 7, "PUBCOMP")


def take(r, n, timeout=5):
    """n PUBLISHes on r, each acknowledged as its QoS asks (PUBACK;
    PUBREC, then PUBCOMP for the PUBREL): {payload: qos}."""
    got, rels = {}, 0
    while len(got) < n or rels:
        p = r.read(timeout)
        check(p is not None, "%d of %d messages, %d PUBRELs short"
              % (len(got), n, rels))
        if p[0] == 6:
            r.send(ack_pkt("pubcomp", int.from_bytes(p[2][:2], "big")))
            rels -= 1
            continue
        check(p[0] == 3, "want PUBLISH, got type %d" % p[0])
        qos, body = (p[1] >> 1) & 3, p[2]
        off = 2 + int.from_bytes(body[:2], "big")
        mid = int.from_bytes(body[off:off + 2], "big")
        got[body[off + (2 if qos else 0):]] = qos
        if qos == 1:
            r.send(ack_pkt("puback", mid))
        elif qos == 2:
            r.send(ack_pkt("pubrec", mid))
            rels += 1
    return got
