#!/usr/bin/python3
"""ansible source over TCP: every status code, the token, bad configs."""
import json
import os
import shutil
import socket
import tempfile

import fhtest
from fhtest import FIREHOSED, Daemon, check, run
import fhansible as fa

START = {"ansible_type": "start", "host": "ctl", "session": "s-1",
         "playbook_name": "site", "playbook_id": "p-1"}
TOKEN = "s3cret-token_with.chars"


def test_codes():
    p = fa.ports()
    extra = "token_file = {tmp}/token\nmax_body = 4k\n"
    with Daemon(fa.config(extra=extra), ports=p, wait=None) as d:
        with open(os.path.join(d.tmp, "token"), "w") as f:
            f.write(TOKEN + "\n")
        d.start()
        fa.wait_http(p["http"])
        auth = {"Authorization": "Bearer " + TOKEN}
        c = fa.connect(p["http"])

        # 202: one object, then an array, on one kept-alive connection.
        st, h, body = fa.request(c, body=START, headers=auth)
        check(st == 202, "202 wanted: %d %s" % (st, body))
        check(json.loads(body) == {"accepted": 1}, body)
        check(h["content-type"] == "application/json", h)
        st, _, body = fa.request(c, body=[START, dict(START, playbook_id="p-2")],
                                 headers=auth)
        check(st == 202 and json.loads(body) == {"accepted": 2}, body)
        st, _, body = fa.request(c, body=[], headers=auth)
        check(st == 202 and json.loads(body) == {"accepted": 0}, body)

        # 401: no header, wrong scheme, wrong token, token prefix.
        for hdr in ({}, {"Authorization": "Basic " + TOKEN},
                    {"Authorization": "Bearer wrong"},
                    {"Authorization": "Bearer " + TOKEN[:-1]},
                    {"Authorization": "Bearer " + TOKEN + "x"}):
            st, h, body = fa.request(c, body=START, headers=hdr)
            check(st == 401, "401 wanted for %r: %d" % (hdr, st))
            check("bearer" in h.get("www-authenticate", "").lower(), h)
            check("error" in json.loads(body), body)
        st, _, _ = fa.request(c, body=START,
                              headers={"Authorization": "bearer " + TOKEN})
        check(st == 202, "scheme is case-insensitive: %d" % st)

        # 400: names the bad field; nothing of the batch is accepted.
        cases = [
            (b"{not json", "body"),
            ([START, dict(START, ansible_type="task", status="OK")],
             "[1].ansible_host"),
            (dict(START, playbook_id="a/b"), "playbook_id"),
            (dict(START, extra=1), "extra"),
            ({"ansible_type": "task", "status": "OK", "host": "c",
              "ansible_host": "h", "session": "s", "playbook_name": "n",
              "playbook_id": "p", "ansible_task": "t",
              "ansible_result": "{}"}, "ansible_result"),
        ]
        for b, field in cases:
            st, _, body = fa.request(c, body=b, headers=auth)
            check(st == 400, "400 wanted for %r: %d" % (b, st))
            j = json.loads(body)
            check(j["field"] == field, "field %r, want %r" % (j, field))
            check(j["error"].startswith(field + ": "), j)

        # 405 and 404, with or without a token.
        for m in ("GET", "PUT", "DELETE", "PATCH"):
            st, h, _ = fa.request(c, method=m, headers=auth)
            check(st == 405, "%s: %d" % (m, st))
            check(h.get("allow") == "POST", h)
        for path in ("/", "/v1/event", "/v1/events/x", "/v2/events"):
            st, _, body = fa.request(c, path=path, headers=auth)
            check(st == 404, "%s: %d" % (path, st))
            check("error" in json.loads(body), body)
        st, _, _ = fa.request(c, path="/v1/events?x=1", body=START,
                              headers=auth)
        check(st == 202, "a query string is fine: %d" % st)
        c.close()

        # 413: over max_body (4k), answered by evhttp; the connection ends.
        c = fa.connect(p["http"])
        big = [START] * 100
        st, _, _ = fa.request(c, body=big, headers=auth)
        check(st == 413, "413 wanted: %d" % st)
        c.close()

        # Garbage that is not HTTP costs only its own connection.
        s = socket.create_connection(("127.0.0.1", p["http"]), 5)
        s.sendall(b"\x00\x01\x02 garbage\r\n\r\n")
        s.settimeout(5)
        try:
            s.recv(4096)
        except OSError:
            pass
        s.close()
        c = fa.connect(p["http"])
        st, _, _ = fa.request(c, body=START, headers=auth)
        check(st == 202, "still serving after garbage: %d" % st)
        c.close()
        check(d.alive(), "daemon died")
        log = d.logtext()
        check("source ansible: listening on http://127.0.0.1:%d/v1/events"
              % p["http"] in log, log)
        check("401" in log, "an error is logged: " + log)


def test_ipv6():
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        return  # no IPv6 loopback in this sandbox: the v4 test covers it
    p = fa.ports()
    with Daemon(fa.config("[::1]:{http}"), ports=p) as d:
        fa.wait_http(p["http"], host="::1")
        c = fa.connect(p["http"], host="::1")
        st, _, body = fa.request(c, body=START)
        check(st == 202, "ipv6: %d %s" % (st, body))
        check(d.alive(), "daemon died")


def test_bad_config():
    tmp = tempfile.mkdtemp(prefix="fh-ansible-")
    path = os.path.join(tmp, "bad.conf")
    cases = [
        ("listen = nope", ":8: [source ansible]: bad listen address 'nope'"),
        ("listen = unix:relative", ":8: [source ansible]: bad unix socket"),
        ("listen = unix:/x\nsocket_mode = 999",
         ":9: [source ansible]: bad socket_mode '999'"),
        ("token_file = %s/missing" % tmp,
         ":8: [source ansible]: cannot read token_file"),
        ("topic = a/#", ":8: [source ansible]: bad topic"),
        ("bogus = 1", ":8: unknown key"),
        ("max_body = 0", ":8: [source ansible]: max_body"),
    ]
    for text, want in cases:
        with open(path, "w") as f:
            f.write(fa.CONFIG.replace("listen = {listen}", text)
                    .replace("{port}", "1"))
        r = run([FIREHOSED, "-t", "-c", path])
        out = r.stdout + r.stderr
        check(r.returncode == 1, "%r accepted: %s" % (text, out))
        check(want in out, "%r: want %r in %r" % (text, want, out))
    empty = os.path.join(tmp, "empty-token")
    open(empty, "w").close()
    with open(path, "w") as f:
        f.write(fa.CONFIG.replace("listen = {listen}",
                                  "token_file = " + empty)
                .replace("{port}", "1"))
    r = run([FIREHOSED, "-t", "-c", path])
    check(r.returncode == 1 and "must hold one token" in r.stdout + r.stderr,
          r.stdout + r.stderr)
    shutil.rmtree(tmp, ignore_errors=True)


fhtest.run_cases(globals())
