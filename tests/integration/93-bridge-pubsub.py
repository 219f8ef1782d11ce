#!/usr/bin/python3
"""Bridges against a real Mosquitto on loopback: events out at the topic
line's QoS, in order; remote messages in; both directions with prefixes
rewritten; the $SYS connection state locally and the will on the remote;
fail-over to the second address; a name whose first addresses do not
answer; TLS with a test CA and a client
certificate; username and password; two firehosed bridged both ways to
one Mosquitto without any message circulating; config errors."""
import os
import queue
import tempfile
import time

import paho.mqtt.client as mqtt

from bridgetest import Mosquitto, Sub, bridge_metric, conf, need_mosquitto, \
    pub, wait_connected
from fhtest import FIREHOSED, Daemon, check, free_port, hosts_wrap, run, \
    run_cases
from transport import make_pki

need_mosquitto()


def daemon(bridge, wrap=(), **ports):
    ports.setdefault("web", free_port())
    return Daemon(conf(bridge), ports=ports, wrap=wrap)


# A name whose first two addresses refuse (the remote listens on 127.0.0.1
# only), as localhost does where it is ::1 first, or a host with a dead
# first A record. The daemon resolves it from its own /etc/hosts, which
# evdns reads in file order.
NAME = "fh-remote.test"
NAME_HOSTS = ("::1 %s\n127.0.0.2 %s\n127.0.0.1 %s\n" % (NAME, NAME, NAME))


def test_out_each_qos_in_order():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    with Mosquitto(tmp) as m:
        remote = Sub(m.port, "#", qos=2)
        with daemon("[bridge up]\naddress = 127.0.0.1:%d\n"
                    "topic = q0/# out 0\ntopic = q1/# out 1\n"
                    "topic = q2/# out 2\n" % m.port) as d:
            wait_connected(d)
            for q in (0, 1, 2):
                for i in range(20):
                    pub(d.port, "q%d/n" % q, "%d" % i, qos=1)
            got = remote.take(60)
            for q in (0, 1, 2):
                mine = [g for g in got if g[0] == "q%d/n" % q]
                check([g[1] for g in mine] == [str(i) for i in range(20)],
                      "QoS %d out of order or lost: %r" % (q, mine))
                check(all(g[2] == q for g in mine),
                      "QoS %d arrived at %r" % (q, set(g[2] for g in mine)))
            pub(d.port, "other/x", "not bridged", qos=1)
            remote.none(1.0)
            check(bridge_metric(d, "acked", "up") == 40,
                  "acked %s, want 40" % bridge_metric(d, "acked", "up"))
        remote.close()


def test_in_each_qos():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    with Mosquitto(tmp) as m:
        with daemon("[bridge up]\naddress = 127.0.0.1:%d\n"
                    "topic = r0/# in 0\ntopic = r1/# in 1\n"
                    "topic = r2/# in 2\n" % m.port) as d:
            wait_connected(d)
            local = Sub(d.port, "#", qos=2)
            for q in (0, 1, 2):
                for i in range(10):
                    pub(m.port, "r%d/x" % q, "%d" % i, qos=2)
            got = local.take(30)
            for q in (0, 1, 2):
                mine = [g for g in got if g[0] == "r%d/x" % q]
                check([g[1] for g in mine] == [str(i) for i in range(10)],
                      "in QoS %d: %r" % (q, mine))
                check(all(g[2] == q for g in mine), "in QoS %d: %r" %
                      (q, mine))
            pub(m.port, "elsewhere", "not subscribed", qos=1)
            local.none(1.0)
            local.close()


