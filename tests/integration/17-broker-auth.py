#!/usr/bin/python3
"""password_file made by the real mosquitto_passwd ($7$ and $6$), CONNACK 4
and 5, acl_file (user, topic, pattern), and SIGHUP reloading both without
dropping connected clients."""
import os
import signal
import subprocess
import time

import fhtest
from fhtest import Daemon, check, need
from mqtttest import Client, Sub, pub

CONF = """[broker]
sys_interval = 0
allow_anonymous = {anon}
password_file = {tmp}/passwd
acl_file = {tmp}/acl
[listener mqtt]
bind = 127.0.0.1:{port}
"""

ACL1 = """# anonymous
topic read public/#
user alice
topic readwrite alice/#
topic write public/#
user bob
topic readwrite #
pattern read clients/%c/#
"""


def passwd(path, user, pw, *opts):
    r = subprocess.run(["mosquitto_passwd"] + list(opts) +
                       ["-b", path, user, pw], capture_output=True,
                       text=True)
    check(r.returncode == 0, "mosquitto_passwd: " + r.stderr)


def wait_log(d, text, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in d.logtext():
            return
        time.sleep(0.05)
    raise AssertionError("log never said %r" % text)


def auth_daemon():
    """A daemon with alice ($7$) and bob ($6$) and ACL1, started."""
    need("mosquitto_passwd")
    d = Daemon(CONF, wait=None, ports={"anon": "true"})
    pw = os.path.join(d.tmp, "passwd")
    open(pw, "w").close()
    passwd(pw, "alice", "secret")                   # $7$ (PBKDF2)
    passwd(pw, "bob", "hunter2", "-H", "sha512")    # $6$
    with open(pw) as f:
        text = f.read()
    check("alice:$7$" in text and "bob:$6$" in text, text)
    with open(os.path.join(d.tmp, "acl"), "w") as f:
        f.write(ACL1)
    d.start()
    return d


def test_bad_credentials_connack_4():
    with auth_daemon() as d:
        Client(d.port, "a", user="alice", password="wrong", expect_rc=4)
        Client(d.port, "a", user="nobody", password="x", expect_rc=4)
        Client(d.port, "a", user="alice", expect_rc=4)


def test_acl_user_and_anonymous_rules():
    with auth_daemon() as d:
        anon = Client(d.port, "anon")
        anon.sub("#", 1)
        bob = Client(d.port, "bobc", user="bob", password="hunter2")
        bob.sub("#", 1)
        alice = Client(d.port, "alicec", user="alice", password="secret")
        # alice writes alice/# and public/#; anonymous reads public/# only
        alice.pub("alice/x", "1", qos=1)
        bob.expect("alice/x", "1")
        alice.pub("public/x", "2", qos=1)
        anon.expect("public/x", "2")
        bob.expect("public/x", "2")
        alice.pub("bob/x", "denied", qos=1)        # acknowledged, dropped
        bob.nothing(via=alice)
        anon.nothing(via=alice)
        for c in (anon, bob, alice):
            c.close()


def test_acl_pattern_client_id():
    with auth_daemon() as d:
        bob = Client(d.port, "bobc", user="bob", password="hunter2")
        me = Client(d.port, "me")
        me.sub("clients/#", 0)
        bob.pub("clients/me/x", "mine", qos=1)
        bob.pub("clients/you/x", "yours", qos=1)
        me.expect("clients/me/x", "mine")
        me.nothing(via=bob)
        me.close()
        bob.close()


def test_stock_clients_with_users_from_the_file():
    need("mosquitto_pub", "mosquitto_sub")
    with auth_daemon() as d:
        s = Sub(d.port, "alice/#", ["-u", "bob", "-P", "hunter2"])
        pub(d.port, "alice/stock", "hi", "-u", "alice", "-P", "secret")
        check(s.messages(1) == ["alice/stock hi"], "stock client")
        s.close()
        r = subprocess.run(["mosquitto_pub", "-p", str(d.port), "-t", "x",
                            "-m", "x", "-u", "alice", "-P", "bad"],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0, "bad password accepted by mosquitto_pub")


def test_sighup_reloads_users_and_acl_without_drops():
    with auth_daemon() as d:
        anon = Client(d.port, "anon")
        anon.sub("#", 1)
        bob = Client(d.port, "bobc", user="bob", password="hunter2")
        bob.sub("#", 1)
        alice = Client(d.port, "alicec", user="alice", password="secret")
        # carol appears, alice loses public/#; nobody is dropped
        passwd(os.path.join(d.tmp, "passwd"), "carol", "c")
        with open(os.path.join(d.tmp, "acl"), "w") as f:
            f.write(ACL1.replace("topic write public/#\n", "") +
                    "user carol\ntopic write public/#\n")
        d.send(signal.SIGHUP)
        wait_log(d, "reload done")
        carol = Client(d.port, "carolc", user="carol", password="c")
        carol.pub("public/c", "from carol", qos=1)
        anon.expect("public/c", "from carol")
        alice.pub("public/a", "not any more", qos=1)
        bob.expect("public/c", "from carol")
        bob.nothing(via=alice)
        anon.nothing(via=alice)
        for c in (anon, bob, alice, carol):
            c.close()


def test_broken_password_file_on_sighup_keeps_the_old_one():
    with auth_daemon() as d:
        with open(os.path.join(d.tmp, "passwd"), "a") as f:
            f.write("broken line\n")
        d.send(signal.SIGHUP)
        wait_log(d, "reload failed")
        Client(d.port, "c2", user="bob", password="hunter2").close()


def test_allow_anonymous_false_connack_5():
    need("mosquitto_passwd")
    d = Daemon(CONF, wait=None, ports={"anon": "false"})
    open(os.path.join(d.tmp, "acl"), "w").close()
    open(os.path.join(d.tmp, "passwd"), "w").close()
    passwd(os.path.join(d.tmp, "passwd"), "alice", "secret")
    d.start()
    with d:
        Client(d.port, "anon", expect_rc=5)
        Client(d.port, "a", user="alice", password="secret").close()


fhtest.run_cases(globals())
