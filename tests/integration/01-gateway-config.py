#!/usr/bin/python3
"""firehosed -t: config errors come back as file:line: message, exit 1;
one case per error."""
import os
import tempfile

import fhtest
from fhtest import FIREHOSED, check, run

CASES = [
    # (config text, expected substring of the error)
    ("[gateway]\nlog_level = loud\n", ":2: bad log_level 'loud'"),
    ("[nosuch]\n", ":1: unknown section [nosuch]"),
    ("[listener a]\nprotocol = mqtt\n", ":1: missing required key 'bind'"),
    ("key = value\n", ":1: key outside of any section"),
    ("[broker\n", ":1: malformed section header"),
    ("[source x]\ntype = nosuch\n", ":2: unknown source type 'nosuch'"),
    ("[listener a]\nbind = 127.0.0.1:1\n[listener a]\nbind = 127.0.0.1:2\n",
     ":3: duplicate section"),
    ("[listener a]\nbind = nope\n", ":2: bad bind address"),
    ("[broker]\nmax_packet_size = huge\n", ":2: bad value 'huge'"),
    ("[broker]\nnonsense = 1\n", ":2: unknown key 'nonsense'"),
    ("[broker]\nmax_inflight_messages = 0\n",
     ":2: max_inflight_messages must be between"),
    ("[listener a]\nbind = 127.0.0.1:1883\n"
     "[listener b]\nbind = 127.0.0.1:1883\n",
     ":4: duplicate listener address"),
]


TMP = tempfile.mkdtemp(prefix="fh-conf-")
PATH = os.path.join(TMP, "f.conf")


def refused(text, want):
    def case():
        with open(PATH, "w") as f:
            f.write(text)
        r = run([FIREHOSED, "-t", "-c", PATH])
        check(r.returncode == 1, "%r: exit %d, want 1" % (text, r.returncode))
        out = r.stdout + r.stderr
        check(PATH + want in out, "%r: want %r in %r" % (text, want, out))
    return case


for _i, (_text, _want) in enumerate(CASES):
    globals()["test_refused_%02d" % _i] = refused(_text, _want)


def test_valid_config_with_comments_accepted():
    with open(PATH, "w") as f:
        f.write("; comment\n[gateway]\nlog_level = debug # trailing\n"
                "[broker]\n[listener a]\nbind = 127.0.0.1:1883\n")
    r = run([FIREHOSED, "-t", "-c", PATH])
    check(r.returncode == 0, "valid config rejected: " + r.stdout + r.stderr)
    check("configuration OK" in r.stdout, r.stdout)


def check_ok(text):
    with open(PATH, "w") as f:
        f.write(text)
    r = run([FIREHOSED, "-t", "-c", PATH])
    check(r.returncode == 0, "%r rejected: %s" % (text, r.stdout + r.stderr))
    check("configuration OK" in r.stdout, r.stdout)


def test_lone_hash_value_is_the_mqtt_wildcard():
    """topics = # is the filter #, not an empty value and a comment
    (which [log] refuses: "topics is empty"); so is # with a comment
    after it. A # after white space with more text is still a comment."""
    for line in ("topics = #", "topics = #   ; every topic",
                 "topics = # # every topic", "topics=#",
                 "topics = gerrit/#,launchpad/# # two bases"):
        check_ok("[gateway]\nstate_dir =   # none\n"
                 "[log]\nenabled = true\n" + line + "\n"
                 "[broker]\n[listener a]\nbind = 127.0.0.1:1883\n")
    # "# every topic" alone is a comment: the value is empty
    with open(PATH, "w") as f:
        f.write("[log]\nenabled = true\ntopics = # every topic\n")
    r = run([FIREHOSED, "-t", "-c", PATH])
    check(r.returncode == 1 and "topics is empty" in r.stdout, r.stdout)


def test_every_error_reported():
    """-t lists every syntax error of the file, and every bad key of a
    section, not only the first."""
    with open(PATH, "w") as f:
        f.write("[broker]\njunk\n[listener a\nbind = x\n[gateway]\n"
                "what\n")
    r = run([FIREHOSED, "-t", "-c", PATH])
    check(r.returncode == 1, "exit %d" % r.returncode)
    for want in (":2: expected 'key = value'", ":3: malformed section",
                 ":6: expected 'key = value'"):
        check(PATH + want in r.stdout, "want %r in %r" % (want, r.stdout))
    check(":4:" not in r.stdout, "a key under a bad header reported: %r"
          % r.stdout)
    with open(PATH, "w") as f:
        f.write("[broker]\nnonsense = 1\nmax_packet_size = huge\n"
                "[listener a]\nbind = 127.0.0.1:1883\n")
    r = run([FIREHOSED, "-t", "-c", PATH])
    check(r.returncode == 1, "exit %d" % r.returncode)
    for want in (":2: unknown key 'nonsense'", ":3: bad value 'huge'"):
        check(PATH + want in r.stdout, "want %r in %r" % (want, r.stdout))
    # each module's problems: [gateway], the broker, every source
    with open(PATH, "w") as f:
        f.write("[broker]\nnonsense = 1\n[listener a]\n"
                "bind = 127.0.0.1:1883\n[source g]\ntype = nosuch\n"
                "[source h]\ntype = ansible\nbogus = 2\n"
                "[gateway]\nlog_level = loud\n")
    r = run([FIREHOSED, "-t", "-c", PATH])
    check(r.returncode == 1, "exit %d" % r.returncode)
    for want in (":2: unknown key 'nonsense'", ":6: unknown source type",
                 ":9: unknown key 'bogus' in [source h]",
                 ":11: bad log_level 'loud'"):
        check(PATH + want in r.stdout, "want %r in %r" % (want, r.stdout))
    # an unknown section is reported alone (each one), the modules not
    with open(PATH, "w") as f:
        f.write("[nosuch]\n[broker]\nnonsense = 1\n[other x]\n")
    r = run([FIREHOSED, "-t", "-c", PATH])
    check(PATH + ":1: unknown section [nosuch]" in r.stdout and
          PATH + ":4: unknown section [other x]" in r.stdout and
          "nonsense" not in r.stdout, r.stdout)


def test_missing_file():
    r = run([FIREHOSED, "-t", "-c", os.path.join(TMP, "missing.conf")])
    check(r.returncode == 1 and "No such file" in r.stdout, r.stdout)


def test_version_help_and_bad_option():
    r = run([FIREHOSED, "--version"])
    check(r.returncode == 0 and r.stdout.startswith("firehosed "), r.stdout)
    r = run([FIREHOSED, "--help"])
    check(r.returncode == 0 and "--test-config" in r.stdout, r.stdout)
    r = run([FIREHOSED, "--bogus"])
    check(r.returncode == 2, "unknown option exit %d" % r.returncode)


fhtest.run_cases(globals())
