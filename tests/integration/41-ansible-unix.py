#!/usr/bin/python3
"""ansible source on a unix socket: mode, requests, stale and busy paths."""
import json
import os
import shutil
import socket
import stat
import time

from fhtest import Daemon, check, main
import fhansible as fa

START = {"ansible_type": "start", "host": "ctl", "session": "s-1",
         "playbook_name": "site", "playbook_id": "p-1"}


def wait_path(path, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise AssertionError("%s did not appear" % path)


def test():
    conf = fa.config("unix:{tmp}/ansible.sock") + "socket_mode = 0600\n"
    with Daemon(conf, wait=None) as d:
        sock = os.path.join(d.tmp, "ansible.sock")
        # A leftover socket file from a dead daemon is replaced.
        s = socket.socket(socket.AF_UNIX)
        s.bind(sock)
        s.close()
        d.start()
        wait_path(sock)
        st = os.stat(sock)
        check(stat.S_ISSOCK(st.st_mode), "not a socket")
        check(stat.S_IMODE(st.st_mode) == 0o600,
              "mode %o" % stat.S_IMODE(st.st_mode))

        c = fa.connect(unix=sock)
        code, _, body = fa.request(c, body=[START, START])
        check(code == 202 and json.loads(body) == {"accepted": 2}, body)
        code, _, body = fa.request(c, body={"ansible_type": "start"})
        check(code == 400 and json.loads(body)["field"] == "host", body)
        code, _, _ = fa.request(c, method="GET")
        check(code == 405, "405: %d" % code)
        code, _, _ = fa.request(c, path="/x")
        check(code == 404, "404: %d" % code)
        c.close()

        # A second daemon on the same live socket refuses to start and
        # leaves the first one's socket alone.
        d2 = Daemon(conf.replace("{tmp}", d.tmp), wait=None)
        d2.start(wait=False)
        d2.proc.wait(10)
        log2 = d2.logtext()
        check(d2.stop() not in (0, None), "second daemon started")
        shutil.rmtree(d2.tmp, ignore_errors=True)
        check("Address already in use" in log2, log2)
        check(os.path.exists(sock), "socket removed by the loser")
        c = fa.connect(unix=sock)
        code, _, _ = fa.request(c, body=START)
        check(code == 202, "first daemon still serves: %d" % code)
        c.close()
        check(d.stop() == 0, "clean stop")
        check(not os.path.exists(sock), "socket left after stop")

        # A path that is not a socket is never removed.
        with open(sock, "w") as f:
            f.write("precious")
        d.start(wait=False)
        d.proc.wait(10)
        check(d.proc.returncode != 0, "started over a regular file")
        with open(sock) as f:
            check(f.read() == "precious", "regular file clobbered")
        d.stop()


main(test)
