"""Helpers for the ansible source tests: HTTP requests and a real playbook."""
import http.client
import json
import os
import socket
import subprocess
import time

from fhtest import SRCDIR, free_port

PLUGIN_DIR = os.path.abspath(os.path.join(SRCDIR, "sources", "ansible",
                                          "callback_plugins"))

CONFIG = """[broker]
allow_anonymous = true
[listener mqtt]
protocol = mqtt
bind = 127.0.0.1:{port}
[source ansible]
type = ansible
listen = {listen}
"""


def config(listen="127.0.0.1:{http}", extra=""):
    return CONFIG.replace("{listen}", listen) + extra


def ports(**more):
    p = {"http": free_port()}
    p.update(more)
    return p


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def connect(port=None, unix=None, host="127.0.0.1"):
    if unix is not None:
        return UnixHTTPConnection(unix)
    return http.client.HTTPConnection(host, port, timeout=10)


def request(conn, method="POST", path="/v1/events", body=None, headers=None):
    """One request on conn; returns (status, headers dict, body text)."""
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    conn.request(method, path, body, h)
    r = conn.getresponse()
    data = r.read().decode("utf-8", "replace")
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def wait_http(port, timeout=10.0, host="127.0.0.1"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection((host, port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("ansible source did not open port %d" % port)


INVENTORY = """[local]
localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3

[gone]
unreachable-host ansible_connection=ssh ansible_host=127.0.0.1 ansible_port={closed} ansible_user=nobody ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o BatchMode=yes'
"""

PLAYBOOK = """- name: firehose test play
  hosts: all
  gather_facts: false
  tasks:
    - name: say hello
      ansible.builtin.debug:
        msg: hello firehose
      when: inventory_hostname == 'localhost'
    - name: fail on purpose
      ansible.builtin.command: /bin/false
      ignore_errors: true
    - name: never runs
      ansible.builtin.debug:
        msg: skipped
      when: false
"""


def closed_port():
    """A loopback port with nothing listening (bound, then released)."""
    return free_port()


def playbook(tmp, url, token=None, extra_env=None, timeout=120, cfg=False):
    """Run the test playbook with the firehose plugin; CompletedProcess.
    cfg: configure the plugin in an ansible.cfg instead of the environment.
    """
    inv = os.path.join(tmp, "inventory")
    pb = os.path.join(tmp, "site.yml")
    with open(inv, "w") as f:
        f.write(INVENTORY.format(closed=closed_port()))
    with open(pb, "w") as f:
        f.write(PLAYBOOK)
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("ANSIBLE_") or k.startswith("FIREHOSE_"):
            del env[k]
    env.update({
        "ANSIBLE_CALLBACK_PLUGINS": PLUGIN_DIR,
        "ANSIBLE_CALLBACKS_ENABLED": "firehose",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_LOCAL_TEMP": os.path.join(tmp, "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": os.path.join(tmp, "ansible-remote"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": os.path.join(tmp, "cp"),
        "HOME": tmp,
        "FIREHOSE_URL": url,
        "FIREHOSE_TIMEOUT": "2",
        "FIREHOSE_FLUSH_TIMEOUT": "10",
    })
    if token is not None:
        env["FIREHOSE_TOKEN"] = token
    if cfg:
        path = os.path.join(tmp, "firehose-test.cfg")
        with open(path, "w") as f:
            f.write("[defaults]\ncallback_plugins = %s\n"
                    "callbacks_enabled = firehose\n"
                    "[callback_firehose]\nurl = %s\ntimeout = 2\n"
                    "flush_timeout = 10\n" % (PLUGIN_DIR, url))
            if token is not None:
                f.write("token = %s\n" % token)
        for k in list(env):
            if k.startswith("FIREHOSE_") or k in (
                    "ANSIBLE_CALLBACK_PLUGINS", "ANSIBLE_CALLBACKS_ENABLED"):
                del env[k]
        env["ANSIBLE_CONFIG"] = path
    env.update(extra_env or {})
    return subprocess.run(["ansible-playbook", "-i", inv, pb], cwd=tmp,
                          env=env, capture_output=True, text=True,
                          timeout=timeout)
