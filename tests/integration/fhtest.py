"""Shared helpers for integration tests: a private firehosed on loopback.

Each test makes its own temp dir, config and free ports, starts the real
daemon, and stops it by PID. Tests exit 0 (pass), 1 (fail) or 77 (skip).
"""
import os
import re
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
_in_cases = False  # run_cases() is running a case
# What ASan, LSan and UBSan print when they find something.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "WARNING: ThreadSanitizer",
                   "runtime error:")
FIREHOSED = os.environ.get("FIREHOSED") or os.path.join(
    os.environ.get("top_builddir", "."), "firehosed")
SRCDIR = os.environ.get("top_srcdir", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


def need(*tools):
    """Skip the script (or, inside run_cases, the case) when a tool is
    missing."""
    for t in tools:
        if shutil.which(t) is None:
            if _in_cases:
                skip_case(t + " not installed")
            skip(t + " not installed")


def _bindable(family, host, port):
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port free on host now, and on the wildcard addresses (a test may
    bind 0.0.0.0 or [::] with it). Taken below the kernel's ephemeral
    range (32768 and up), where the outgoing connections of tests running
    in parallel take their local ports, so that none of them can hold it
    by the time the daemon binds."""
    rnd = random.Random()
    for _ in range(200):
        port = rnd.randrange(10000, 32000)
        if _bindable(family, host, port) and \
                _bindable(socket.AF_INET, "0.0.0.0", port) and \
                (not socket.has_ipv6 or
                 _bindable(socket.AF_INET6, "::", port) or
                 not _bindable(socket.AF_INET6, "::", 0)):
            return port
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    deadline = time.time() + timeout
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %d" % proc.returncode)
        try:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.settimeout(0.5)
            s.connect((host, port))
            s.close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %s:%d did not open" % (host, port))


def with_threads(config):
    """$FH_TEST_THREADS=N runs every daemon with [gateway] threads = N
    (CI runs the suite so with 4, and under ThreadSanitizer), unless the
    test sets threads itself."""
    n = os.environ.get("FH_TEST_THREADS")
    if not n or re.search(r"(?m)^\s*threads\s*=", config):
        return config
    m = re.search(r"(?m)^\[gateway\][^\n]*\n", config)
    if m is None:
        return "[gateway]\nthreads = %s\n" % n + config
    return config[:m.end()] + "threads = %s\n" % n + config[m.end():]


class Daemon:
    """A firehosed with its own config in a temp dir.

    config: INI text; "{port}" and the names in ports are formatted in.
    wrap: argv the daemon's command line is appended to (it must exec it,
    so the pid stays the daemon's), e.g. hosts_wrap().
    """

    def __init__(self, config=None, tmp=None, args=(), wait=True, ports=None,
                 wrap=()):
        self.tmp = tmp or tempfile.mkdtemp(prefix="fh-test-")
        self.port = free_port()
        self.ports = dict(ports or {})
        self.ports.setdefault("port", self.port)
        if config is None:
            config = ("[broker]\n[listener mqtt]\nprotocol = mqtt\n"
                      "bind = 127.0.0.1:{port}\n")
        self.conf = os.path.join(self.tmp, "firehose.conf")
        with open(self.conf, "w") as f:
            f.write(with_threads(config.format(tmp=self.tmp, **self.ports)))
        self.log = os.path.join(self.tmp, "firehosed.log")
        self.args = list(args)
        self.wrap = list(wrap)
        self.proc = None
        if wait is not None:
            self.start(wait)

    def start(self, wait=True):
        self.logf = open(self.log, "ab")
        self.log_mark = self.logf.tell()
        self.proc = subprocess.Popen(
            self.wrap + [FIREHOSED, "-c", self.conf] + self.args,
            stdout=self.logf, stderr=subprocess.STDOUT)
        if wait:
            try:
                wait_port(self.port, proc=self.proc)
                self.wait_log(" started (", proc=self.proc)
            except RuntimeError:
                print(self.logtext())
                raise
        return self

    def wait_log(self, text, timeout=15.0, proc=None):
        """Wait for text in the log. The listeners accept as soon as they
        are bound, but sources start after them: the "started" line says
        everything is up."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log, "rb") as f:
                f.seek(getattr(self, "log_mark", 0))
                if text.encode() in f.read():
                    return
            if proc is not None and proc.poll() is not None:
                raise RuntimeError("process exited with %d" % proc.returncode)
            time.sleep(0.05)
        raise RuntimeError("%r not in the log after %.0fs" % (text, timeout))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def send(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=10, want=0):
        """Stop the daemon with sig and return its exit status. With want
        (default 0; -SIGKILL for kill9) anything else fails the test, as
        does a sanitizer report in the log: no daemon a test starts goes
        unchecked. want=None: the caller checks the status itself."""
        if self.proc is None:
            return None
        killed = False
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                killed = True
        rc = self.proc.returncode
        self.proc = None
        self.logf.close()
        if want is not None:
            if killed:
                raise AssertionError("firehosed did not stop within %ds "
                                     "of signal %d" % (timeout, sig))
            if rc != want:
                sys.stderr.write(self.logtext())
                raise AssertionError("firehosed exited with %r, want %r"
                                     % (rc, want))
            self.check_sanitizers()
        return rc

    def check_sanitizers(self):
        """A sanitizer report in the log fails the test."""
        text = self.logtext()
        for mark in SANITIZER_MARKS:
            if mark in text:
                sys.stderr.write(text)
                raise AssertionError("sanitizer report in the log: %r"
                                     % mark)

    def kill9(self):
        return self.stop(signal.SIGKILL, want=-signal.SIGKILL)

    def logtext(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            self.stop(want=None)
            sys.stderr.write("--- firehosed log ---\n" + self.logtext())
            return False
        # A non-zero exit, a crash on shutdown or a sanitizer report
        # fails the test.
        self.stop()
        self.check_sanitizers()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return False


def run(cmd, timeout=30, **kw):
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout, **kw)


def mosquitto_sub(port, topic, count, extra=(), timeout=10, host="127.0.0.1"):
    """Start mosquitto_sub in the background; .wait() gives its output."""
    cmd = ["mosquitto_sub", "-h", host, "-p", str(port), "-t", topic,
           "-C", str(count), "-W", str(timeout), "-v"] + list(extra)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


class SkipCase(Exception):
    """Raised by skip_case(): this case cannot run here (a tool missing)."""


def skip_case(why):
    raise SkipCase(why)


def hosts_wrap(tmp, hosts):
    """argv that runs a command with the text hosts as its /etc/hosts, in
    a private mount namespace (unshare -m; needs root): a name with the
    addresses a test wants, in its order, without touching the machine's
    own file. Skips the case where that cannot be done."""
    path = os.path.join(tmp, "hosts")
    with open(path, "w") as f:
        f.write(hosts)
    argv = ["unshare", "-m", "--", "sh", "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"', path]
    if shutil.which("unshare") is None or run(
            argv + ["cat", "/etc/hosts"]).stdout != hosts:
        skip_case("cannot give a process its own /etc/hosts "
                  "(unshare -m needs root)")
    return argv


def once(fn):
    """A scenario that several cases check, run on first use: its result
    (or its failure) is shared, so each check is its own case."""
    box = []

    def get():
        if not box:
            try:
                box.append((True, fn()))
            except Exception as e:
                import traceback
                traceback.print_exc()
                box.append((False, e))
        ok, v = box[0]
        if not ok and isinstance(v, SkipCase):
            raise v
        if not ok:
            raise AssertionError("scenario %s failed: %s" % (fn.__name__, v))
        return v
    return get


def finish(state, *keys):
    """The last case of a shared scenario: take down what state (a dict)
    holds under keys, in that order, each tried even when one before
    failed: a Daemon through its context manager (exit status and
    sanitizers checked), a helper with stop() (a fake server), anything
    else with close(). The first failure is raised at the end."""
    err = None
    for k in keys:
        t = state.pop(k, None)
        if t is None:
            continue
        try:
            if isinstance(t, Daemon):
                with t:
                    pass
            elif hasattr(t, "stop"):
                t.stop()
            else:
                t.close()
        except Exception as e:
            err = err or e
    if err is not None:
        raise err


def run_cases(ns):
    """Run every function named test_* in ns (a script's globals()) as its
    own case, in the order they are defined, so that the first failure does
    not hide the rest. Prints "PASS: name", "FAIL: name: why" or
    "SKIP: name: why" per case, then the line tools/check-all.sh counts:
    "cases: P passed, F failed, S skipped". Exits 1 when a case failed, 77
    when every case was skipped, else 0."""
    import traceback
    script = os.path.basename(sys.argv[0])
    cases = [(n, f) for n, f in ns.items()
             if n.startswith("test_") and callable(f)]
    if not cases:
        print("FAIL: %s: no test_* functions" % script)
        sys.exit(1)
    global _in_cases
    _in_cases = True
    passed = failed = skipped = 0
    for name, fn in cases:
        try:
            fn()
        except SkipCase as e:
            print("SKIP: %s::%s: %s" % (script, name, e))
            skipped += 1
            continue
        except Exception as e:
            traceback.print_exc()
            print("FAIL: %s::%s: %s" % (script, name, e))
            failed += 1
            continue
        finally:
            sys.stdout.flush()
        print("PASS: %s::%s" % (script, name))
        passed += 1
    print("cases: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    sys.stdout.flush()
    if failed:
        sys.exit(1)
    sys.exit(SKIP if skipped == len(cases) else 0)


def main(fn):
    """Run fn(), map AssertionError to exit 1 with a message."""
    try:
        fn()
    except AssertionError as e:
        print("FAIL: %s" % e)
        sys.exit(1)
    print("PASS")
    sys.exit(0)
