#!/usr/bin/python3
"""subunit source over https: ca_file makes a private CA's log server
trusted; without it the same server is refused, and the job fails. The
trusted source also publishes with qos 1 and retain: a late subscriber
gets the last run of the change."""
import json
import os
import subprocess
import tempfile

import fhtest
from fhtest import Daemon, check, need
import gearmanlib as gl
import mqtttest

CONFIG = """
[broker]
[listener mqtt]
protocol = mqtt
bind = 127.0.0.1:{port}
[source trusted]
type = subunit
gearman = 127.0.0.1:{gearman}
ca_file = {tmp}/cert.pem
concurrency = 1
qos = 1
retain = true
[source untrusted]
type = subunit
gearman = 127.0.0.1:{gearman}
function = push-subunit-noca
concurrency = 1
"""


STATE = {}


@fhtest.once
def scenario():
    """A gearmand and an HTTPS log server with a test certificate, one
    daemon with a worker that trusts it and one that does not; the last
    case stops them."""
    need("gearmand", "openssl")
    tmp = tempfile.mkdtemp(prefix="fh-subunit-tls-")
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, r.stderr)
    g = gl.Gearmand(tmp)
    files = gl.Files(cert, key)
    STATE.update(g=g, files=files)
    d = Daemon(CONFIG, tmp=tmp, ports={"gearman": g.port})
    STATE["d"] = d
    check(g.wait_workers("push-subunit", 1), d.logtext())
    check(g.wait_workers("push-subunit-noca", 1), d.logtext())
    bus = mqtttest.Client(d.port)
    bus.sub("gearman-subunit/#")
    STATE["bus"] = bus
    files.add("/9001/testrepository.subunit", gl.subunit_run(tmp), gz=True)
    url = files.url("/9001/testrepository.subunit")
    check(url.startswith("https://"), url)
    return g, d, bus, url


def test_trusted_ca_fetch_succeeds_retained():
    g, d, bus, url = scenario()
    kind, data = gl.submit(g.port, "push-subunit", gl.job(url, change="9001"))
    check(kind == "complete", "trusted: %s %s" % (kind, d.logtext()))
    p = json.loads(data)
    check(p["status"] == "success" and
          p["summary"]["tests"]["success"] == 3, p)
    m = bus.get(10)
    check(m is not None and json.loads(m.payload) == p, m)
    late = mqtttest.Client(d.port)
    late.sub("gearman-subunit/+/openstack/nova/9001", 1)
    m = late.get(10)
    check(m is not None and m.retain and m.qos == 1 and
          json.loads(m.payload) == p, "retained: %r" % m)
    late.close()


def test_untrusted_server_refused_job_fails():
    g, d, bus, url = scenario()
    kind, data = gl.submit(g.port, "push-subunit-noca",
                           gl.job(url, change="9002"))
    check(kind == "fail", "untrusted: %s" % kind)
    m = bus.get(10)
    check(m is not None and m.topic.endswith("/9002"), m)
    p = json.loads(m.payload)
    check(p["status"] == "failed" and "certificate" in p["error"].lower(), p)


def test_zz_clean_exit():
    fhtest.finish(STATE, "bus", "d", "files", "g")


fhtest.run_cases(globals())
