#!/usr/bin/python3
"""ansible source on a unix socket: mode, requests, stale and busy paths,
and the socket's owner with [gateway] user (as root only)."""
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

import fhtest
from fhtest import Daemon, check
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


CONF = fa.config("unix:{tmp}/ansible.sock") + "socket_mode = 0600\n"


def started(d):
    sock = os.path.join(d.tmp, "ansible.sock")
    d.start()
    wait_path(sock)
    return sock


def test_leftover_socket_replaced_with_the_mode():
    with Daemon(CONF, wait=None) as d:
        sock = os.path.join(d.tmp, "ansible.sock")
        # A leftover socket file from a dead daemon is replaced.
        s = socket.socket(socket.AF_UNIX)
        s.bind(sock)
        s.close()
        started(d)
        st = os.stat(sock)
        check(stat.S_ISSOCK(st.st_mode), "not a socket")
        check(stat.S_IMODE(st.st_mode) == 0o600,
              "mode %o" % stat.S_IMODE(st.st_mode))


def test_requests_over_the_socket():
    with Daemon(CONF, wait=None) as d:
        sock = started(d)
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


def test_second_daemon_on_a_live_socket_refused():
    with Daemon(CONF, wait=None) as d:
        sock = started(d)
        # A second daemon on the same live socket refuses to start and
        # leaves the first one's socket alone.
        d2 = Daemon(CONF.replace("{tmp}", d.tmp), wait=None)
        d2.start(wait=False)
        d2.proc.wait(10)
        log2 = d2.logtext()
        check(d2.stop(want=None) not in (0, None), "second daemon started")
        shutil.rmtree(d2.tmp, ignore_errors=True)
        check("Address already in use" in log2, log2)
        check(os.path.exists(sock), "socket removed by the loser")
        c = fa.connect(unix=sock)
        code, _, _ = fa.request(c, body=START)
        check(code == 202, "first daemon still serves: %d" % code)
        c.close()


def test_socket_removed_at_stop():
    with Daemon(CONF, wait=None) as d:
        sock = started(d)
        d.stop()
        check(not os.path.exists(sock), "socket left after stop")


def test_regular_file_never_removed():
    with Daemon(CONF, wait=None) as d:
        sock = os.path.join(d.tmp, "ansible.sock")
        with open(sock, "w") as f:
            f.write("precious")
        d.start(wait=False)
        d.proc.wait(10)
        check(d.stop(want=None) not in (0, None),
              "started over a regular file")
        with open(sock) as f:
            check(f.read() == "precious", "regular file clobbered")


def nobody_or_skip():
    if os.geteuid() != 0:
        fhtest.skip_case("needs root to switch users")
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        fhtest.skip_case("no user 'nobody'")


def connects_as(pw, sock):
    """Can user pw connect to sock? (in a child that became pw)"""
    def become():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    r = subprocess.run([sys.executable, "-c", "import socket, sys; "
                        "socket.socket(socket.AF_UNIX).connect(sys.argv[1])",
                        sock], capture_output=True, text=True, timeout=30,
                       preexec_fn=become)
    return r.returncode == 0, r.stderr.strip()[-200:]


def user_daemon(run_dir):
    sock = os.path.join(run_dir, "ansible.sock")
    d = Daemon("[gateway]\nuser = nobody\n" + fa.config("unix:" + sock),
               wait=None)
    d.start()
    d.wait_log("running as user nobody")
    wait_path(sock)
    return d, sock


def test_user_owns_the_socket_left_in_roots_dir():
    """[gateway] user = nobody, the socket in a directory only root may
    write: the socket is nobody's (socket_mode 0660 lets nobody in, not
    root's group only); at stop nobody cannot remove it and says so; the
    next start replaces it."""
    pw = nobody_or_skip()
    run_dir = tempfile.mkdtemp(prefix="fh-run-")
    os.chmod(run_dir, 0o755)
    d, sock = user_daemon(run_dir)
    with d:
        st = os.lstat(sock)
        check((st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid),
              "socket owned by %d:%d" % (st.st_uid, st.st_gid))
        ok, err = connects_as(pw, sock)
        check(ok, "nobody cannot connect: " + err)
        d.stop()
        check("cannot remove unix:%s: Permission denied; the next start "
              "replaces it" % sock in d.logtext(), d.logtext())
        check(os.path.exists(sock), "removed after all?")
    d, sock = user_daemon(run_dir)
    with d:
        c = fa.connect(unix=sock)
        code, _, _ = fa.request(c, body=START)
        c.close()
        check(code == 202, "restart over the leftover: %d" % code)
    shutil.rmtree(run_dir, ignore_errors=True)


def test_user_removes_the_socket_from_its_own_dir():
    """The directory is the user's (as systemd's RuntimeDirectory= makes
    it): the socket goes at stop."""
    pw = nobody_or_skip()
    run_dir = tempfile.mkdtemp(prefix="fh-run-")
    os.chmod(run_dir, 0o755)
    os.chown(run_dir, pw.pw_uid, pw.pw_gid)
    d, sock = user_daemon(run_dir)
    with d:
        d.stop()
        check(not os.path.exists(sock), "socket left after stop")
        check("cannot remove" not in d.logtext(), d.logtext())
    shutil.rmtree(run_dir, ignore_errors=True)


fhtest.run_cases(globals())
