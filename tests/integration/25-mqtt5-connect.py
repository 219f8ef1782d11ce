#!/usr/bin/python3
"""MQTT 5.0, the connection side: CONNECT/CONNACK (properties, reason
codes, assigned client id, server keep alive), sessions (Clean Start,
Session Expiry Interval, from DISCONNECT too), wills (DISCONNECT reasons,
will delay), flow control (Receive Maximum), the broker's own DISCONNECT
with a reason, and the Mosquitto-named [broker] keys. Raw packets through
mqtttest and paho-mqtt's MQTTv5 client; 3.1.1 clients beside them."""
import os
import signal
import subprocess
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

import fhtest
from fhtest import Daemon, check
from limitstest import stats
from mqtttest import (Client, Raw, Raw5, ack5_pkt, connect5, connect5_pkt,
                      parse_publish5,
                      connect_pkt, disconnect5_pkt, expiry_props, packet,
                      prop, prop_get, publish5_pkt, publish_pkt,
                      session_present5, P_ASSIGNED_CLIENT_ID,
                      P_AUTH_METHOD, P_MAXIMUM_PACKET_SIZE,
                      P_RECEIVE_MAXIMUM, P_REASON_STRING,
                      P_RETAIN_AVAILABLE, P_SERVER_KEEPALIVE,
                      P_SESSION_EXPIRY, P_USER, P_WILL_DELAY)

CONF = """[gateway]
log_level = debug
[broker]
sys_interval = 0
anonymous_publish = true
{extra}
[listener mqtt]
bind = 127.0.0.1:{port}
"""


def daemon(extra=""):
    return Daemon(CONF, ports={"extra": extra})


def watcher(d, topic="w/#"):
    w = Client(d.port, "watcher")
    w.sub(topic, 2)
    return w


# ---- CONNECT / CONNACK ------------------------------------------------

def test_connack_announces_limits():
    with daemon("max_inflight_messages = 7\nmax_packet_size = 4K\n"
                "retain = false") as d:
        r = Raw5(d.port, "a")
        pr = r.connack_props
        check(prop_get(pr, P_RECEIVE_MAXIMUM) == 7, "receive max %r" % pr)
        check(prop_get(pr, P_MAXIMUM_PACKET_SIZE) == 4096, "max packet %r"
              % pr)
        check(prop_get(pr, P_RETAIN_AVAILABLE) == 0, "retain %r" % pr)
        check(prop_get(pr, P_ASSIGNED_CLIENT_ID) is None, "assigned id "
              "for a client that has one: %r" % pr)
        r.nothing()
        r.close()


def test_v5_beside_v311_and_v31():
    with daemon() as d:
        r5 = Raw5(d.port, "five")
        r4 = Raw(d.port, connect_pkt("four"))
        check(r4.connack == b"\x00\x00", "3.1.1 CONNACK %r" % r4.connack)
        r3 = Raw(d.port, connect_pkt("three", proto="MQIsdp", level=3))
        check(r3.connack == b"\x00\x00", "3.1 CONNACK %r" % r3.connack)
        for r in (r5, r4, r3):
            r.nothing()
            r.close()


def test_assigned_client_identifier():
    with daemon() as d:
        r, sp, reason, pr = connect5(d.port, "", clean=False,
                                     props=expiry_props(60))
        check(reason == 0 and not sp, "CONNACK 0x%02x sp %r" % (reason, sp))
        cid = prop_get(pr, P_ASSIGNED_CLIENT_ID)
        check(cid is not None and cid.startswith("auto-"), "assigned %r"
              % (cid,))
        r.send(disconnect5_pkt())
        check(r.closed(), "not closed")
        # the assigned id names a session that can be resumed
        check(session_present5(d.port, cid, clean=False,
                               props=expiry_props(60)), "not resumed")


