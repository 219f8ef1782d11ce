#!/usr/bin/python3
"""The contract as an outside tester reads it (DESIGN.md, README.md,
docs/*.md, etc/firehose.conf): the command line, the embedded default,
every documented config key accepted by firehosed -t, sizes and
durations, SIGINT and SIGHUP, the publish rule on all four listener
kinds, the README's docs index and the packages the tests need."""
import glob
import json
import os
import queue
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt

import fhtest
from fhtest import FIREHOSED, SRCDIR, Daemon, check, need, run, skip_case
from transport import make_pki, metric, wait_for

TMP = tempfile.mkdtemp(prefix="fh-contract-")
BUILDDIR = os.environ.get("top_builddir", ".")


def check_conf(text, name="c.conf"):
    """firehosed -t on text: (exit status, output)."""
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    r = run([FIREHOSED, "-t", "-c", path])
    return r.returncode, r.stdout + r.stderr, path


# --- command line ---------------------------------------------------------

def test_long_options():
    path = os.path.join(TMP, "long.conf")
    with open(path, "w") as f:
        f.write("[listener a]\nbind = 127.0.0.1:%d\n" % fhtest.free_port())
    r = run([FIREHOSED, "--test-config", "--config", path, "--verbose"])
    check(r.returncode == 0, r.stdout + r.stderr)
    check(path + ": configuration OK" in r.stdout, r.stdout)
    r = run([FIREHOSED, "--config=" + path, "-t"])
    check(r.returncode == 0, r.stdout + r.stderr)
    r = run([FIREHOSED, "-h"])
    check(r.returncode == 0 and r.stdout.startswith("usage: firehosed"),
          r.stdout)
    for opt in ("-c, --config", "-t, --test-config", "-v, --verbose",
                "--version", "--help"):
        check(opt in r.stdout, "%r not in --help: %s" % (opt, r.stdout))


def test_version_names_the_package_version():
    r = run([FIREHOSED, "--version"])
    want = None
    with open(os.path.join(SRCDIR, "configure.ac")) as f:
        m = re.search(r"AC_INIT\(\[?firehose\]?,\s*\[?([0-9][^],)]*)",
                      f.read())
        want = m and m.group(1)
    check(want is not None, "no version in configure.ac")
    check(r.returncode == 0 and r.stdout == "firehosed %s\n" % want,
          repr(r.stdout))
    check(r.stderr == "", "--version writes to stderr: %r" % r.stderr)


def test_unknown_option_and_stray_argument():
    for args in (["--bogus"], ["-x"], ["stray"], ["-c"]):
        r = run([FIREHOSED] + args)
        check(r.returncode == 2, "%r: exit %d, want 2" % (args, r.returncode))
        check("usage: firehosed" in r.stderr, "%r: %r" % (args, r.stderr))
        check(r.stdout == "", "%r: usage on stdout" % args)


def test_test_config_binds_nothing_creates_nothing():
    # The port is taken and state_dir does not exist: -t still says OK,
    # binds nothing and creates nothing.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    state = os.path.join(TMP, "not-created")
    try:
        rc, out, path = check_conf(
            "[gateway]\nstate_dir = %s\n[listener a]\nbind = 127.0.0.1:%d\n"
            "[source ansible]\ntype = ansible\nlisten = 127.0.0.1:%d\n"
            % (state, port, port))
    finally:
        s.close()
    check(rc == 0, "-t on a config whose port is taken: " + out)
    check(path + ": configuration OK" in out, out)
    check(not os.path.exists(state), "-t created state_dir")
    check("started" not in out and "stopped" not in out,
          "-t says it started or stopped something: " + out)


def test_test_config_error_is_file_line_exit_1():
    rc, out, path = check_conf("[gateway]\n\n; x\nlog_level = loud\n")
    check(rc == 1, "exit %d" % rc)
    check(out.startswith(path + ":4: "), out)


def test_start_up_error_exits_1():
    """firehosed(8): exit 1 on a start-up error, e.g. a listener whose
    port is taken, with the listener and address in the error."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    path = os.path.join(TMP, "taken.conf")
    with open(path, "w") as f:
        f.write("[listener busy]\nbind = 127.0.0.1:%d\n" % port)
    try:
        r = run([FIREHOSED, "-c", path], timeout=20)
    finally:
        s.close()
    check(r.returncode == 1, "exit %d: %s" % (r.returncode, r.stderr))
    check("listener busy" in r.stderr and "127.0.0.1:%d" % port in r.stderr
          and "[error]" in r.stderr, r.stderr)


def test_missing_password_and_acl_file_named_with_file_line():
    """A password_file or acl_file that cannot be read is a bad value:
    the error carries the config's file:line of the key."""
    for key in ("password_file", "acl_file"):
        rc, out, path = check_conf("[broker]\n\n%s = %s/none\n"
                                   % (key, TMP))
        check(rc == 1 and out.startswith(path + ":3: " + key), out)
        check("No such file" in out, out)


