#!/usr/bin/python3
"""The man pages made by man/mangen match the daemon: every key a config
table declares (found here by reading the sources, independently of
mangen's walk) is in firehose.conf(5), once per table entry; the keys the
page lists with their defaults pass firehosed -t; every option of
firehosed --help is in firehosed(8); both pages render without warnings.
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile

import fhtest
from fhtest import FIREHOSED, SRCDIR, check, run, skip_case

BUILD = os.environ.get("top_builddir", ".")
CONF5 = os.path.join(BUILD, "man", "man5", "firehose.conf.5")
MAN8 = os.path.join(BUILD, "man", "man8", "firehosed.8")
ENTRY = re.compile(r'FH_CONF_[A-Z_]+\(\s*"([a-z_]+)"')


def page(path):
    check(os.path.exists(path), "%s not built" % path)
    with open(path) as f:
        return f.read()


def table_keys():
    """Every FH_CONF_*("key", ...) in the daemon's sources."""
    keys = []
    for pat in ("gateway/*.c", "sinks/*/*.c", "sources/*/*.c"):
        for path in sorted(glob.glob(os.path.join(SRCDIR, pat))):
            with open(path) as f:
                keys += ENTRY.findall(f.read())
    return keys


def page_entries(text):
    """(section, key, default or None) for each .TP entry of the page."""
    out, section = [], None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".SS "):
            section = line[4:].strip('"')
        m = re.match(r"\\fB(.+?)\\fR = \\fI.*?\\fR(.*)$", line)
        if m and i > 0 and lines[i - 1] == ".TP":
            key = m.group(1).replace("\\-", "-")
            d = re.search(r"\(default: \\fB(.*)\\fR\)", m.group(2))
            out.append((section, key, d.group(1).replace("\\-", "-")
                        .replace("\\e", "\\") if d else None))
    return out


def test_every_table_key_is_in_the_page():
    entries = page_entries(page(CONF5))
    listed = [k for _, k, _ in entries if k != "type"]
    keys = table_keys()
    check(len(keys) > 50, "found only %d table entries" % len(keys))
    missing = sorted(set(keys) - set(listed))
    check(not missing, "not in firehose.conf(5): %s" % missing)
    extra = sorted(set(listed) - set(keys))
    check(not extra, "in the page but in no table: %s" % extra)
    check(len(listed) == len(keys), "%d page entries for %d table entries"
          % (len(listed), len(keys)))
    sources = [s for s, k, _ in entries if k == "type"]
    check(len(sources) == 4, "source sections: %r" % sources)


def test_every_entry_is_documented():
    text = page(CONF5)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line == ".TP":
            doc = lines[i + 2] if i + 2 < len(lines) else ""
            check(doc and not doc.startswith("."),
                  "no text after %r" % lines[i + 1])


def test_listed_defaults_are_accepted():
    # Each key of [gateway], [broker] and a plain or ws listener, set to
    # the default the page shows: firehosed -t accepts the file.
    entries = page_entries(page(CONF5))
    per = {}
    for section, key, default in entries:
        if default is not None:
            per.setdefault(section, []).append((key, default))
    tmp = tempfile.mkdtemp(prefix="fh-man-")
    try:
        tls_ws = {"cert_file", "key_file", "ca_file", "require_certificate",
                  "use_identity_as_username", "tls_version", "ciphers",
                  "path", "allowed_origins", "max_frame_size",
                  "max_message_size"}
        ws = {"path", "allowed_origins", "max_frame_size", "max_message_size"}
        text = ""
        for section, name in (("[gateway]", "gateway"),
                              ("[broker]", "broker")):
            text += "[%s]\n" % name
            text += "".join("%s = %s\n" % kv for kv in per[section])
        lst = per["[listener NAME]"]
        text += "[listener a]\nbind = 127.0.0.1:1883\n"
        text += "".join("%s = %s\n" % kv for kv in lst
                        if kv[0] not in tls_ws)
        text += "[listener w]\nbind = 127.0.0.1:1884\nprotocol = ws\n"
        text += "".join("%s = %s\n" % kv for kv in lst
                        if kv[0] in ws and kv[0] != "protocol")
        path = os.path.join(tmp, "f.conf")
        with open(path, "w") as f:
            f.write(text)
        r = run([FIREHOSED, "-t", "-c", path])
        check(r.returncode == 0, "defaults from the page refused:\n%s\n%s"
              % (text, r.stdout + r.stderr))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_every_option_is_in_firehosed_8():
    text = page(MAN8).replace("\\-", "-")
    r = run([FIREHOSED, "--help"])
    opts = set(re.findall(r"(--[a-z][a-z-]+)", r.stdout))
    check(len(opts) >= 4, "options found in --help: %r" % opts)
    missing = sorted(o for o in opts if o not in text)
    check(not missing, "not in firehosed(8): %s" % missing)


def test_pages_render_without_warnings():
    if shutil.which("groff") is None:
        skip_case("groff not installed")
    for path in (CONF5, MAN8):
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0 and not r.stderr.strip(),
              "%s: %s" % (path, r.stderr))


fhtest.run_cases(globals())