def test_zero_length_clientid_refused_when_disabled():
    with daemon("allow_zero_length_clientid = false") as d:
        r, _, reason, pr = connect5(d.port, "")
        check(reason == 0x85, "5.0: 0x%02x" % reason)
        check(prop_get(pr, P_REASON_STRING) is None, "a reason string %r"
              % pr)
        check(r.closed(), "5.0 not closed")
        r = Raw(d.port, connect_pkt(""))
        check(r.connack == b"\x00\x02", "3.1.1: %r" % r.connack)


def test_authentication_method_gets_0x8c():
    with daemon() as d:
        r, _, reason, _ = connect5(d.port, "auth",
                                   props=prop(P_AUTH_METHOD, "SCRAM-SHA-1"))
        check(reason == 0x8C, "0x%02x" % reason)
        check(r.closed(), "not closed")


def test_refusals_are_v5_reason_codes():
    fhtest.need("mosquitto_passwd")
    d = Daemon(CONF.replace("anonymous_publish = true",
                            "allow_anonymous = false\npassword_file = "
                            "{tmp}/pw"), wait=None, ports={"extra": ""})
    pw = os.path.join(d.tmp, "pw")
    r = subprocess.run(["mosquitto_passwd", "-c", "-b", pw, "u", "p"],
                       capture_output=True, text=True)
    check(r.returncode == 0, "mosquitto_passwd: " + r.stderr)
    d.start()
    with d:
        r, _, reason, _ = connect5(d.port, "anon")
        check(reason == 0x87, "anonymous: 0x%02x" % reason)
        check(r.closed(), "anonymous not closed")
        r, _, reason, _ = connect5(d.port, "bad", user="u", pw="wrong")
        check(reason == 0x86, "bad password: 0x%02x" % reason)
        check(r.closed(), "bad password not closed")
        r, _, reason, _ = connect5(d.port, "good", user="u", pw="p")
        check(reason == 0, "good password: 0x%02x" % reason)
        r.close()


def test_paho_v5_connects():
    with daemon() as d:
        got = {}
        ev = threading.Event()

        def on_connect(c, u, flags, rc, props=None):
            got["rc"] = rc
            got["props"] = props
            ev.set()

        c = mqtt.Client("paho5", protocol=mqtt.MQTTv5)
        c.on_connect = on_connect
        cp = Properties(PacketTypes.CONNECT)
        cp.SessionExpiryInterval = 30
        cp.UserProperty = ("k", "v")
        c.connect("127.0.0.1", d.port, 60, clean_start=True, properties=cp)
        c.loop_start()
        try:
            check(ev.wait(10), "no CONNACK")
            check(got["rc"] == 0, "rc %r" % (got["rc"],))
            check(getattr(got["props"], "ReceiveMaximum", None) == 20,
                  "props %r" % (got["props"],))
        finally:
            c.disconnect()
            c.loop_stop()


# ---- keep alive ----------------------------------------------------------

def test_max_keepalive_sent_as_server_keepalive():
    with daemon("max_keepalive = 30") as d:
        r = Raw5(d.port, "ka60", keepalive=60)
        check(prop_get(r.connack_props, P_SERVER_KEEPALIVE) == 30,
              "60: %r" % r.connack_props)
        r.close()
        r = Raw5(d.port, "ka0", keepalive=0)
        check(prop_get(r.connack_props, P_SERVER_KEEPALIVE) == 30,
              "0: %r" % r.connack_props)
        r.close()
        r = Raw5(d.port, "ka10", keepalive=10)
        check(prop_get(r.connack_props, P_SERVER_KEEPALIVE) is None,
              "10: %r" % r.connack_props)
        r.close()
        # 3.1.1 cannot be told: refused, as Mosquitto does
        r = Raw(d.port, connect_pkt("old", keepalive=60))
        check(r.connack == b"\x00\x02", "3.1.1: %r" % r.connack)


def test_keepalive_timeout_disconnect_0x8d():
    with daemon("max_keepalive = 1") as d:
        r = Raw5(d.port, "quiet", keepalive=60)
        check(r.disconnected() == 0x8D, "no 0x8D")


# ---- sessions ------------------------------------------------------------