def test_both_with_prefixes_no_echo():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    with Mosquitto(tmp) as m:
        remote = Sub(m.port, "#", qos=1)
        with daemon("[bridge up]\naddress = 127.0.0.1:%d\n"
                    "topic = \"#\" both 1 local/ remote/here/\n"
                    "topic = gerrit/# out 1 \"\" upstream/\n" % m.port) as d:
            wait_connected(d)
            local = Sub(d.port, "#", qos=1)
            pub(d.port, "local/a/b", "from-local", qos=1)
            pub(d.port, "gerrit/change", "from-gerrit", qos=1)
            check(remote.get()[:2] == ("remote/here/a/b", "from-local"),
                  "prefix out")
            check(remote.get()[:2] == ("upstream/gerrit/change",
                                       "from-gerrit"), "prefix added")
            pub(m.port, "remote/here/c", "from-remote", qos=1)
            pub(m.port, "remote/elsewhere", "not mapped", qos=1)
            check(remote.get()[:2] == ("remote/here/c", "from-remote"),
                  "the remote's own")
            check(remote.get()[:2] == ("remote/elsewhere", "not mapped"),
                  "the remote's own")
            got = sorted(g[:2] for g in local.take(3))
            check(got == [("gerrit/change", "from-gerrit"),
                          ("local/a/b", "from-local"),
                          ("local/c", "from-remote")], "local: %r" % got)
            # nothing echoed either way
            remote.none(1.0)
            local.none(0.2)
            local.close()
        remote.close()


def test_notifications_state_and_will():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    with Mosquitto(tmp) as m:
        d = daemon("[bridge up]\naddress = 127.0.0.1:%d\n"
                   "topic = x/# out 0\n" % m.port)
        with d:
            wait_connected(d)
            local = Sub(d.port, "$SYS/broker/connection/#")
            t, v, q, retained = local.get()
            check((t, v, retained) ==
                  ("$SYS/broker/connection/up/state", "1", True),
                  "local state %r" % ((t, v, retained),))
            local.close()
            remote = Sub(m.port, "$SYS/broker/connection/#")
            t, v, q, retained = remote.get()
            check((t, v, retained) ==
                  ("$SYS/broker/connection/up/state", "1", True),
                  "remote state %r" % ((t, v, retained),))
            d.stop()
            # the will: the remote learns that the bridge went away
            t, v, q, retained = remote.get()
            check((t, v) == ("$SYS/broker/connection/up/state", "0"),
                  "will %r" % ((t, v),))
            remote.close()


def test_failover_to_the_next_address():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    dead = free_port()
    with Mosquitto(tmp) as m:
        remote = Sub(m.port, "fo/#")
        with daemon("[bridge up]\naddress = 127.0.0.1:%d, 127.0.0.1:%d\n"
                    "restart_timeout = 100ms 1s\n"
                    "topic = fo/# out 1\n" % (dead, m.port)) as d:
            wait_connected(d)
            pub(d.port, "fo/1", "over the second", qos=1)
            check(remote.get()[:2] == ("fo/1", "over the second"),
                  "fail-over")
            check(d.logtext().count("cannot connect to mqtt://127.0.0.1:%d"
                                    % dead) == 1, "the dead one logged once")
        remote.close()


def back_to_the_first(host, topic, what, hosts=None):
    """A bridge to host (its /etc/hosts is hosts, when given) and then
    127.0.0.1, the first dead at the start: it connects to the second,
    then moves back to the first once that answers, and publishes there
    on topic."""
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    wrap = hosts_wrap(tmp, hosts) if hosts is not None else ()
    first = free_port()
    with Mosquitto(tmp, name="second") as second:
        with daemon("[bridge up]\naddress = %s:%d 127.0.0.1:%d\n"
                    "restart_timeout = 100ms 500ms\n"
                    "topic = %s/# out 1\n" % (host, first, second.port, topic),
                    wrap=wrap) as d:
            wait_connected(d)
            with Mosquitto(tmp, port=first, name="first") as m:
                sub = Sub(m.port, topic + "/#")
                d.wait_log("answers again; moving back to it")
                wait_connected(d)
                pub(d.port, topic + "/1", "on the first again", qos=1)
                check(sub.get()[:2] == (topic + "/1", "on the first again"),
                      what)
                sub.close()


def test_back_to_the_first_address():
    """round_robin false (the default): on the second address, the bridge
    moves back to the first once it answers again."""
    back_to_the_first("127.0.0.1", "rr", "back on the first address")


