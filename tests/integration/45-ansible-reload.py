#!/usr/bin/python3
"""ansible source, SIGHUP: the token file is read again; a bad one keeps
the token in use."""
import os
import signal

import fhtest
from fhtest import Daemon, check
import fhansible as fa

START = {"ansible_type": "start", "host": "ctl", "session": "s-1",
         "playbook_name": "site", "playbook_id": "p-1"}


def code(port, token):
    c = fa.connect(port)
    st, _, _ = fa.request(c, body=START,
                          headers={"Authorization": "Bearer " + token})
    c.close()
    return st


def reload(d, token_text, mark):
    with open(os.path.join(d.tmp, "token"), "w") as f:
        f.write(token_text)
    d.send(signal.SIGHUP)
    d.wait_log(mark)


def daemon():
    p = fa.ports()
    d = Daemon(fa.config(extra="token_file = {tmp}/token\n"), ports=p,
               wait=None)
    with open(os.path.join(d.tmp, "token"), "w") as f:
        f.write("first-token\n")
    os.chmod(os.path.join(d.tmp, "token"), 0o600)
    d.start()
    fa.wait_http(p["http"])
    return d, p["http"]


def test_new_token_in_use_after_sighup():
    d, port = daemon()
    with d:
        check(code(port, "first-token") == 202, "first token refused")
        reload(d, "second-token\n", "token_file %s/token read again"
               % d.tmp)
        check(code(port, "second-token") == 202, "new token refused")
        check(code(port, "first-token") == 401, "old token still works")


def test_bad_token_file_keeps_the_old_token():
    d, port = daemon()
    with d:
        reload(d, "two words\n", "reload failed")
        check("source ansible: token_file" in d.logtext(), d.logtext())
        check(code(port, "first-token") == 202, "old token lost")
        check(code(port, "two") == 401, "bad token accepted")


def test_group_readable_token_file_warned():
    d, port = daemon()
    with d:
        os.chmod(os.path.join(d.tmp, "token"), 0o644)
        reload(d, "third-token\n", "read again")
        check("token is readable by everyone (mode 0644)" in d.logtext(),
              d.logtext())
        check(code(port, "third-token") == 202, "new token refused")


fhtest.run_cases(globals())