def test_session_expiry_keeps_session():
    with daemon() as d:
        check(not session_present5(d.port, "keep", clean=True,
                                   props=expiry_props(60)), "new: present")
        check(session_present5(d.port, "keep", clean=False,
                               props=expiry_props(60)), "not kept")


def test_session_expiry_zero_ends_with_connection():
    with daemon() as d:
        session_present5(d.port, "zero", clean=False)
        check(not session_present5(d.port, "zero", clean=False),
              "session outlived expiry 0")


def test_clean_start_discards_session():
    with daemon() as d:
        session_present5(d.port, "cs", props=expiry_props(60))
        check(not session_present5(d.port, "cs", clean=True,
                                   props=expiry_props(60)),
              "clean start resumed")


def test_session_expires_after_interval():
    with daemon() as d:
        session_present5(d.port, "brief", props=expiry_props(1))
        d.wait_log("mqtt brief: offline session expired")
        check(not session_present5(d.port, "brief", clean=False),
              "expired session resumed")


def test_server_caps_session_expiry():
    with daemon("session_expiry = 1m") as d:
        r, _, _, pr = connect5(d.port, "cap", props=expiry_props(0xFFFFFFFF))
        check(prop_get(pr, P_SESSION_EXPIRY) == 60, "props %r" % pr)
        r.close()


def test_disconnect_changes_session_expiry():
    with daemon() as d:
        r = Raw5(d.port, "dse", props=expiry_props(60))
        r.send(disconnect5_pkt(0, prop(P_SESSION_EXPIRY, 0)))
        check(r.closed(), "not closed")
        check(not session_present5(d.port, "dse", clean=False),
              "expiry 0 from DISCONNECT ignored")


def test_disconnect_expiry_after_zero_is_protocol_error():
    with daemon() as d:
        r = Raw5(d.port, "dz")
        r.send(disconnect5_pkt(0, prop(P_SESSION_EXPIRY, 30)))
        check(r.disconnected() == 0x82, "no 0x82")


def test_v311_sessions_unchanged():
    with daemon() as d:
        Raw(d.port, connect_pkt("old", clean=False)).close()
        r = Raw(d.port, connect_pkt("old", clean=False))
        check(r.connack == b"\x01\x00", "3.1.1 resume: %r" % r.connack)
        r.close()


# ---- wills ----------------------------------------------------------------

WILL = ("w/gone", "bye", 1, False)


def test_disconnect_0x00_drops_will():
    with daemon() as d:
        w = watcher(d)
        r = Raw5(d.port, "polite", will=WILL)
        r.send(disconnect5_pkt(0))
        check(r.closed(), "not closed")
        # the same id again: the old connection is gone before CONNACK
        Raw5(d.port, "polite").close()
        w.nothing()
        w.close()


def test_disconnect_0x04_sends_will():
    with daemon() as d:
        w = watcher(d)
        r = Raw5(d.port, "withwill", will=WILL)
        r.send(disconnect5_pkt(0x04))
        check(r.closed(), "not closed")
        w.expect("w/gone", "bye", qos=1)
        w.close()


def test_will_on_lost_connection():
    with daemon() as d:
        w = watcher(d)
        Raw5(d.port, "lost", will=WILL).close()
        w.expect("w/gone", "bye")
        w.close()


def test_will_delay_holds_will():
    with daemon() as d:
        w = watcher(d)
        Raw5(d.port, "late", will=WILL, will_props=prop(P_WILL_DELAY, 1),
             props=expiry_props(60)).close()
        d.wait_log("mqtt late: will to 'w/gone' in 1s")
        w.expect("w/gone", "bye")
        w.close()


def test_reconnect_cancels_delayed_will():
    with daemon() as d:
        w = watcher(d)
        Raw5(d.port, "back", will=WILL, will_props=prop(P_WILL_DELAY, 600),
             props=expiry_props(600)).close()
        d.wait_log("mqtt back: will to 'w/gone' in 600s")
        r = Raw5(d.port, "back", clean=False, props=expiry_props(600))
        d.wait_log("mqtt back: delayed will cancelled")
        r.send(disconnect5_pkt(0))
        check(r.closed(), "not closed")
        w.nothing()
        w.close()