def test_every_address_of_a_name():
    """The bridge tries each address the name resolves to, not only the
    first."""
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    wrap = hosts_wrap(tmp, NAME_HOSTS)
    with Mosquitto(tmp) as m:
        remote = Sub(m.port, "nm/#")
        with daemon("[bridge up]\naddress = %s:%d\n"
                    "restart_timeout = 100ms 1s\n"
                    "topic = nm/# out 1\n" % (NAME, m.port),
                    wrap=wrap) as d:
            wait_connected(d)
            pub(d.port, "nm/1", "over the third address", qos=1)
            check(remote.get()[:2] == ("nm/1", "over the third address"),
                  "out over %s" % NAME)
            check(bridge_metric(d, "connect_failures", "up") == 0,
                  "the dead addresses failed the link")
        remote.close()


def test_back_to_a_name_whose_first_address_is_dead():
    """On the second configured address, the probe of the first (a name)
    tries each of its addresses too, and moves back once the last
    answers."""
    back_to_the_first(NAME, "rn", "back on %s" % NAME, hosts=NAME_HOSTS)


def test_tls_with_client_certificate():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    pki = make_pki(tmp)
    tls = free_port()
    with Mosquitto(tmp, "listener %d 127.0.0.1\ncafile %s\ncertfile %s\n"
                   "keyfile %s\nrequire_certificate true\n"
                   "use_identity_as_username true\n" %
                   (tls, pki["ca"], pki["cert"], pki["key"])) as m:
        remote = Sub(m.port, "tls/#")
        with daemon("[bridge up]\naddress = 127.0.0.1:%d\n"
                    "protocol = mqtts\nca_file = %s\ncert_file = %s\n"
                    "key_file = %s\ntopic = tls/# both 1\n" %
                    (tls, pki["ca"], pki["client_cert"],
                     pki["client_key"])) as d:
            wait_connected(d)
            local = Sub(d.port, "tls/#")
            pub(d.port, "tls/out", "over TLS", qos=1)
            check(remote.get()[:2] == ("tls/out", "over TLS"), "TLS out")
            pub(m.port, "tls/in", "back over TLS", qos=1)
            got = sorted(g[:2] for g in local.take(2))
            check(got == [("tls/in", "back over TLS"),
                          ("tls/out", "over TLS")], "TLS in: %r" % got)
            local.close()
        check("New bridge connected" in m.logtext() and
              "u'publisher'" in m.logtext(),
              "mosquitto saw the client certificate's CN")
        remote.close()


def test_username_and_password_file():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    pw = os.path.join(tmp, "mosquitto.pw")
    r = run(["mosquitto_passwd", "-b", "-c", pw, "fhbridge", "s3cret pass"])
    check(r.returncode == 0, "mosquitto_passwd: " + r.stderr)
    secret = os.path.join(tmp, "bridge.secret")
    with open(secret, "w") as f:
        f.write("s3cret pass\n")
    with Mosquitto(tmp, "allow_anonymous false\npassword_file %s\n" %
                   pw) as m:
        remote = Sub(m.port, "auth/#", username="fhbridge",
                     password="s3cret pass")
        with daemon("[bridge up]\naddress = 127.0.0.1:%d\n"
                    "username = fhbridge\npassword_file = %s\n"
                    "topic = auth/# out 1\n" % (m.port, secret)) as d:
            wait_connected(d)
            pub(d.port, "auth/x", "authenticated", qos=1)
            check(remote.get()[:2] == ("auth/x", "authenticated"), "auth")
            check("s3cret" not in d.logtext(), "the secret in the log")
        remote.close()


def test_two_firehosed_both_ways_no_loop():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    with Mosquitto(tmp) as m:
        remote = Sub(m.port, "loop/#")
        br = ("[bridge up]\naddress = 127.0.0.1:%d\nclient_id = %%s\n"
              "topic = loop/# both 2\n" % m.port)
        with daemon(br % "fh-a") as a, daemon(br % "fh-b") as b:
            wait_connected(a)
            wait_connected(b)
            la = Sub(a.port, "loop/#")
            lb = Sub(b.port, "loop/#")
            pub(a.port, "loop/from-a", "1", qos=1)
            pub(b.port, "loop/from-b", "2", qos=1)
            pub(m.port, "loop/from-remote", "3", qos=1)
            want = [("loop/from-a", "1"), ("loop/from-b", "2"),
                    ("loop/from-remote", "3")]
            for who, s in (("remote", remote), ("a", la), ("b", lb)):
                got = sorted(g[:2] for g in s.take(3, what=who))
                check(got == want, "%s got %r" % (who, got))
            # and nothing more, anywhere, after a while
            time.sleep(1.5)
            for s in (remote, la, lb):
                s.none(0.1)
            sent_a = bridge_metric(a, "messages_sent", "up")
            check(sent_a == 2, "a sent %s (its event + its state)" % sent_a)
            la.close()
            lb.close()
        remote.close()