def sysconfdir():
    """$(sysconfdir) of this build, from its Makefile."""
    vals = {}
    with open(os.path.join(BUILDDIR, "Makefile")) as f:
        for line in f:
            m = re.match(r"^(prefix|sysconfdir) = (.*)$", line)
            if m:
                vals[m.group(1)] = m.group(2).strip()
    return vals["sysconfdir"].replace("${prefix}", vals["prefix"])


def test_default_config_path_is_sysconfdir():
    path = os.path.join(sysconfdir(), "firehose", "firehose.conf")
    r = run([FIREHOSED, "--help"])
    check("default: %s" % path in r.stdout, "%s not in %r" % (path, r.stdout))
    r = run([FIREHOSED, "-t"])
    check(r.returncode == 0, r.stdout + r.stderr)
    if os.path.exists(path):
        check(r.stdout.startswith(path + ": "), r.stdout)
    else:
        check(r.stdout.startswith("(embedded default): configuration OK"),
              r.stdout)


def http(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def test_embedded_default():
    if os.path.exists(os.path.join(sysconfdir(), "firehose",
                                   "firehose.conf")):
        skip_case("a config file exists at the default path")
    for port in (1883, 8080, 8765):
        if not fhtest._bindable(socket.AF_INET, "127.0.0.1", port):
            skip_case("port %d is in use" % port)
    cwd = tempfile.mkdtemp(prefix="fh-embedded-", dir=TMP)
    log = open(os.path.join(TMP, "embedded.log"), "wb")
    proc = subprocess.Popen([FIREHOSED], cwd=cwd, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        for port in (1883, 8080, 8765):
            fhtest.wait_port(port, proc=proc)
        # MQTT on 1883: anonymous subscribe yes, anonymous publish no.
        got = queue.Queue()
        sub = mqtt.Client("emb-sub")
        sub.on_message = lambda c, u, m: got.put((m.topic, m.payload))
        sub.connect("127.0.0.1", 1883)
        sub.loop_start()
        sub.subscribe("#", 0)
        # WebSocket on 8080, path /mqtt.
        ws = mqtt.Client("emb-ws", transport="websockets")
        ws.ws_set_options(path="/mqtt")
        acked = queue.Queue()
        ws.on_connect = lambda c, u, f, rc: acked.put(rc)
        ws.connect("127.0.0.1", 8080)
        ws.loop_start()
        check(acked.get(timeout=10) == 0, "ws CONNACK")
        ws.publish("anon/x", "dropped", 1).wait_for_publish()
        # The ansible callback source on 8765 publishes on ansible/...
        body = json.dumps({"ansible_type": "start", "host": "h",
                           "session": "s", "playbook_name": "p",
                           "playbook_id": "emb-1"}).encode()
        time.sleep(0.3)     # the SUBSCRIBE is in before the event
        req = urllib.request.Request("http://127.0.0.1:8765/v1/events",
                                     body, {"Content-Type":
                                            "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            check(r.status == 202, "ansible POST %d" % r.status)
        topic, payload = got.get(timeout=10)
        check(topic == "ansible/playbook/emb-1/action/start",
              "first message %r (the anonymous one must be dropped)"
              % topic)
        check(json.loads(payload)["playbook_id"] == "emb-1", payload)
        ws.loop_stop()
        ws.disconnect()
        sub.loop_stop()
        sub.disconnect()
        # The built-in pages on the ws listener.
        st, ctype, page = http(8080, "/")
        check(st == 200 and ctype.startswith("text/html"), (st, ctype))
        st, _, hz = http(8080, "/healthz")
        check(st == 200 and json.loads(hz)["status"] == "ok", hz)
        st, _, m = http(8080, "/metrics")
        n = metric(m.decode(), "firehose_mqtt_dropped",
                   reason="anonymous_publish")
        check(n is not None and n >= 1, "anonymous publish not counted")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = "hung"
        log.close()
    check(rc == 0, "embedded default exit %r" % rc)
    # State in memory: nothing written where it ran.
    check(os.listdir(cwd) == [], "files left: %r" % os.listdir(cwd))


# --- configuration --------------------------------------------------------

# Sections as DESIGN.md names them; a minimal body that makes each valid.
SECTION_TYPES = ("gateway", "broker", "listener", "source", "log", "bridge")


def doc_ini_keys():
    """(doc, section header, key, value) of every key = value line in an
    ```ini block of docs/*.md and docs/sources/*.md under a known
    section, and every commented-out one of etc/firehose.conf."""
    out = []
    files = sorted(glob.glob(os.path.join(SRCDIR, "docs", "*.md")) +
                   glob.glob(os.path.join(SRCDIR, "docs", "sources", "*.md")))
    for path in files:
        with open(path) as f:
            text = f.read()
        for block in re.findall(r"```ini\n(.*?)```", text, re.S):
            header = None
            for line in block.splitlines():
                line = re.sub(r"\s+[;#].*$", "", line).strip()
                m = re.match(r"^\[(\w+)(?: [^\]]+)?\]$", line)
                if m:
                    header = line if m.group(1) in SECTION_TYPES else None
                    continue
                m = re.match(r"^([a-z_]+)\s*=\s*(.*)$", line)
                if m and header:
                    out.append((os.path.relpath(path, SRCDIR), header,
                                m.group(1), m.group(2)))
    header = None
    with open(os.path.join(SRCDIR, "etc", "firehose.conf")) as f:
        for line in f:
            line = re.sub(r"^[;#]\s*", "", line.strip())
            line = re.sub(r"\s+[;#].*$", "", line)
            m = re.match(r"^\[(\w+)(?: [^\]]+)?\]$", line)
            if m:
                header = line if m.group(1) in SECTION_TYPES else None
                continue
            m = re.match(r"^([a-z_]+)\s*=\s*(.*)$", line)
            if m and header:
                out.append(("etc/firehose.conf", header, m.group(1),
                            m.group(2)))
    return out


def doc_table_keys():
    """(section, key, default) of every row of the key tables under the
    '## [SECTION]' headings of docs/config.md, of docs/log.md and
    docs/bridge.md."""
    out = []
    for doc, fixed in (("config.md", None), ("log.md", "[log]"),
                       ("bridge.md", "[bridge b]")):
        header = None
        with open(os.path.join(SRCDIR, "docs", doc)) as f:
            for line in f:
                # log.md, bridge.md: the table under "## Configuration".
                if fixed is not None and line.startswith("## "):
                    header = fixed if line.startswith(
                        "## Configuration") else None
                    continue
                m = re.match(r"^## \[(\w+)", line)
                if m and fixed is None:
                    header = "[%s%s]" % (m.group(1),
                                         " x" if m.group(1) in
                                         ("listener", "source", "bridge")
                                         else "")
                    continue
                if line.startswith("## ") and fixed is None:
                    header = None
                cells = [c.strip() for c in line.strip().split("|")[1:-1]]
                if header is None or len(cells) < 3 or cells[0] == "key":
                    continue
                for key in re.findall(r"`([a-z_]+)`", cells[0]):
                    out.append((doc, header, key, cells[1]))
    return out


def section_text(header, key, value, source_type=None):
    """A config holding header with key = value, plus what that section
    needs besides to get as far as checking the key's name."""
    body = ""
    if header.startswith("[listener") and key != "bind":
        body = "bind = 127.0.0.1:%d\n" % fhtest.free_port()
    if header.startswith("[source") and key != "type":
        body = "type = %s\n" % source_type
    return "%s\n%s%s = %s\n" % (header, body, key, value)


def test_every_documented_key_is_known():
    """Each key of the docs' ini blocks, config tables and
    etc/firehose.conf, alone in its section: -t may object to the
    value or to a missing companion key, never to the key's name."""
    bad = []
    seen = set()
    src_type = {}
    for doc, header, key, value in doc_ini_keys():
        if header.startswith("[source") and key == "type":
            src_type[(doc, header)] = value
    entries = [(d, h, k, v, src_type.get((d, h))) for d, h, k, v in
               doc_ini_keys()]
    entries += [(d, h, k, "1", None) for d, h, k, _ in doc_table_keys()]
    check(len(entries) > 100, "only %d documented keys found" % len(entries))
    for doc, header, key, value, stype in entries:
        if header.startswith("[source") and stype is None:
            continue
        sig = (header.split()[0], stype, key)
        if sig in seen:
            continue
        seen.add(sig)
        rc, out, _ = check_conf(section_text(header, key, value, stype))
        if "unknown key" in out or "unknown section" in out:
            bad.append("%s: %s %s: %s" % (doc, header, key, out.strip()))
    check(not bad, "documented keys refused:\n" + "\n".join(bad))


def literal_default(cell):
    m = re.fullmatch(r"`([^`]+)`", cell)
    return m.group(1) if m else None


def test_documented_defaults_are_valid_values():
    """A default the tables of docs/config.md, docs/log.md and
    docs/bridge.md give as a literal is a value -t accepts."""
    bad = []
    for doc, header, key, default in doc_table_keys():
        value = literal_default(default)
        if value is None or header.startswith(("[source", "[bridge")):
            continue
        rc, out, _ = check_conf(section_text(header, key, value))
        if rc != 0:
            bad.append("%s: %s %s = %s: %s" % (doc, header, key, value,
                                               out.strip()))
    check(not bad, "documented defaults refused:\n" + "\n".join(bad))


def test_design_keys_with_their_defaults():
    """DESIGN.md's [gateway], [broker] and [listener] keys, each with the
    default DESIGN.md gives it, make a valid config."""
    rc, out, _ = check_conf(
        "[gateway]\nlog_level = info\nstate_dir =\nuser =\n"
        "[broker]\nallow_anonymous = true\nanonymous_publish = false\n"
        "password_file =\nacl_file =\nmax_connections = 0\n"
        "max_packet_size = 1M\nmax_queued_messages = 1000\n"
        "max_inflight_messages = 20\nretain = true\nsys_interval = 10s\n"
        "[listener mqtt]\nprotocol = mqtt\nbind = 127.0.0.1:%d\n"
        "[source ansible]\ntype = ansible\nlisten = 127.0.0.1:%d\n"
        "topic = ansible\n"
        % (fhtest.free_port(), fhtest.free_port()))
    check(rc == 0, out)


def test_section_names_required_or_refused():
    """[listener NAME], [source NAME], [bridge NAME] need their name;
    [gateway], [broker], [log] take none: file:line errors."""
    port = fhtest.free_port()
    for text, want in (
            ("[listener]\nbind = 127.0.0.1:%d\n" % port, "needs a name"),
            ("[source]\ntype = ansible\n", "needs a name"),
            ("[bridge]\naddress = 127.0.0.1:%d\n" % port, "needs a name"),
            ("[gateway x]\n", "takes no name"),
            ("[broker x]\n", "takes no name"),
            ("[log x]\n", "takes no name")):
        rc, out, path = check_conf(text)
        check(rc == 1 and out.startswith(path + ":") and want in out,
              "%r: exit %d %r" % (text, rc, out))


def test_etc_firehose_conf_passes():
    path = os.path.join(SRCDIR, "etc", "firehose.conf")
    r = run([FIREHOSED, "-t", "-c", path])
    check(r.returncode == 0 and "configuration OK" in r.stdout,
          r.stdout + r.stderr)


def test_sizes_and_durations():
    good = ["max_packet_size = 64k", "max_packet_size = 2M",
            "max_queued_bytes = 1G", "connect_timeout = 30s",
            "connect_timeout = 2m", "session_expiry = 1h",
            "sys_interval = 0", "sys_interval = 15"]
    for line in good:
        rc, out, _ = check_conf("[broker]\n%s\n" % line)
        check(rc == 0, "%r refused: %s" % (line, out))
    bad = ["max_packet_size = 1X", "max_packet_size = M",
           "connect_timeout = 10y", "connect_timeout = -1s",
           "max_queued_messages = lots", "retain = maybe"]
    for line in bad:
        rc, out, path = check_conf("[broker]\n\n%s\n" % line)
        check(rc == 1 and out.startswith(path + ":3: "),
              "%r: exit %d %r" % (line, rc, out))


def test_size_suffixes_mean_powers_of_1024():
    """max_packet_size = 1k is 1024 bytes, not 1000: a 1010-byte PUBLISH
    passes, a 1100-byte one closes the connection."""
    import mqtttest
    d = Daemon("[broker]\nanonymous_publish = true\nmax_packet_size = 1k\n"
               "sys_interval = 0\n[listener a]\nbind = 127.0.0.1:{port}\n")
    with d:
        for total, ok in ((1010, True), (1100, False)):
            c = mqtttest.Raw(d.port, connect=mqtttest.connect_pkt(
                "size-%d" % total))
            # 1 type byte, 2 length bytes, 3 topic bytes, the payload.
            pkt = mqtttest.publish_pkt("t", b"x" * (total - 6))
            check(len(pkt) == total, len(pkt))
            c.send(pkt + bytes([0xC0, 0x00]))
            if ok:
                p = c.read()
                check(p is not None and p[0] == 13,
                      "%d bytes under 1k: no PINGRESP (%r)" % (total, p))
            else:
                check(c.closed(), "%d bytes over 1k: kept open" % total)
            c.close()


def test_comments_both_kinds_and_several_sources_of_one_type():
    """`;` and `#` comments, whole-line and trailing; two [source NAME] of
    type ansible side by side, each on its own port and base topic."""
    p1, p2 = fhtest.free_port(), fhtest.free_port()
    conf = ("# hash comment\n; semicolon comment\n"
            "[broker]   ; trailing\nsys_interval = 0 # trailing\n"
            "[listener a]\nbind = 127.0.0.1:{port}\n"
            "[source ci]\ntype = ansible\nlisten = 127.0.0.1:%d\n"
            "[source ops]\ntype = ansible\nlisten = 127.0.0.1:%d\n"
            "topic = ops-ansible ; a base topic of its own\n" % (p1, p2))
    with Daemon(conf) as d:
        got = queue.Queue()
        sub = mqtt.Client("two-src")
        sub.on_message = lambda c, u, m: got.put(m.topic)
        done = queue.Queue()
        sub.on_subscribe = lambda c, u, mid, g: done.put(g)
        sub.connect("127.0.0.1", d.port)
        sub.loop_start()
        sub.subscribe("#", 0)
        done.get(timeout=10)
        for port, pid in ((p1, "ci-1"), (p2, "ops-1")):
            fhtest.wait_port(port)
            body = json.dumps({"ansible_type": "start", "host": "h",
                               "session": "s", "playbook_name": "p",
                               "playbook_id": pid}).encode()
            req = urllib.request.Request(
                "http://127.0.0.1:%d/v1/events" % port, body,
                {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                check(r.status == 202, r.status)
        topics = sorted([got.get(timeout=10), got.get(timeout=10)])
        sub.loop_stop()
        sub.disconnect()
        check(topics == ["ansible/playbook/ci-1/action/start",
                         "ops-ansible/playbook/ops-1/action/start"], topics)


def post_start(port, pid):
    body = json.dumps({"ansible_type": "start", "host": "h", "session": "s",
                       "playbook_name": "p", "playbook_id": pid}).encode()
    req = urllib.request.Request("http://127.0.0.1:%d/v1/events" % port,
                                 body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        check(r.status == 202, "POST %d" % r.status)


def test_source_qos_and_retain_default_off_configurable():
    """SOURCES.md: QoS and retain per source, default QoS 0 and no
    retain, as the originals. A late subscriber (QoS 2) finds the event
    of the source with retain = true, at its QoS 1, and nothing of the
    source left at the defaults."""
    p1, p2 = fhtest.free_port(), fhtest.free_port()
    conf = ("[broker]\nsys_interval = 0\n[listener a]\n"
            "bind = 127.0.0.1:{port}\n"
            "[source plain]\ntype = ansible\nlisten = 127.0.0.1:%d\n"
            "topic = plain\n"
            "[source kept]\ntype = ansible\nlisten = 127.0.0.1:%d\n"
            "topic = kept\nqos = 1\nretain = true\n" % (p1, p2))
    with Daemon(conf) as d:
        live = queue.Queue()
        c = mqtt.Client("qos-live")
        c.on_message = lambda cl, u, m: live.put((m.topic, m.qos, m.retain))
        subd = queue.Queue()
        c.on_subscribe = lambda cl, u, mid, g: subd.put(g)
        c.connect("127.0.0.1", d.port)
        c.loop_start()
        c.subscribe("#", 2)
        subd.get(timeout=10)
        post_start(p1, "a")
        post_start(p2, "b")
        got = sorted([live.get(timeout=10), live.get(timeout=10)])
        c.loop_stop()
        c.disconnect()
        check(got == [("kept/playbook/b/action/start", 1, False),
                      ("plain/playbook/a/action/start", 0, False)], got)
        r = run(["mosquitto_sub", "-p", str(d.port), "-t", "#", "-q", "2",
                 "-W", "2", "-v", "--retained-only"])
        lines = r.stdout.splitlines()
        check(len(lines) == 1 and lines[0].startswith(
            "kept/playbook/b/action/start {"), "retained: %r" % r.stdout)
        check(json.loads(lines[0].split(" ", 1)[1])["playbook_id"] == "b",
              lines)
        check("plain/" not in r.stdout, "default source retained: %r"
              % r.stdout)


# --- signals --------------------------------------------------------------

def test_sigint_stops_cleanly_and_persists():
    conf = ("[gateway]\nstate_dir = {tmp}/state\n[broker]\n"
            "anonymous_publish = true\nsys_interval = 0\n"
            "[listener a]\nbind = 127.0.0.1:{port}\n")
    d = Daemon(conf)
    with d:
        r = run(["mosquitto_pub", "-p", str(d.port), "-t", "keep/me",
                 "-m", "v1", "-r", "-q", "1"])
        check(r.returncode == 0, r.stderr)
        rc = d.stop(signal.SIGINT)
        check(rc == 0, "SIGINT exit %r" % rc)
        check("Interrupt: stopping" in d.logtext(), d.logtext())
        d.start()
        r = run(["mosquitto_sub", "-p", str(d.port), "-t", "keep/#", "-C",
                 "1", "-W", "10", "-v"])
        check(r.stdout == "keep/me v1\n", "after SIGINT: %r" % r.stdout)


def test_sighup_log_level_without_dropping_clients():
    conf = ("[gateway]\nlog_level = info\n[broker]\nanonymous_publish = true"
            "\nsys_interval = 0\n[listener a]\nbind = 127.0.0.1:{port}\n")
    with Daemon(conf) as d:
        got = queue.Queue()
        gone = queue.Queue()
        c = mqtt.Client("hup-client")
        c.on_message = lambda cl, u, m: got.put(m.payload)
        c.on_disconnect = lambda cl, u, rc: gone.put(rc)
        c.connect("127.0.0.1", d.port, 60)
        c.loop_start()
        c.subscribe("hup/#", 0)
        time.sleep(0.3)
        before = len(d.logtext())
        run(["mosquitto_pub", "-p", str(d.port), "-t", "hup/a", "-m", "1"])
        check(got.get(timeout=10) == b"1", "before SIGHUP")
        check("[debug]" not in d.logtext(), "debug lines at info")
        with open(d.conf) as f:
            text = f.read()
        with open(d.conf, "w") as f:
            f.write(text.replace("log_level = info", "log_level = debug"))
        d.send(signal.SIGHUP)
        d.wait_log("reload done")
        run(["mosquitto_pub", "-p", str(d.port), "-t", "hup/b", "-m", "2"])
        check(got.get(timeout=10) == b"2", "after SIGHUP")
        check("[debug]" in d.logtext()[before:],
              "log_level = debug not applied on SIGHUP")
        check(gone.empty(), "client dropped by SIGHUP")
        c.loop_stop()
        c.disconnect()


def test_verbose_wins_over_the_file_also_after_sighup():
    """-v: log level debug whatever log_level says, before and after a
    SIGHUP reload (firehosed(8): "whatever the file says")."""
    conf = ("[gateway]\nlog_level = error\n[broker]\nsys_interval = 0\n"
            "[listener a]\nbind = 127.0.0.1:{port}\n")
    with Daemon(conf, args=["-v"]) as d:
        run(["mosquitto_sub", "-p", str(d.port), "-t", "x", "-i", "before",
             "-C", "1", "-W", "1"])
        wait_for(lambda: "before" in d.logtext() and "[debug]" in
                 d.logtext(), 10, "debug lines with -v")
        d.send(signal.SIGHUP)
        d.wait_log("reload done")
        run(["mosquitto_sub", "-p", str(d.port), "-t", "x", "-i", "after",
             "-C", "1", "-W", "1"])
        wait_for(lambda: re.search(r"\[debug\] mqtt after ", d.logtext()),
                 10, "debug lines after SIGHUP with -v: " + d.logtext())


def test_one_failing_file_does_not_stop_the_other_reloads():
    """SIGHUP with a broken password file: the broker keeps its users
    (reload reported failed), and the ansible source still takes its
    new token."""
    need("mosquitto_passwd")
    hp = fhtest.free_port()
    conf = ("[broker]\npassword_file = {tmp}/passwd\nsys_interval = 0\n"
            "[listener a]\nbind = 127.0.0.1:{port}\n"
            "[source ans]\ntype = ansible\nlisten = 127.0.0.1:%d\n"
            "token_file = {tmp}/token\n" % hp)
    d = Daemon(conf, wait=None)
    pw, tok = os.path.join(d.tmp, "passwd"), os.path.join(d.tmp, "token")
    open(pw, "w").close()
    run(["mosquitto_passwd", "-b", pw, "writer", "pw-writer"])
    with open(tok, "w") as f:
        f.write("old-token\n")
    os.chmod(tok, 0o600)
    d.start()
    with d:
        fhtest.wait_port(hp)

        def post(token):
            req = urllib.request.Request(
                "http://127.0.0.1:%d/v1/events" % hp, json.dumps(
                    {"ansible_type": "start", "host": "h", "session": "s",
                     "playbook_name": "p", "playbook_id": "t"}).encode(),
                {"Content-Type": "application/json",
                 "Authorization": "Bearer " + token})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code
        check(post("old-token") == 202, "old token refused")
        with open(pw, "w") as f:
            f.write("writer:plaintext-is-refused\n")
        with open(tok, "w") as f:
            f.write("new-token\n")
        d.send(signal.SIGHUP)
        d.wait_log("reload failed")
        check(post("new-token") == 202, "the source did not reload: "
              + d.logtext())
        check(post("old-token") == 401, "old token still works")
        r = run(["mosquitto_pub", "-p", str(d.port), "-t", "w", "-m", "x",
                 "-u", "writer", "-P", "pw-writer"])
        check(r.returncode == 0, "the old users were lost: " + r.stderr)


# --- $SYS ------------------------------------------------------------------

def test_sys_publish_counters_with_mosquitto_names():
    """$SYS/broker/publish/messages/{received,sent} and clients/expired,
    as Mosquitto names them, besides the names 19-broker-sys-limits
    checks; they count what was published and delivered."""
    conf = ("[broker]\nanonymous_publish = true\nsys_interval = 1s\n"
            "[listener a]\nbind = 127.0.0.1:{port}\n")
    with Daemon(conf) as d:
        vals = {}
        c = mqtt.Client("sys-reader")
        c.on_message = lambda cl, u, m: vals.__setitem__(
            m.topic[len("$SYS/broker/"):], m.payload.decode())
        c.connect("127.0.0.1", d.port)
        c.loop_start()
        c.subscribe([("$SYS/broker/#", 0), ("count/#", 0)])
        time.sleep(0.3)
        for i in range(3):
            run(["mosquitto_pub", "-p", str(d.port), "-t", "count/%d" % i,
                 "-m", "x"])

        def counted():
            try:
                return (int(vals["publish/messages/received"]) >= 3 and
                        int(vals["publish/messages/sent"]) >= 3)
            except (KeyError, ValueError):
                return False
        try:
            wait_for(counted, 10, "publish counters in $SYS: %r" % vals)
            check(vals.get("clients/expired") == "0", vals)
        finally:
            c.loop_stop()
            c.disconnect()


def test_metrics_zero_samples_for_an_idle_listener():
    """/metrics (docs/listeners.md) names every listener from the start:
    firehose_mqtt_connections_current{listener=...} is 0 for one that
    has had no MQTT client yet, not missing."""
    conf = ("[broker]\nsys_interval = 0\n[listener a]\n"
            "bind = 127.0.0.1:{port}\n[listener web]\nprotocol = ws\n"
            "bind = 127.0.0.1:{web}\n")
    with Daemon(conf, ports={"web": fhtest.free_port()}) as d:
        _, ctype, m = http(d.ports["web"], "/metrics")
        check(ctype.startswith("text/plain"), ctype)
        text = m.decode()
        # "a" had the start-up probe's connection; "web" only HTTP.
        for what in ("current", "total"):
            v = metric(text, "firehose_mqtt_connections_" + what,
                       listener="web")
            check(v == 0, "connections_%s{listener=web} %r" % (what, v))
            check(metric(text, "firehose_mqtt_connections_" + what,
                         listener="a") is not None, text)
        check(metric(text, "firehose_mqtt_listener_accepted",
                     listener="web", protocol="ws") is not None, text)
        check(metric(text, "firehose_uptime_seconds") is not None, text)


def test_sys_interval_0_publishes_no_sys():
    """sys_interval = 0 turns $SYS off: a $SYS/# subscriber gets no
    (retained) $SYS message before a later marker message."""
    conf = ("[broker]\nanonymous_publish = true\nsys_interval = 0\n"
            "[listener a]\nbind = 127.0.0.1:{port}\n")
    with Daemon(conf) as d:
        got = queue.Queue()
        c = mqtt.Client("sys-off")
        c.on_message = lambda cl, u, m: got.put(m.topic)
        subd = queue.Queue()
        c.on_subscribe = lambda cl, u, mid, g: subd.put(g)
        c.connect("127.0.0.1", d.port)
        c.loop_start()
        c.subscribe([("$SYS/#", 0), ("marker", 0)])
        subd.get(timeout=10)
        run(["mosquitto_pub", "-p", str(d.port), "-t", "marker", "-m", "m"])
        first = got.get(timeout=10)
        c.loop_stop()
        c.disconnect()
        check(first == "marker", "with sys_interval = 0: %r" % first)


# --- the publish rule on every listener kind ------------------------------

FOUR = """[broker]
password_file = {tmp}/passwd
sys_interval = 0
[listener tcp]
bind = 127.0.0.1:{port}
[listener tls]
protocol = mqtts
bind = 127.0.0.1:{tls}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
[listener web]
protocol = ws
bind = 127.0.0.1:{ws}
path = /mqtt
[listener secure-web]
protocol = wss
bind = 127.0.0.1:{wss}
cert_file = {tmp}/pki/server-chain.pem
key_file = {tmp}/pki/server.key
path = /mqtt
"""


def client(d, kind, cid, user=None):
    port, transport, ca = {
        "mqtt": (d.port, "tcp", None),
        "mqtts": (d.ports["tls"], "tcp", d.pki["ca"]),
        "ws": (d.ports["ws"], "websockets", None),
        "wss": (d.ports["wss"], "websockets", d.pki["ca"])}[kind]
    c = mqtt.Client(cid, transport=transport)
    if transport == "websockets":
        c.ws_set_options(path="/mqtt")
    if ca:
        c.tls_set(ca_certs=ca)
    if user:
        c.username_pw_set(user, "pw-" + user)
    acks = queue.Queue()
    c.msgs = queue.Queue()
    c.on_connect = lambda cl, u, f, rc: acks.put(rc)
    c.on_message = lambda cl, u, m: c.msgs.put((m.topic, m.payload))
    c.connect("127.0.0.1", port, 60)
    c.loop_start()
    rc = acks.get(timeout=10)
    check(rc == 0, "%s CONNACK %d" % (kind, rc))
    return c


def test_anyone_subscribes_only_users_publish_on_every_listener():
    need("mosquitto_passwd", "openssl")
    d = Daemon(FOUR, wait=None, ports={"tls": fhtest.free_port(),
                                       "ws": fhtest.free_port(),
                                       "wss": fhtest.free_port()})
    d.pki = make_pki(d.tmp)
    pw = os.path.join(d.tmp, "passwd")
    open(pw, "w").close()
    r = run(["mosquitto_passwd", "-b", pw, "writer", "pw-writer"])
    check(r.returncode == 0, r.stderr)
    d.start()
    with d:
        kinds = ("mqtt", "mqtts", "ws", "wss")
        # An anonymous subscriber on each kind.
        subs = {}
        for k in kinds:
            subs[k] = client(d, k, "sub-" + k)
            subs[k].subscribe("rule/#", 1)
        time.sleep(0.3)
        # Anonymous publishers on each kind: acknowledged, never delivered.
        for k in kinds:
            c = client(d, k, "anon-" + k)
            c.publish("rule/anon/" + k, "no", 1).wait_for_publish()
            c.loop_stop()
            c.disconnect()
        # Authenticated publishers on each kind: delivered everywhere.
        for k in kinds:
            c = client(d, k, "user-" + k, user="writer")
            c.publish("rule/user/" + k, "yes", 1).wait_for_publish()
            c.loop_stop()
            c.disconnect()
        want = sorted("rule/user/" + k for k in kinds)
        for k in kinds:
            got = sorted(subs[k].msgs.get(timeout=10)[0] for _ in kinds)
            check(got == want, "%s subscriber got %r" % (k, got))
            check(subs[k].msgs.empty(), "%s: anonymous publish delivered"
                  % k)
            subs[k].loop_stop()
            subs[k].disconnect()
        _, _, m = http(d.ports["ws"], "/metrics")
        n = metric(m.decode(), "firehose_mqtt_dropped",
                   reason="anonymous_publish")
        check(n == 4, "dropped.anonymous_publish %r, want 4" % n)


# --- README ---------------------------------------------------------------

def test_readme_indexes_every_doc():
    with open(os.path.join(SRCDIR, "README.md")) as f:
        readme = f.read()
    docs = sorted(os.path.relpath(p, SRCDIR) for p in
                  glob.glob(os.path.join(SRCDIR, "docs", "*.md")) +
                  glob.glob(os.path.join(SRCDIR, "docs", "sources", "*.md")))
    missing = [p for p in docs if "(%s)" % p not in readme]
    check(not missing, "README.md does not link %r" % missing)
    for link in re.findall(r"\]\(((?:docs|etc|man|tools)/[^)#]+)", readme):
        check(os.path.exists(os.path.join(SRCDIR, link)),
              "README.md links a missing %s" % link)


def test_debian_packages_cover_every_tool_the_tests_use():
    """Each program a test needs (need(), shutil.which()) comes from a
    package tools/debian-packages.txt lists, so that the Quick start's
    install-deps.sh leaves nothing to skip on a fresh Debian 12."""
    need("dpkg")
    with open(os.path.join(SRCDIR, "tools", "debian-packages.txt")) as f:
        listed = set(re.sub(r"#.*", "", f.read()).split())
    tools = set()
    for path in glob.glob(os.path.join(SRCDIR, "tests", "integration",
                                       "*.py")):
        with open(path) as f:
            text = f.read()
        for args in re.findall(r"\bneed\(([^)]*)\)", text):
            tools.update(re.findall(r'"([\w.+-]+)"', args))
        tools.update(re.findall(r'which\("([\w.+-]+)"\)', text))
        # Programs the tests run directly (run, Popen: a name or a path).
        tools.update(re.findall(
            r'(?:Popen|run|check_output|check_call)\(\s*\[\s*'
            r'"(?:/usr/s?bin/)?([a-z][\w.+-]*)"', text))
    tools.add("sshd")
    tools.discard("python3")    # /usr/bin/python3 runs this very script
    # What the listed packages pull in counts too (dovecot-imapd brings
    # dovecot-core): the closure over Depends/Pre-Depends, installed ones.
    todo, have = list(listed), set()
    while todo and len(have) < 2000:
        p = todo.pop()
        if p in have:
            continue
        have.add(p)
        r = run(["dpkg-query", "-W", "-f", "${Depends}, ${Pre-Depends}", p])
        for alt in r.stdout.split(","):
            for name in re.findall(r"^\s*([\w.+-]+)", alt):
                name = name.split(":")[0]
                if name not in have:
                    todo.append(name)
    bad = []
    for t in sorted(tools):
        path = None
        for d in ("/usr/bin", "/usr/sbin", "/bin", "/sbin"):
            if os.path.exists(os.path.join(d, t)):
                path = os.path.realpath(os.path.join(d, t))
                break
        if path is None:
            bad.append("%s: not installed here, cannot tell" % t)
            continue
        r = run(["dpkg", "-S", path])
        pkgs = {line.split(":")[0] for line in r.stdout.splitlines()}
        if not pkgs:
            r = run(["dpkg", "-S", os.path.basename(path)])
            pkgs = {line.split(":")[0] for line in r.stdout.splitlines()
                    if line.rstrip().endswith("/" + os.path.basename(path))}
        if not pkgs & have and not any(
                run(["dpkg-query", "-W", "-f", "${Essential}", p]).stdout
                == "yes" for p in pkgs):
            bad.append("%s (%s) not in debian-packages.txt"
                       % (t, ", ".join(sorted(pkgs)) or "no package"))
    check(not bad, "\n".join(bad))


fhtest.run_cases(globals())
