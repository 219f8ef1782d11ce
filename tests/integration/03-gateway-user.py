#!/usr/bin/python3
"""[gateway] user: bind low ports and open the store as root, then run as
that user for good.

The cases that switch users need root (CI runs as root) and skip
otherwise; the config errors are checked as any user.
"""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import fhtest
from fhtest import FIREHOSED, Daemon, check, run, skip_case
from mqtttest import Client


def nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        skip_case("no user 'nobody'")


def need_root():
    if os.geteuid() != 0:
        skip_case("needs root to switch users")


def low_port():
    """A free port below 1024 on loopback: only root can bind it."""
    for port in range(600, 1000):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    skip_case("no free port in 600-999")


def proc_ids(pid):
    """Uid, Gid (real, effective, saved, fs) and Groups of a process."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, val = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                out[key] = [int(x) for x in val.split()]
    return out


def config(port, state_dir, user):
    return ("[gateway]\nuser = %s\nstate_dir = %s\n"
            "[broker]\nanonymous_publish = true\n"
            "[listener mqtt]\nprotocol = mqtt\n"
            "bind = 127.0.0.1:%d\n" % (user, state_dir, port))


def test_unknown_user_is_a_config_error():
    tmp = tempfile.mkdtemp(prefix="fh-user-")
    path = os.path.join(tmp, "f.conf")
    with open(path, "w") as f:
        f.write("[gateway]\nuser = fh-no-such-user\n[broker]\n"
                "[listener a]\nbind = 127.0.0.1:1883\n")
    r = run([FIREHOSED, "-t", "-c", path])
    out = r.stdout + r.stderr
    check(r.returncode == 1, "exit %d: %s" % (r.returncode, out))
    check("user 'fh-no-such-user': no such user" in out, out)


def test_low_port_then_runs_as_nobody():
    need_root()
    pw = nobody()
    port = low_port()
    base = tempfile.mkdtemp(prefix="fh-user-state-")
    os.chmod(base, 0o755)	# nobody reaches state_dir through it
    state = os.path.join(base, "state")
    d = Daemon(config(port, state, "nobody"), wait=None)
    d.port = port
    with d:
        d.start()
        d.wait_log("running as user nobody")
        ids = proc_ids(d.proc.pid)
        check(ids["Uid"] == [pw.pw_uid] * 4, "Uid %r" % ids["Uid"])
        check(ids["Gid"] == [pw.pw_gid] * 4, "Gid %r" % ids["Gid"])
        check(0 not in ids["Groups"], "still in group 0: %r" % ids["Groups"])
        # Still serves, and the store still writes (a retained message
        # goes through the WAL that nobody now has to create).
        sub = Client(port)
        sub.sub("svc/#")
        pub = Client(port)
        pub.pub("svc/a", b"hello", qos=1, retain=True)
        sub.expect("svc/a", b"hello")
        pub.close()
        sub.close()
        late = Client(port)
        late.sub("svc/#")
        late.expect("svc/a", b"hello", retain=True)
        late.close()
        for name in [""] + os.listdir(state):
            st = os.lstat(os.path.join(state, name))
            check(st.st_uid == pw.pw_uid, "%s/%s owned by uid %d" %
                  (state, name, st.st_uid))
    # A restart as root adopts the store nobody wrote.
    d2 = Daemon(config(port, state, "nobody"), wait=None)
    d2.port = port
    with d2:
        d2.start()
        again = Client(port)
        again.sub("svc/#")
        again.expect("svc/a", b"hello", retain=True)
        again.close()
    shutil.rmtree(base, ignore_errors=True)


def as_user(pw):
    def become():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return become


def test_not_root_cannot_switch():
    if os.geteuid() == 0:
        pw = nobody()
        pre, other = as_user(pw), "root"
    else:
        pre, other = None, "root"
    tmp = tempfile.mkdtemp(prefix="fh-user-")
    os.chmod(tmp, 0o755)
    path = os.path.join(tmp, "f.conf")
    with open(path, "w") as f:
        f.write(config(1883, "", other))
    os.chmod(path, 0o644)
    r = subprocess.run([FIREHOSED, "-t", "-c", path], capture_output=True,
                       text=True, timeout=30, preexec_fn=pre)
    out = r.stdout + r.stderr
    check(r.returncode == 1, "exit %d: %s" % (r.returncode, out))
    check("only root can switch users" in out, out)


def test_already_that_user_is_fine():
    need_root()
    pw = nobody()
    tmp = tempfile.mkdtemp(prefix="fh-user-")
    os.chmod(tmp, 0o755)
    d = Daemon(config(0, "", "nobody"), tmp=tmp, wait=None)
    with open(d.conf, "w") as f:
        f.write(config(d.port, "", "nobody"))
    os.chmod(d.conf, 0o644)	# read by nobody
    with d:
        d.logf = open(d.log, "ab")
        d.log_mark = 0
        d.proc = subprocess.Popen([FIREHOSED, "-c", d.conf],
                                  stdout=d.logf, stderr=subprocess.STDOUT,
                                  preexec_fn=as_user(pw))
        fhtest.wait_port(d.port, proc=d.proc)
        d.wait_log(" started (", proc=d.proc)
        ids = proc_ids(d.proc.pid)
        check(ids["Uid"] == [pw.pw_uid] * 4, "Uid %r" % ids["Uid"])
        c = Client(d.port)
        c.sub("x")
        c.close()


fhtest.run_cases(globals())