def test_will_delay_ends_with_session():
    with daemon() as d:
        w = watcher(d)
        # no session expiry: the session ends at once, and its will
        Raw5(d.port, "short", will=WILL,
             will_props=prop(P_WILL_DELAY, 600)).close()
        w.expect("w/gone", "bye")
        w.close()


def test_will_properties_accepted():
    with daemon() as d:
        w = watcher(d)
        wp = (prop(0x01, 1) + prop(0x02, 60) + prop(0x03, "text/plain") +
              prop(0x08, "w/reply") + prop(0x09, b"\x01\x02") +
              prop(P_USER, ("a", "b")))
        Raw5(d.port, "props", will=WILL, will_props=wp).close()
        w.expect("w/gone", "bye")
        w.close()


def test_will_properties_reach_v5_subscriber():
    with daemon() as d:
        w = Raw5(d.port, "w5")
        w.subscribe(1, [("w/#", 1)])
        wp = (prop(0x01, 1) + prop(0x02, 60) + prop(0x03, "text/plain") +
              prop(0x08, "w/reply") + prop(0x09, b"\x01\x02") +
              prop(P_USER, ("a", "b")) + prop(P_USER, ("a", "c")) +
              prop(P_WILL_DELAY, 0))
        Raw5(d.port, "props", will=WILL, will_props=wp).close()
        m = parse_publish5(w.read())
        check(m["topic"] == "w/gone" and m["payload"] == b"bye",
              "will %r" % (m,))
        pr = m["props"]
        check(prop_get(pr, 0x01) == 1, "payload format %r" % pr)
        check(0 < prop_get(pr, 0x02, 0) <= 60, "expiry %r" % pr)
        check(prop_get(pr, 0x03) == "text/plain", "content type %r" % pr)
        check(prop_get(pr, 0x08) == "w/reply", "response topic %r" % pr)
        check(prop_get(pr, 0x09) == b"\x01\x02", "correlation %r" % pr)
        check([v for k, v in pr if k == P_USER] == [("a", "b"), ("a", "c")],
              "user properties in order %r" % pr)
        check(prop_get(pr, P_WILL_DELAY) is None, "will delay %r" % pr)
        w.close()


# ---- flow: the client's limits -------------------------------------------

def test_client_receive_maximum_is_the_window():
    with daemon() as d:
        s = Raw5(d.port, "rm1", props=prop(P_RECEIVE_MAXIMUM, 1))
        s.subscribe(1, [("f/#", 1)])
        p = Client(d.port, "pub")
        p.pub("f/1", "one", qos=1)
        p.pub("f/2", "two", qos=1)
        first = parse_publish5(s.read())
        check(first["topic"] == "f/1", "first %r" % (first,))
        s.nothing(via=p)
        s.send(ack5_pkt("puback", first["mid"]))
        second = parse_publish5(s.read())
        check(second["topic"] == "f/2", "second %r" % (second,))
        p.close()
        s.close()


def test_client_maximum_packet_size_drops_for_it():
    with Daemon(CONF + "[listener web]\nprotocol = ws\nbind = "
                "127.0.0.1:{ws}\n", ports={"extra": "",
                                          "ws": fhtest.free_port()}) as d:
        s = Raw5(d.port, "small", props=prop(P_MAXIMUM_PACKET_SIZE, 64))
        s.subscribe(1, [("s/#", 1)])
        p = Client(d.port, "pub")
        p.pub("s/big", "x" * 200, qos=1)
        p.pub("s/ok", "fits", qos=1)
        m = parse_publish5(s.read())
        check(m["topic"] == "s/ok", "got %r, the large one was sent" % (m,))
        s.send(ack5_pkt("puback", m["mid"]))
        s.nothing(via=p)
        p.close()
        s.close()
        text = stats(d)
        n = [ln for ln in text.splitlines()
             if "too_large_for_client" in ln and not ln.startswith("#")]
        check(n and float(n[0].split()[-1]) >= 1, "not counted: %r" % n)


