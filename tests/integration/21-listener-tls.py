#!/usr/bin/python3
"""TLS listeners (mqtts, wss) against a CA made here with openssl: the
stock mosquitto clients with --cafile and --cert/--key (the certificate CN
becomes the user that may publish), paho with tls_set and over wss, a
certificate chain, require_certificate, a TLS 1.3 floor on IPv6, failed
handshakes that cost only their own connection, SIGHUP reloading the
certificates while connected clients stay, and config errors."""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile

import fhtest
from fhtest import FIREHOSED, Daemon, check, free_port, need, run, \
    wait_port
from transport import Paho, http_get, make_pki, metric, wait_for

CONF = """[broker]
anonymous_publish = false
sys_interval = 0
[listener tcp]
bind = 127.0.0.1:{port}
[listener tls]
protocol = mqtts
bind = 127.0.0.1:{tls}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
ca_file = {tmp}/pki/ca.pem
use_identity_as_username = true
[listener strict]
protocol = mqtts
bind = 127.0.0.1:{strict}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
ca_file = {tmp}/pki/ca.pem
require_certificate = true
use_identity_as_username = true
[listener tls13]
protocol = mqtts
bind = {v6host}:{tls13}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
tls_version = tlsv1.3
[listener secure-web]
protocol = wss
bind = 127.0.0.1:{wss}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
path = /mqtt
"""


def have_ipv6():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def msub(port, pki, topic, count, cert=False):
    cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic,
           "-C", str(count), "-W", "15", "-v", "--cafile", pki["ca"]]
    if cert:
        cmd += ["--cert", pki["client_cert"], "--key", pki["client_key"]]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def mpub(port, pki, topic, msg, cert=False):
    cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic,
           "-m", msg, "--cafile", pki["ca"]]
    if cert:
        cmd += ["--cert", pki["client_cert"], "--key", pki["client_key"]]
    return run(cmd, timeout=20)


def tls_connect(port, ca, host="127.0.0.1", maxv=None, minv=None):
    """A bare TLS handshake; returns the peer certificate's issuer CN."""
    ctx = ssl.create_default_context(cafile=ca)
    if maxv is not None:
        ctx.maximum_version = maxv
    if minv is not None:
        ctx.minimum_version = minv
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam) as s:
        s.settimeout(10)
        s.connect((host, port))
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            cert = t.getpeercert()
            return dict(x[0] for x in cert["issuer"])["commonName"], \
                t.version()


def wait_subscribed(d, n):
    """Wait until the broker counts n subscriptions."""
    def ok():
        st, _, body = http_get(d.ports["wss"], "/metrics",
                               tls_ca=d.pki["ca"])
        v = metric(body.decode(), "firehose_mqtt_subscriptions")
        return v is not None and v >= n
    wait_for(ok, what="%d subscriptions" % n)


def check_mosquitto(d, pki):
    port = d.ports["tls"]
    # anonymous subscriber over TLS; the anonymous publish is dropped
    # (anonymous_publish = false), the certificate user's arrives.
    s = msub(port, pki, "t/#", 1)
    wait_subscribed(d, 1)
    r = mpub(port, pki, "t/anon", "from nobody")
    check(r.returncode == 0, "anonymous TLS publish: " + r.stderr)
    r = mpub(port, pki, "t/cert", "from publisher", cert=True)
    check(r.returncode == 0, "cert publish: " + r.stderr)
    out, err = s.communicate(timeout=30)
    check(out.strip() == "t/cert from publisher", "got %r %r" % (out, err))

    # require_certificate: without one the handshake fails (logged once,
    # with the address), with one it works. From an address of its own:
    # failures are logged once a minute per address.
    r = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(d.ports["strict"]),
             "-A", "127.0.0.2",
             "-t", "x", "-C", "1", "-W", "5", "--cafile", pki["ca"]])
    check(r.returncode != 0, "no client certificate accepted")
    s = msub(d.ports["strict"], pki, "strict/#", 1, cert=True)
    wait_subscribed(d, 1)
    r = mpub(d.ports["strict"], pki, "strict/a", "ok", cert=True)
    out, err = s.communicate(timeout=30)
    check(out.strip() == "strict/a ok", "strict: %r %r" % (out, err))
    wait_for(lambda: any("listener strict: TLS handshake with 127.0.0.2:"
                         in l and "did not return a certificate" in l
                         for l in d.logtext().splitlines()),
             what="handshake failure logged")


