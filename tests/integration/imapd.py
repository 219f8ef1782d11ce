"""A private dovecot IMAP server for the launchpad tests.

Started as root on loopback ports with its own config, state and Maildir
in a temp dir (never the system's dovecot), stopped by PID. Mail is
delivered by writing into the Maildir (tmp/ then rename into new/), which
is what an MTA's local delivery does.
"""
import imaplib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import fhtest

USER = "lpuser"
PASSWORD = "s3cret pass"
MAIL_UID = 65534  # nobody: dovecot refuses mail access as root


def need_dovecot():
    fhtest.need("dovecot", "openssl")
    if os.geteuid() != 0:
        fhtest.skip("dovecot tests run as root (CI does)")


def make_cert(d):
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    r = fhtest.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"])
    if r.returncode != 0:
        raise RuntimeError("openssl: " + r.stderr)
    return cert, key


class Dovecot:
    def __init__(self, tmp, idle=True):
        os.chmod(tmp, 0o755)  # dovecot's auth user reads the passwd file
        self.dir = os.path.join(tmp, "dovecot")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.port = fhtest.free_port()
        self.tls_port = fhtest.free_port()
        self.cert, self.key = make_cert(self.dir)
        self.maildir = os.path.join(self.dir, "mail", USER)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.maildir, sub), exist_ok=True)
        home = os.path.join(self.dir, "home")
        os.makedirs(home, exist_ok=True)
        for root, dirs, _ in os.walk(os.path.join(self.dir, "mail")):
            os.chown(root, MAIL_UID, MAIL_UID)
            for x in dirs:
                os.chown(os.path.join(root, x), MAIL_UID, MAIL_UID)
        os.chown(home, MAIL_UID, MAIL_UID)
        passwd = os.path.join(self.dir, "passwd")
        with open(passwd, "w") as f:
            f.write("%s:{PLAIN}%s::::::\n" % (USER, PASSWORD))
        os.chmod(passwd, 0o644)
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.log = os.path.join(self.dir, "dovecot.log")
        caps = "" if idle else ("imap_capability = IMAP4rev1 LITERAL+ "
                                "SASL-IR UIDPLUS MOVE ENABLE\n")
        with open(self.conf, "w") as f:
            f.write("""\
base_dir = {d}/run
state_dir = {d}/state
instance_name = fhtest-{port}
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{d}/mail/%u
mail_uid = {uid}
mail_gid = {uid}
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
{caps}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={home}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
""".format(d=self.dir, cert=self.cert, key=self.key, uid=MAIL_UID,
           passwd=passwd, home=home, port=self.port,
           tls_port=self.tls_port, caps=caps))
        self.proc = None
        self.seq = 0

    def start(self):
        self.proc = subprocess.Popen(
            ["dovecot", "-F", "-c", self.conf],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own group: stop() ends it all
        try:
            fhtest.wait_port(self.port, proc=self.proc)
            fhtest.wait_port(self.tls_port, proc=self.proc)
        except RuntimeError:
            print(self.logtext())
            raise
        return self

    def stop(self):
        if self.proc is None:
            return
        pgid = self.proc.pid
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # imap processes outlive the master for a while and go on serving
        # their connections: a stopped server is one with none of them
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc = None
        # its children (imap, auth) go with the master; wait until the
        # port is really closed so that a restart can bind it
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2)
                time.sleep(0.1)
            except OSError:
                break

    def logtext(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def deliver(self, data):
        """Drop one mail (bytes) into the Maildir, as an MTA would."""
        self.seq += 1
        name = "%d.M%dP%d.fhtest" % (time.time(), self.seq, os.getpid())
        tmp = os.path.join(self.maildir, "tmp", name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.chown(tmp, MAIL_UID, MAIL_UID)
        os.rename(tmp, os.path.join(self.maildir, "new", name))

    def client(self, tls=False):
        if tls:
            ctx = ssl.create_default_context(cafile=self.cert)
            c = imaplib.IMAP4_SSL("127.0.0.1", self.tls_port,
                                  ssl_context=ctx)
        else:
            c = imaplib.IMAP4("127.0.0.1", self.port)
        c.login(USER, PASSWORD)
        return c

    def flags(self, mailbox="INBOX"):
        """{uid: flags string} of every mail in a mailbox."""
        c = self.client()
        try:
            typ, _ = c.select(mailbox, readonly=True)
            if typ != "OK":
                return {}
            typ, data = c.uid("FETCH", "1:*", "(UID FLAGS)")
            out = {}
            for d in data or []:
                if not d:
                    continue
                s = d.decode() if isinstance(d, bytes) else str(d)
                if "UID " not in s:
                    continue
                uid = int(s.split("UID ")[1].split()[0].rstrip(")"))
                out[uid] = s.split("FLAGS (")[1].split(")")[0]
            return out
        finally:
            c.logout()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is not None:
            print("--- dovecot log ---\n" + self.logtext())
        return False


def bug_mail(num, project, subject, body, extra_tasks=(), commenters="bob",
             qp=True):
    """A Launchpad bug notification as Launchpad sends it."""
    import quopri
    tasks = ["product=%s; status=New; importance=Undecided; "
             "assignee=None;" % project] + list(extra_tasks)
    enc = quopri.encodestring(body.encode("utf-8")).decode() if qp else body
    hdr = ["MIME-Version: 1.0",
           'Content-Type: text/plain; charset="utf-8"',
           "Content-Transfer-Encoding: %s" %
           ("quoted-printable" if qp else "8bit"),
           "From: Bob <%d@bugs.launchpad.net>" % num,
           "X-Launchpad-Notification-Type: bug"]
    hdr += ["X-Launchpad-Bug: " + t for t in tasks]
    hdr += ["X-Launchpad-Bug-Commenters: " + commenters,
            "X-Launchpad-Bug-Reporter: Bob Example (bob)",
            "X-Launchpad-Bug-Modifier: Bob Example (bob)",
            'X-Generated-By: Launchpad (canonical.com); Revision="18953";',
            '\tInstance="launchpad-lazr.conf"',
            "Subject: [Bug %d] %s" % (num, subject),
            "Reply-To: Bug %d <%d@bugs.launchpad.net>" % (num, num)]
    return ("\r\n".join(hdr) + "\r\n\r\n" +
            enc.replace("\r\n", "\n").replace("\n", "\r\n")).encode("utf-8")


def question_mail(num):
    """A Launchpad Answers notification: not a bug."""
    return ("MIME-Version: 1.0\r\n"
            'Content-Type: text/plain; charset="utf-8"\r\n'
            "Subject: [Question #%d]: How do I?\r\n"
            "X-Launchpad-Notification-Type: question\r\n"
            "X-Launchpad-Question: product=nova; status=Open; "
            "assignee=None; priority=Normal; language=en\r\n"
            'X-Generated-By: Launchpad (canonical.com); Revision="1"\r\n'
            "\r\nHow do I?\r\n" % num).encode()


def foreign_mail(subject):
    return ("From: someone@example.org\r\nSubject: %s\r\n"
            "Content-Type: text/plain\r\n\r\nnot from launchpad\r\n"
            % subject).encode()


def cleanup(tmp):
    shutil.rmtree(tmp, ignore_errors=True)