def v5_client(port, got, topic):
    from paho.mqtt.packettypes import PacketTypes  # noqa: F401
    c = mqtt.Client(client_id="", protocol=mqtt.MQTTv5)
    ready = queue.Queue()
    c.on_connect = lambda c, u, f, rc, props=None: c.subscribe(topic, 1)
    c.on_subscribe = lambda c, u, mid, g, props=None: ready.put(g)
    c.on_message = lambda c, u, m: got.put(m)
    c.connect("127.0.0.1", port, 60)
    c.loop_start()
    ready.get(timeout=10)
    return c


def v5_pub(port, topic, payload, user):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    c = mqtt.Client(client_id="", protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port, 60)
    c.loop_start()
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("origin", user)]
    props.MessageExpiryInterval = 3600
    c.publish(topic, payload, 1, properties=props).wait_for_publish()
    c.disconnect()
    c.loop_stop()


def user_props(m):
    return dict(getattr(m.properties, "UserProperty", []) or [])


def test_mqtt5_no_local_and_properties():
    """mqtt_version = 5 without the Mosquitto bridge flag: No Local keeps
    our own messages from coming back; user properties and message expiry
    of a remote message survive the bus (in over one bridge, out over
    another)."""
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    with Mosquitto(tmp) as m:
        rgot = queue.Queue()
        rc = v5_client(m.port, rgot, "#")
        with daemon("[bridge up]\naddress = 127.0.0.1:%d\n"
                    "mqtt_version = 5\ntry_private = false\n"
                    "topic = \"#\" both 1 local/ remote/\n"
                    "topic = relayed/# out 1 \"\" back/\n"
                    "[bridge relay]\naddress = 127.0.0.1:%d\n"
                    "mqtt_version = 5\n"
                    "topic = props/# in 1 relayed/ \"\"\n"
                    % (m.port, m.port)) as d:
            wait_connected(d)
            wait_connected(d, "relay")
            local = Sub(d.port, "local/#")
            pub(d.port, "local/a", "out5", qos=1)
            r = rgot.get(timeout=10)
            check((r.topic, r.payload, r.qos) == ("remote/a", b"out5", 1),
                  "v5 out: %r" % ((r.topic, r.payload, r.qos),))
            check(local.get()[:2] == ("local/a", "out5"), "local copy")
            v5_pub(m.port, "remote/b", "in5", "remote-side")
            r = rgot.get(timeout=10)	# the remote's own subscriber
            check(r.topic == "remote/b", "remote copy")
            check(local.get()[:2] == ("local/b", "in5"), "v5 in")
            # no echo either way
            local.none(1.0)
            try:
                x = rgot.get(timeout=0.2)
                raise AssertionError("echo: %s %r" % (x.topic, x.payload))
            except queue.Empty:
                pass
            check(bridge_metric(d, "loop_skipped", "up") == 1,
                  "the incoming one was not sent back")
            v5_pub(m.port, "props/x", "with-props", "remote-side")
            r = rgot.get(timeout=10)
            check(r.topic == "props/x", "the original")
            r = rgot.get(timeout=10)
            check((r.topic, r.payload) == ("back/relayed/props/x",
                                           b"with-props"),
                  "relayed: %r" % ((r.topic, r.payload),))
            check(user_props(r) == {"origin": "remote-side"},
                  "user property kept: %r" % r.properties)
            check(0 < getattr(r.properties, "MessageExpiryInterval", 0)
                  <= 3600, "expiry kept: %r" % r.properties)
            local.close()
        rc.disconnect()
        rc.loop_stop()