def check_bad_peers(d, pki):
    """Plain MQTT or garbage to a TLS port: that connection only."""
    sub = Paho(d.ports["tls"], ca=pki["ca"], cert=pki["client_cert"],
               key=pki["client_key"])
    sub.sub("bad/#")
    # Each from an address of its own: failures are logged once a minute
    # per address.
    for i, junk in enumerate((
            b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00",
            b"GET / HTTP/1.1\r\n\r\n", os.urandom(300))):
        with socket.create_connection(("127.0.0.1", d.ports["tls"]),
                                      timeout=10,
                                      source_address=("127.0.0.%d" % (3 + i),
                                                      0)) as s:
            s.sendall(junk)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
    # a client that connects and says nothing does not block others
    idle = socket.create_connection(("127.0.0.1", d.ports["tls"]))
    pub = Paho(d.ports["tls"], ca=pki["ca"], cert=pki["client_cert"],
               key=pki["client_key"])
    pub.pub("bad/after", b"still fine")
    m = sub.get()
    check(m.payload == b"still fine", repr(m.payload))
    idle.close()
    sub.close()
    pub.close()
    log = d.logtext()
    check(log.count("wrong version number") >= 1 and
          log.count("SSL routines::http request") == 1,
          "each failed handshake logged once:\n" + log[-2000:])


def check_versions(d, pki):
    host = d.ports["v6host"].strip("[]")
    issuer, v = tls_connect(d.ports["tls13"], pki["ca"], host=host)
    check(v == "TLSv1.3", v)
    try:
        tls_connect(d.ports["tls13"], pki["ca"], host=host,
                    maxv=ssl.TLSVersion.TLSv1_2)
        raise AssertionError("TLS 1.2 accepted under a 1.3 floor")
    except ssl.SSLError:
        pass
    issuer, v = tls_connect(d.ports["tls"], pki["ca"],
                            maxv=ssl.TLSVersion.TLSv1_2)
    check(v == "TLSv1.2" and issuer == "fh-test-intermediate",
          "%s %s" % (issuer, v))


def check_wss(d, pki):
    sub = Paho(d.ports["wss"], "websockets", ca=pki["ca"])
    sub.sub("w/#")
    pub = Paho(d.ports["tls"], ca=pki["ca"], cert=pki["client_cert"],
               key=pki["client_key"])
    big = os.urandom(1000000)
    pub.pub("w/big", big)
    pub.pub("w/small", b"s")
    check(sub.get().payload == big, "1 MB over wss")
    check(sub.get().payload == b"s", "small over wss")
    st, head, body = http_get(d.ports["wss"], "/healthz", tls_ca=pki["ca"])
    check(st == 200 and b'"status":"ok"' in body, head)
    sub.close()
    pub.close()


def check_reload(d, pki):
    """New certificates on SIGHUP for new connections; existing stay."""
    old = Paho(d.ports["tls"], ca=pki["ca"])
    old.sub("r/#")
    old_wss = Paho(d.ports["wss"], "websockets", ca=pki["ca"])
    old_wss.sub("r/#")
    new = make_pki(d.tmp, prefix="2")
    for k in ("ca", "cert", "key"):
        shutil.copy(new[k], pki[k])
    d.send(signal.SIGHUP)
    wait_for(lambda: "listener tls: reloaded certificates" in d.logtext(),
             what="reload")
    issuer, v = tls_connect(d.ports["tls"], new["ca"])
    check(issuer == "fh-test-intermediate2", issuer)
    issuer, v = tls_connect(d.ports["wss"], new["ca"])
    check(issuer == "fh-test-intermediate2", issuer)
    pub = Paho(d.ports["tls"], ca=new["ca"], cert=new["client_cert"],
               key=new["client_key"])
    pub.pub("r/x", b"after reload")
    check(old.get().payload == b"after reload", "old mqtts client")
    check(old_wss.get().payload == b"after reload", "old wss client")
    for c in (old, old_wss, pub):
        c.close()


