#!/usr/bin/python3
"""Sessions are bound to their owner. A client id whose persistent session
belongs to an authenticated user cannot be taken over (nor discarded with
clean session) by an anonymous client or another user: CONNACK 5 in
3.1.1, 0x87 in 5.0, counted (errors.session_owner on /metrics, $SYS
broker/clients/refused/session_owner). The owner resumes it; anonymous
sessions stay free for anyone. With state_dir the stored session keeps
its owner: after kill -9 its ACL is the owner's, not anonymous, and the
client id is still refused to others.
"""
import os
import shutil
import subprocess
import time
import urllib.request

from fhtest import Daemon, check, free_port, need, run_cases
from mqtttest import (P_SESSION_EXPIRY, Raw, ack_pkt, connect5_pkt,
                      connect_pkt, packet, parse_reason5, prop, publish_pkt,
                      subscribe_pkt)

CONF = """[gateway]
state_dir = {tmp}/state
[broker]
sys_interval = 1s
allow_anonymous = true
anonymous_publish = true
password_file = {tmp}/passwd
acl_file = {tmp}/acl
[listener mqtt]
bind = 127.0.0.1:{port}
[listener web]
protocol = ws
bind = 127.0.0.1:{web}
"""

# anonymous may read public/#, alice only alice/#, bob everything
ACL = """topic read public/#
user alice
topic readwrite alice/#
user bob
topic readwrite #
topic read $SYS/#
"""

PUBACK, SUBACK = 4, 9
DISCONNECT = packet(0xe0)


def daemon():
    need("mosquitto_passwd")
    for _ in range(5):      # two free ports, not the same one twice
        d = Daemon(CONF, wait=None, ports={"web": free_port()})
        if d.ports["web"] != d.port:
            break
        shutil.rmtree(d.tmp, ignore_errors=True)
    pw = os.path.join(d.tmp, "passwd")
    open(pw, "w").close()
    for user, secret in (("alice", "secret"), ("bob", "hunter2")):
        r = subprocess.run(["mosquitto_passwd", "-b", pw, user, secret],
                           capture_output=True, text=True)
        check(r.returncode == 0, "mosquitto_passwd: " + r.stderr)
    with open(os.path.join(d.tmp, "acl"), "w") as f:
        f.write(ACL)
    d.start()
    return d


USERS = {"alice": "secret", "bob": "hunter2"}


def conn(d, cid, user=None, clean=False):
    return Raw(d.port, connect_pkt(cid, clean=clean, user=user,
                                   pw=USERS.get(user)))


def refused(d, cid, user=None, clean=False):
    """CONNACK 5, then the connection is closed."""
    r = conn(d, cid, user, clean)
    check(r.connack[1] == 5, "%s as %s: CONNACK %d, want 5"
          % (cid, user or "anonymous", r.connack[1]))
    check(r.closed(), "%s: connection not closed after CONNACK 5" % cid)
    r.close()


def expect(r, kind, mid):
    p = r.read()
    check(p is not None and p[0] == kind and
          int.from_bytes(p[2][:2], "big") == mid,
          "want type %d mid %d, got %r" % (kind, mid, p))


def subscribe(r, filters, mid=1):
    r.send(subscribe_pkt(mid, filters))
    expect(r, SUBACK, mid)


def sync(r, topic, mid=99, retain=False):
    """The PUBACK of a QoS 1 publish that is stored (retained, or queued
    for a persistent session) comes after the commit of everything staged
    before it on this connection."""
    r.send(publish_pkt(topic, "sync", 1, mid, retain))
    expect(r, PUBACK, mid)


def bye(*rs):
    for r in rs:
        r.send(DISCONNECT)
        r.close()


def owned_offline(d, cid="cid"):
    """alice's persistent session, offline, subscribed to alice/in/# and
    public/#."""
    a = conn(d, cid, "alice")
    check(a.connack[1] == 0, "alice: CONNACK %d" % a.connack[1])
    subscribe(a, [("alice/in/#", 1), ("public/#", 1)])
    sync(a, "alice/sync", retain=True)
    bye(a)


def metric(d, reason):
    url = "http://127.0.0.1:%d/metrics" % d.ports["web"]
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    for line in text.splitlines():
        if "errors" in line and 'reason="%s"' % reason in line:
            return float(line.rpartition(" ")[2])
    raise AssertionError("no errors{reason=%r} on /metrics:\n%s"
                         % (reason, text))


def test_anonymous_cannot_take_owned_session():
    with daemon() as d:
        owned_offline(d)
        refused(d, "cid")
        refused(d, "cid", clean=True)    # nor discard it
        a = conn(d, "cid", "alice")
        check(a.connack == b"\x01\x00", "alice: session not kept: %r"
              % a.connack)
        bye(a)