def remote_firehosed(tmp_pki=None, broker=""):
    """A second firehosed as the remote, for ws and wss: Debian's
    Mosquitto here has no working websockets listener."""
    text = ("[broker]\nanonymous_publish = true\nsys_interval = 0\n" +
            broker +
            "[listener mqtt]\nbind = 127.0.0.1:{port}\n"
            "[listener web]\nprotocol = ws\nbind = 127.0.0.1:{ws}\n"
            "path = /mqtt\n")
    ports = {"ws": free_port()}
    if tmp_pki is not None:
        text += ("[listener secure]\nprotocol = wss\n"
                 "bind = 127.0.0.1:{wss}\npath = /mqtt\n"
                 "cert_file = %s\nkey_file = %s\n" %
                 (tmp_pki["cert"], tmp_pki["key"]))
        ports["wss"] = free_port()
    return Daemon(text, ports=ports)


def test_ws_and_wss_to_another_firehosed():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    pki = make_pki(tmp)
    with remote_firehosed(pki) as r:
        remote = Sub(r.port, "#", qos=1)
        # firehosed's broker takes neither the Mosquitto bridge bit nor
        # (in 3.1.1) No Local: try_private off, and out and in on
        # different topics, or what goes out would come back in
        with daemon("[bridge plain]\naddress = 127.0.0.1:%d\n"
                    "protocol = ws\ntry_private = false\n"
                    "topic = ws/out/# out 1\ntopic = ws/in/# in 1\n"
                    "[bridge secure]\naddress = 127.0.0.1:%d\n"
                    "protocol = wss\nca_file = %s\npath = /mqtt\n"
                    "try_private = false\n"
                    "topic = wss/out/# out 2\ntopic = wss/in/# in 2\n" %
                    (r.ports["ws"], r.ports["wss"], pki["ca"])) as d:
            wait_connected(d, "plain")
            wait_connected(d, "secure")
            local = Sub(d.port, ["ws/#", "wss/#"], qos=2)
            big = "x" * 70000	# a 64-bit WebSocket length
            pub(d.port, "ws/out/a", "over ws", qos=1)
            pub(d.port, "wss/out/b", big, qos=1)
            got = sorted((g[0], len(g[1])) for g in remote.take(2))
            check(got == [("ws/out/a", 7), ("wss/out/b", 70000)],
                  "out over ws/wss: %r" % got)
            pub(r.port, "ws/in/c", "back over ws", qos=1)
            pub(r.port, "wss/in/d", big, qos=2)
            got = sorted((g[0], len(g[1])) for g in local.take(4))
            check(got == [("ws/in/c", 12), ("ws/out/a", 7),
                          ("wss/in/d", 70000), ("wss/out/b", 70000)],
                  "local: %r" % got)
            local.none(1.0)
            local.close()
        remote.close()


def test_firehosed_to_firehosed_mqtt5_both_ways():
    """Between two firehosed, MQTT 5 over ws: one topic line both ways,
    and No Local on the remote keeps our own messages from coming back."""
    with remote_firehosed() as r:
        remote = Sub(r.port, "fh/#", qos=1)
        with daemon("[bridge up]\naddress = 127.0.0.1:%d\n"
                    "protocol = ws\nmqtt_version = 5\n"
                    "topic = fh/# both 1\n" % r.ports["ws"]) as d:
            wait_connected(d)
            local = Sub(d.port, "fh/#", qos=1)
            pub(d.port, "fh/out", "1", qos=1)
            pub(r.port, "fh/in", "2", qos=1)
            for who, sub in (("remote", remote), ("local", local)):
                got = sorted(g[:2] for g in sub.take(2, what=who))
                check(got == [("fh/in", "2"), ("fh/out", "1")],
                      "%s: %r" % (who, got))
            local.none(1.0)
            remote.none(0.1)
            local.close()
        remote.close()


def test_ws_refused_connack_reported():
    """A CONNACK refusal followed by a close frame is reported as the
    refusal it is."""
    with remote_firehosed(broker="allow_anonymous = false\n") as r:
        with daemon("[bridge up]\naddress = 127.0.0.1:%d\n"
                    "protocol = ws\nrestart_timeout = 100ms 300ms\n"
                    "topic = x/# out 1\n" % r.ports["ws"]) as d:
            deadline = time.time() + 10
            while "cannot connect" not in d.logtext():
                check(time.time() < deadline, "no failure logged")
                time.sleep(0.1)
            check("refused by the remote: not authorized"
                  in d.logtext(), d.logtext())