def check_config_errors(tmp, pki):
    path = os.path.join(tmp, "bad.conf")
    head = "[broker]\n[listener x]\nbind = 127.0.0.1:1\n"
    cases = [
        ("protocol = mqtts\n", ":2: cert_file is required"),
        ("protocol = mqtts\ncert_file = %s\n" % pki["cert"],
         ":2: key_file is required"),
        ("protocol = mqtts\ncert_file = %s\nkey_file = %s/nope.key\n" %
         (pki["cert"], tmp), ":6: cannot read"),
        ("protocol = mqtts\ncert_file = %s\nkey_file = %s\n" %
         (pki["cert"], pki["client_key"]), ":6: cannot load private key"),
        ("protocol = wss\ncert_file = %s\nkey_file = %s\n"
         "tls_version = sslv3\n" % (pki["cert"], pki["key"]),
         ":7: bad tls_version"),
        ("protocol = mqtts\ncert_file = %s\nkey_file = %s\n"
         "require_certificate = true\n" % (pki["cert"], pki["key"]),
         ":7: require_certificate needs ca_file"),
        ("protocol = mqtt\ncert_file = %s\n" % pki["cert"],
         ":5: cert_file applies only to mqtts and wss"),
        ("protocol = mqtts\ncert_file = %s\nkey_file = %s\npath = /x\n" %
         (pki["cert"], pki["key"]), ":7: path applies only to ws and wss"),
        ("protocol = ws\npath = mqtt\n", ":5: path 'mqtt' must start"),
        ("protocol = ws\nmax_frame_size = 1M\nmax_message_size = 1k\n",
         ":5: max_frame_size is larger"),
        ("protocol = quic\n", ":4: bad protocol 'quic': expected mqtt, "
         "mqtts, ws or wss"),
    ]
    for body, want in cases:
        with open(path, "w") as f:
            f.write(head + body)
        r = run([FIREHOSED, "-t", "-c", path])
        out = r.stdout + r.stderr
        check(r.returncode == 1 and path + want in out,
              "%r: want %r in %r" % (body, want, out))


STATE = {}


@fhtest.once
def pki():
    fhtest.need("mosquitto_sub", "mosquitto_pub", "openssl")
    tmp = tempfile.mkdtemp(prefix="fh-tls-")
    return tmp, make_pki(tmp)


@fhtest.once
def daemon():
    """One daemon for the cases below (the last one stops it), with a
    client that connects and never starts the handshake."""
    tmp, keys = pki()
    v6 = have_ipv6()
    ports = {"tls": free_port(), "strict": free_port(), "wss": free_port(),
             "tls13": free_port(socket.AF_INET6, "::1") if v6 else
             free_port(), "v6host": "[::1]" if v6 else "127.0.0.1"}
    d = Daemon(CONF, tmp=tmp, ports=ports)
    d.pki = keys
    for p in ("tls", "strict", "wss"):
        wait_port(d.ports[p])
    # Connects and never starts the handshake: the 10 s deadline.
    STATE["silent"] = socket.create_connection(("127.0.0.1",
                                                d.ports["tls"]))
    return d


def test_config_errors():
    tmp, keys = pki()
    check_config_errors(tmp, keys)


def test_mosquitto():
    check_mosquitto(daemon(), pki()[1])


def test_bad_peers():
    check_bad_peers(daemon(), pki()[1])


def test_versions():
    check_versions(daemon(), pki()[1])


def test_wss():
    check_wss(daemon(), pki()[1])


def test_reload():
    check_reload(daemon(), pki()[1])


def test_handshake_deadline():
    d = daemon()
    silent = STATE["silent"]
    wait_for(lambda: "TLS handshake timed out" in d.logtext(),
             timeout=30, what="handshake deadline")
    silent.settimeout(10)
    check(silent.recv(10) == b"", "silent client not closed")
    silent.close()


def test_zz_clean_exit():
    with daemon():
        pass


fhtest.run_cases(globals())
