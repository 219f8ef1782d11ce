#!/usr/bin/env python3
"""A real Mosquitto bridging INTO firehosed, the way a site that already
runs Mosquitto joins the firehose: Mosquitto's default bridge sets the
bridge bit in its CONNECT (try_private: protocol level 0x84), which
Mosquitto's own broker accepts. firehosed accepts it too and, as
Mosquitto does, gives such a 3.1.1 bridge No Local and Retain As
Published on its subscriptions, so nothing it sent comes back to it."""
import os
import subprocess
import tempfile
import time

from bridgetest import Mosquitto, Sub, need_mosquitto, pub
from fhtest import Daemon, check, run_cases
from mqtttest import Raw, connect_pkt, packet, publish_pkt, subscribe_pkt

CONF = """[gateway]
log_level = debug
[broker]
password_file = {tmp}/passwd
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def daemon():
    d = Daemon(CONF, wait=None)
    r = subprocess.run(["mosquitto_passwd", "-b", "-c",
                        os.path.join(d.tmp, "passwd"), "site", "pw"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "mosquitto_passwd: " + r.stderr)
    return d.start()


def test_raw_bridge_bit_accepted_with_no_local():
    with daemon() as d:
        r = Raw(d.port, connect_pkt("raw-bridge", level=0x84, user="site",
                                    pw="pw"))
        check(r.connack == b"\x00\x00", "CONNACK %r" % (r.connack,))
        r.send(subscribe_pkt(1, [("loop/#", 0)]))
        check(r.read()[0] == 9, "SUBACK")
        # what the bridge publishes itself never comes back to it ...
        other = Sub(d.port, "loop/#", qos=0)
        r.send(publish_pkt("loop/mine", b"x"))
        r.send(publish_pkt("loop/mine", b"sentinel-own"))
        check(other.get()[:2] == ("loop/mine", "x"), "others get it")
        check(other.get()[:2] == ("loop/mine", "sentinel-own"), "order")
        # ... what others publish does
        pub(d.port, "loop/theirs", "y", username="site", password="pw")
        t, body = r.read_publish()[:2]
        check((t, body) == ("loop/theirs", b"y"),
              "the bridge got %r, not its own messages first" % ((t, body),))
        other.close()
        r.send(packet(0xe0))
        r.close()


def test_plain_client_keeps_local_delivery():
    # without the bit nothing changes: a 3.1.1 client gets its own messages
    with daemon() as d:
        r = Raw(d.port, connect_pkt("plain", user="site", pw="pw"))
        check(r.connack == b"\x00\x00", "CONNACK %r" % (r.connack,))
        r.send(subscribe_pkt(1, [("echo/#", 0)]))
        check(r.read()[0] == 9, "SUBACK")
        r.send(publish_pkt("echo/a", b"me"))
        t, body = r.read_publish()[:2]
        check((t, body) == ("echo/a", b"me"), "own message: %r" % ((t, body),))
        r.close()


def test_mosquitto_bridge_both_ways():
    need_mosquitto()
    with daemon() as d:
        tmp = tempfile.mkdtemp(prefix="fh-mosq-bridge-")
        bridge = ("connection firehose\naddress 127.0.0.1:%d\n"
                  "remote_username site\nremote_password pw\n"
                  "bridge_protocol_version mqttv311\n"
                  "topic site/# out 1\ntopic gerrit/# in 1\n" % d.port)
        with Mosquitto(tmp, bridge) as m:
            deadline = time.time() + 20
            while "site" not in d.logtext() or \
                    "connected" not in d.logtext():
                check(time.time() < deadline,
                      "Mosquitto's bridge never connected:\n" +
                      m.logtext() + d.logtext())
                time.sleep(0.1)
            up = Sub(d.port, "site/#", qos=1)
            down = Sub(m.port, "gerrit/#", qos=1)
            # the bridge subscribes in its own time: repeat until through
            deadline = time.time() + 20
            while True:
                pub(d.port, "gerrit/nova/probe", "p", qos=1,
                    username="site", password="pw")
                try:
                    down.get(timeout=1)
                    break
                except Exception:
                    check(time.time() < deadline, "nothing came in")
            for i in range(20):
                pub(m.port, "site/events", "s%d" % i, qos=1)
                pub(d.port, "gerrit/nova/change", "g%d" % i, qos=1,
                    username="site", password="pw")
            got_up = [up.get()[1] for _ in range(20)]
            check(got_up == ["s%d" % i for i in range(20)],
                  "Mosquitto -> firehosed: %r" % got_up)
            got_down = []
            while len(got_down) < 20:
                t, body = down.get()[:2]
                if body != "p":
                    got_down.append(body)
            check(got_down == ["g%d" % i for i in range(20)],
                  "firehosed -> Mosquitto: %r" % got_down)
            # no loop: what went out from Mosquitto did not come back
            pub(m.port, "site/events", "sentinel", qos=1)
            check(up.get()[1] == "sentinel", "sentinel")
            up.none(0.5)
            up.close()
            down.close()


def test_bridge_counters_in_sys():
    # the other modules' counters (here a bridge's) are in $SYS too:
    # $SYS/firehose/sinks/bridge/links/NAME/...
    need_mosquitto()
    tmp = tempfile.mkdtemp(prefix="fh-mosq-sys-")
    with Mosquitto(tmp) as m:
        remote = Sub(m.port, "sys/#", qos=1)
        conf = ("[broker]\nanonymous_publish = true\nsys_interval = 1s\n"
                "[listener mqtt]\nbind = 127.0.0.1:{port}\n"
                "[bridge up]\naddress = 127.0.0.1:%d\n"
                "topic = sys/# out 1\n" % m.port)
        with Daemon(conf) as d:
            deadline = time.time() + 20
            while "bridge up" not in d.logtext() or \
                    "connected" not in d.logtext():
                check(time.time() < deadline, "bridge never connected")
                time.sleep(0.1)
            for i in range(3):
                pub(d.port, "sys/x", "m%d" % i, qos=1)
            check([remote.get()[1] for _ in range(3)] ==
                  ["m0", "m1", "m2"], "bridged")
            w = Sub(d.port, "$SYS/firehose/sinks/bridge/links/up/#", qos=0)
            seen = {}
            deadline = time.time() + 20
            while seen.get("acked") != "3" or \
                    seen.get("state") != "connected":
                check(time.time() < deadline, "$SYS: %r" % seen)
                t, body = w.get(timeout=20)[:2]
                seen[t.rsplit("/", 1)[1]] = body
            w.close()
        remote.close()


if __name__ == "__main__":
    run_cases(globals())