def test_other_user_cannot_take_owned_session():
    with daemon() as d:
        owned_offline(d)
        refused(d, "cid", "bob")
        # online too: the owner stays connected and served
        a = conn(d, "cid", "alice")
        refused(d, "cid", "bob")
        refused(d, "cid")
        p = conn(d, "pub", "bob", clean=True)
        sync(p, "alice/in/x", 5)
        m = a.read_publish()
        check(m is not None and m[0] == "alice/in/x",
              "alice lost her connection or message: %r" % (m,))
        a.send(ack_pkt("puback", m[3]))
        bye(a, p)


def test_owner_takes_over_own_session():
    with daemon() as d:
        owned_offline(d)
        a1 = conn(d, "cid", "alice")
        a2 = conn(d, "cid", "alice")
        check(a2.connack == b"\x01\x00", "takeover by the owner: %r"
              % a2.connack)
        check(a1.closed(), "the old connection stays open")
        a1.close()
        bye(a2)


def test_anonymous_sessions_are_free():
    with daemon() as d:
        n = conn(d, "free")
        subscribe(n, [("public/#", 1)])
        bye(n)
        n = conn(d, "free")
        check(n.connack == b"\x01\x00", "anonymous resume: %r" % n.connack)
        bye(n)
        b = conn(d, "free", "bob")
        check(b.connack == b"\x01\x00", "bob takes an anonymous session: "
              "%r" % b.connack)
        bye(b)
        refused(d, "free")      # bob's now


def test_v5_refused_0x87():
    with daemon() as d:
        owned_offline(d)
        for user in (None, "bob"):
            r = Raw(d.port)
            r.send(connect5_pkt("cid", clean=False, user=user,
                                pw=USERS.get(user),
                                props=prop(P_SESSION_EXPIRY, 60)))
            t, reason, _ = parse_reason5(r.read())
            check(t == 2 and reason == 0x87, "5.0 %s: CONNACK type %d "
                  "reason 0x%02x, want 0x87" % (user or "anonymous", t,
                                                 reason))
            check(r.closed(), "5.0: not closed after CONNACK 0x87")
            r.close()
        check(metric(d, "session_owner") == 2, "5.0 refusals not counted")
        # the owner, in 5.0, resumes it
        r = Raw(d.port)
        r.send(connect5_pkt("cid", clean=False, user="alice", pw="secret",
                            props=prop(P_SESSION_EXPIRY, 60)))
        p = r.read()
        check(p is not None and p[0] == 2 and p[2][:2] == b"\x01\x00",
              "alice in 5.0: %r" % (p,))
        r.close()


def test_refusals_counted():
    with daemon() as d:
        owned_offline(d)
        check(metric(d, "session_owner") == 0, "counted before any")
        refused(d, "cid")
        refused(d, "cid", "bob")
        check(metric(d, "session_owner") == 2, "/metrics: %r"
              % metric(d, "session_owner"))
        s = conn(d, "sys", "bob", clean=True)     # $SYS is bob's to read
        subscribe(s, [("$SYS/broker/clients/refused/session_owner", 0)])
        deadline = time.time() + 10
        got = None
        while time.time() < deadline and got != b"2":
            m = s.read_publish(timeout=max(0.1, deadline - time.time()))
            got = m[1] if m is not None else got
        check(got == b"2", "$SYS session_owner: %r" % got)
        bye(s)


def test_owner_and_acl_survive_kill9():
    with daemon() as d:
        owned_offline(d)
        d.kill9()
        d.start()
        # the owner's ACL: alice/in/1, not public/1 (anonymous would get
        # the opposite)
        p = conn(d, "pub", "bob", clean=True)
        p.send(publish_pkt("public/1", "x", 1, 1))
        expect(p, PUBACK, 1)
        sync(p, "alice/in/1", 2)
        sync(p, "alice/in/end", 3)
        refused(d, "cid")
        refused(d, "cid", "bob")
        d.kill9()
        d.start()
        refused(d, "cid")
        a = conn(d, "cid", "alice")
        check(a.connack == b"\x01\x00", "alice: %r" % a.connack)
        got = []
        while not got or got[-1] != "alice/in/end":
            m = a.read_publish()
            check(m is not None, "alice's queue ends early: %r" % got)
            got.append(m[0])
            a.send(ack_pkt("puback", m[3]))
        check(got == ["alice/in/1", "alice/in/end"], "queued for alice after "
              "restarts: %r" % got)
        bye(a, p)


run_cases(globals())