# ---- the broker's DISCONNECT ---------------------------------------------

def test_takeover_disconnect_0x8e():
    with daemon() as d:
        old = Raw5(d.port, "twin")
        new = Raw5(d.port, "twin")
        check(old.disconnected() == 0x8E, "no 0x8E")
        new.nothing()
        new.close()


def test_packet_too_large_disconnect_0x95():
    with daemon("max_packet_size = 1K") as d:
        r = Raw5(d.port, "big")
        r.send(publish5_pkt("t", "x" * 2000))
        check(r.disconnected() == 0x95, "no 0x95")


def test_malformed_disconnect_0x81():
    with daemon() as d:
        r = Raw5(d.port, "bad")
        # a property length past the end of the packet
        r.send(packet(0x30, b"\x00\x01t\x09"))
        check(r.disconnected() == 0x81, "no 0x81")


def test_protocol_error_disconnect_0x82():
    with daemon() as d:
        r = Raw5(d.port, "twice")
        r.send(connect5_pkt("twice"))
        check(r.disconnected() == 0x82, "no 0x82")


def test_receive_maximum_exceeded_0x93():
    with daemon("max_inflight_messages = 2") as d:
        r = Raw5(d.port, "greedy")
        for mid in (1, 2):
            r.send(publish5_pkt("q", "x", qos=2, mid=mid))
            p = r.read()
            check(p is not None and p[0] == 5, "no PUBREC %d" % mid)
        r.send(publish5_pkt("q", "x", qos=2, mid=3))
        check(r.disconnected() == 0x93, "no 0x93")


def test_sigterm_disconnect_0x8b():
    with daemon() as d:
        r = Raw5(d.port, "stay")
        r.nothing()
        d.send(signal.SIGTERM)
        check(r.disconnected() == 0x8B, "no 0x8B")
        # exits on the first SIGTERM (stop() would send another)
        d.proc.wait(20)
        check(d.stop() == 0, "exit status")


def test_v311_gets_no_disconnect():
    with daemon("max_packet_size = 1K") as d:
        r = Raw(d.port, connect_pkt("old"))
        r.send(publish_pkt("t", "x" * 2000))
        check(r.closed(), "3.1.1: not closed, or sent something")


# ---- Mosquitto's keys ----------------------------------------------------

def test_upgrade_outgoing_qos():
    with daemon("upgrade_outgoing_qos = true") as d:
        w = watcher(d, "u/#")
        p = Client(d.port, "pub")
        p.pub("u/1", "up", qos=0)
        w.expect("u/1", "up", qos=2)
        p.close()
        w.close()
    with daemon() as d:
        w = watcher(d, "u/#")
        p = Client(d.port, "pub")
        p.pub("u/1", "same", qos=0)
        w.expect("u/1", "same", qos=0)
        p.close()
        w.close()


def test_max_inflight_bytes():
    with daemon("max_inflight_bytes = 10") as d:
        s = Raw(d.port, connect_pkt("slow"))
        s.send(packet(0x82, b"\x00\x01" + b"\x00\x03i/#\x01"))
        check(s.read()[0] == 9, "no SUBACK")
        p = Client(d.port, "pub")
        for i in range(3):
            p.pub("i/%d" % i, "12345678", qos=1)
        first = s.read_publish()
        check(first[0] == "i/0", "first %r" % (first,))
        # 8 bytes in flight, under 10: the second goes too; then full
        second = s.read_publish()
        check(second[0] == "i/1", "second %r" % (second,))
        s.nothing(via=p)
        s.send(packet(0x40, first[3].to_bytes(2, "big")))
        third = s.read_publish()
        check(third[0] == "i/2", "third after PUBACK %r" % (third,))
        p.close()
        s.close()


fhtest.run_cases(globals())