def test_ws_upgrade_refused_logged_once():
    with remote_firehosed() as r:
        with daemon("[bridge up]\naddress = 127.0.0.1:%d\n"
                    "protocol = ws\npath = /nowhere\n"
                    "restart_timeout = 100ms 300ms\n"
                    "topic = x/# out 1\n" % r.ports["ws"]) as d:
            deadline = time.time() + 10
            while (bridge_metric(d, "connect_failures", "up") or 0) < 3:
                check(time.time() < deadline, "no retries")
                time.sleep(0.1)
            log = d.logtext()
            check(log.count("WebSocket upgrade refused: HTTP 4") == 1,
                  "refusal logged once:\n" + log)


BAD = [
    ("address = 127.0.0.1:1\n", "needs at least one 'topic"),
    ("topic = x out 0\n", "missing required key 'address'"),
    ("address = 127.0.0.1:1\ntopic = x sideways 0\n", ":6: bad direction"),
    ("address = 127.0.0.1:1\ntopic = x out 3\n", ":6: bad QoS '3'"),
    ("address = 127.0.0.1:1\ntopic = # out 0\n", ":6: empty topic line"),
    ("address = 127.0.0.1:1\ntopic = x out 1 a/\n", ":6: bad topic line"),
    ("address = 127.0.0.1:1\ntopic = a/#/b out 0\n", "bad topic pattern"),
    ("address = 127.0.0.1:1\ntopic = x out 0 a/+/ b/\n", "wildcards"),
    ("address = 127.0.0.1:1\ntopic = x\nprotocol = smtp\n",
     ":7: bad protocol 'smtp'"),
    ("address = 127.0.0.1:1\ntopic = x\nmqtt_version = 3\n",
     ":7: bad mqtt_version"),
    ("address = 127.0.0.1:1\ntopic = x\nusername = u\n"
     "password_file = /nonexistent/pw\n", ":8: cannot read '/nonexistent"),
    ("address = 127.0.0.1:1\ntopic = x\nca_file = /etc/hostname\n",
     "TLS files need protocol = mqtts"),
    ("address = 127.0.0.1:1\ntopic = x\nprotocol = mqtts\n"
     "ca_file = /nonexistent/ca.pem\n", ":8: cannot read"),
    ("address = 127.0.0.1:1\ntopic = x\nrestart_timeout = 5s 1s\n",
     ":7: bad restart_timeout"),
    ("address = 127.0.0.1:1\ntopic = x\nkeepalive = 100000s\n", ":7: "),
    ("address = 127.0.0.1:1\ntopic = x\nmax_queued = 1\n", "at least 4k"),
    ("address = 127.0.0.1:1\ntopic = x\naddress = 127.0.0.1:2\n",
     ":7: duplicate key 'address'"),
    ("address = host:port\ntopic = x\n", "bad address 'host:port'"),
    ("address = 127.0.0.1:1\ntopic = x\nbogus = 1\n", ":7: unknown key"),
]


def test_config_errors():
    tmp = tempfile.mkdtemp(prefix="fh-bridge-")
    path = os.path.join(tmp, "bad.conf")
    for body, want in BAD:
        with open(path, "w") as f:
            f.write("[broker]\n[listener m]\nbind = 127.0.0.1:0\n"
                    "[bridge up]\n" + body)
        r = run([FIREHOSED, "-t", "-c", path])
        out = r.stdout + r.stderr
        check(r.returncode == 1 and want in out,
              "%r: rc %d, %r (want %r)" % (body, r.returncode, out, want))
    with open(path, "w") as f:
        f.write("[broker]\n[listener m]\nbind = 127.0.0.1:0\n"
                "[bridge up]\naddress = 127.0.0.1:1 [::1]:2 localhost\n"
                "topic = \"#\" both 2 \"\" up/\ntopic = a/+/b in 1\n")
    r = run([FIREHOSED, "-t", "-c", path])
    check(r.returncode == 0, "a good config: %s" % (r.stdout + r.stderr))


run_cases(globals())
