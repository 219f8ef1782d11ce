#!/usr/bin/python3
"""Make the subunit v2 golden cases with Debian's python3-subunit.

Each case is a directory with `input` (a subunit v2 byte stream, written by
subunit.v2.StreamResultToBytes from a fake test run, or by subunit.run on a
real one) and `expected` (the summary firehose's parser must produce). The
expected summary is computed here by python-subunit's own reader
(ByteStreamToStreamResult), so the C parser is checked against it:
counts by status, failing ids (capped like the daemon), first and last
timestamp, bytes outside packets and corrupt packets with the offset of the
first one.

Run it from anywhere: /usr/bin/python3 tests/data/subunit/generate.py
"""
import datetime
import io
import json
import os
import subprocess
import sys
import tempfile

import subunit.v2
from testtools import StreamResult

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_FAILING = 50            # the daemon's cap (SUBUNIT_MAX_FAILING)
STATUSES = ["exists", "inprogress", "success", "uxsuccess", "skip", "fail",
            "xfail"]
UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 11, 29, 12, 0, 0, 250000, tzinfo=UTC)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def writer():
    buf = io.BytesIO()
    return buf, subunit.v2.StreamResultToBytes(buf)


def run_tests(out, tests, start=0.0, tags=None, route=None):
    """A fake run: each test is (id, status, seconds, attachment)."""
    t = start
    for tid, status, secs, attach in tests:
        out.status(test_id=tid, test_status="inprogress", timestamp=at(t),
                   test_tags=tags, route_code=route)
        t += secs
        if attach is not None:
            name, data = attach
            out.status(test_id=tid, file_name=name, file_bytes=data,
                       mime_type="text/plain; charset=utf8", eof=True,
                       timestamp=at(t), route_code=route)
        out.status(test_id=tid, test_status=status, timestamp=at(t),
                   test_tags=tags, route_code=route)
    return t


# --- the oracle: python-subunit's reader ----------------------------------

REASONS = {"Bad checksum": "bad checksum",
           "Short read": "packet cut short by the end of the stream"}


class Summary(StreamResult):
    def __init__(self):
        super().__init__()
        self.tests = dict.fromkeys(STATUSES, 0)
        self.failing = []
        self.omitted = 0
        self.times = []
        self.packets = 0
        self.non_subunit = 0
        self.corrupt = 0
        self.error = None
        self.packet_offset = None

    def status(self, test_id=None, test_status=None, test_tags=None,
               runnable=True, file_name=None, file_bytes=None, eof=False,
               mime_type=None, route_code=None, timestamp=None):
        if test_id is None and file_name == "stdout" and test_status is None:
            self.non_subunit += len(file_bytes)
            return
        if test_id == "subunit.parser":
            if file_name == "Parser Error":
                self.corrupt += 1
                if self.error is None:
                    msg = file_bytes.decode()
                    reason = [v for k, v in REASONS.items()
                              if msg.startswith(k)]
                    if not reason:
                        raise SystemExit("no reason for " + msg)
                    self.error = {"offset": self.packet_offset,
                                  "reason": reason[0]}
            return
        self.packets += 1
        if test_status is not None:
            self.tests[test_status] += 1
        if test_status in ("fail", "uxsuccess") and test_id is not None:
            if len(self.failing) < MAX_FAILING:
                self.failing.append(test_id)
            else:
                self.omitted += 1
        if timestamp is not None:
            self.times.append(timestamp)


def iso(t):
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def summarize(data):
    # A real file, not BytesIO: python-subunit only aggregates text between
    # packets when it can select() on the source, and without that it takes
    # the 0xB3 that ends a UTF-8 character ("\u00f3") for a signature.
    tmp = tempfile.TemporaryFile()
    tmp.write(data)
    tmp.seek(0)
    source = tmp
    parser = subunit.v2.ByteStreamToStreamResult(
        source, non_subunit_name="stdout")
    result = Summary()
    orig = parser._parse_packet

    def parse_packet(res):
        result.packet_offset = source.tell() - 1
        return orig(res)
    parser._parse_packet = parse_packet
    parser.run(result)
    tmp.close()
    out = {
        "tests": result.tests,
        "total": sum(result.tests[s] for s in STATUSES[2:]),
        "failing_tests": result.failing,
        "failing_tests_omitted": result.omitted,
        "start": None, "end": None, "duration": None,
        "packets": result.packets,
        "bytes": len(data),
        "non_subunit_bytes": result.non_subunit,
        "corrupt_packets": result.corrupt,
    }
    if result.times:
        start, end = min(result.times), max(result.times)
        out["start"], out["end"] = iso(start), iso(end)
        out["duration"] = (end - start).total_seconds()
    if result.error is not None:
        out["error"] = result.error
    return out


# --- the cases -------------------------------------------------------------

def case_pass():
    buf, out = writer()
    run_tests(out, [
        ("nova.tests.unit.test_api.TestApi.test_list", "success", 0.5, None),
        ("nova.tests.unit.test_api.TestApi.test_show", "success", 1.25,
         ("stdout", b"GET /servers/1 200\n")),
        ("nova.tests.unit.test_db.TestDb.test_migrate", "success", 3.0, None),
        ("nova.tests.unit.test_utils.test_parse", "success", 0.001, None),
    ], tags={"worker-0"})
    return buf.getvalue()


def case_fail():
    buf, out = writer()
    run_tests(out, [
        ("pkg.tests.test_a.TestA.test_ok", "success", 0.2, None),
        ("pkg.tests.test_a.TestA.test_broken", "fail", 0.7,
         ("traceback", b"Traceback (most recent call last):\n"
          b"  File \"test_a.py\", line 12\nAssertionError: 1 != 2\n")),
        ("pkg.tests.test_a.TestA.test_skipped", "skip", 0.0,
         ("reason", b"not on this platform")),
        ("pkg.tests.test_b.TestB.test_known_bug", "xfail", 0.1, None),
        ("pkg.tests.test_b.TestB.test_fixed_bug", "uxsuccess", 0.1, None),
        ("pkg.tests.test_b.TestB.test_unicode_\u00e9\u00f3", "fail", 0.3,
         None),
    ])
    return buf.getvalue()


def case_enumeration():
    buf, out = writer()
    for i in range(20):
        out.status(test_id="proj.tests.test_list.Test.test_%02d" % i,
                   test_status="exists")
    return buf.getvalue()


def case_parallel():
    """Two workers with route codes; the second one's clock starts first,
    so the run's start is the earliest timestamp, not the first packet's."""
    w0, w1 = io.BytesIO(), io.BytesIO()
    run_tests(subunit.v2.StreamResultToBytes(w0), [
        ("a.test_%d" % i, "success", 2.0, None) for i in range(5)],
        start=1.0, tags={"worker-0"}, route="0")
    run_tests(subunit.v2.StreamResultToBytes(w1), [
        ("b.test_%d" % i, "fail" if i == 2 else "success", 1.5, None)
        for i in range(6)], start=0.0, tags={"worker-1"}, route="1")
    return w0.getvalue() + w1.getvalue()


def case_big_attachment():
    buf, out = writer()
    blob = bytes((i * 7 + 13) % 251 for i in range(300000))
    t = run_tests(out, [("big.test_log", "success", 5.0, None)])
    # Attachments are chunked into several packets, each < 4 MiB; use a
    # large chunk (3-byte length varint) and small ones.
    out.status(test_id="big.test_log", file_name="pythonlogging:''",
               file_bytes=blob[:250000], mime_type="text/plain",
               timestamp=at(t))
    for i in range(250000, len(blob), 8192):
        out.status(test_id="big.test_log", file_name="pythonlogging:''",
                   file_bytes=blob[i:i + 8192], timestamp=at(t),
                   eof=i + 8192 >= len(blob))
    return buf.getvalue()


def case_many_failures():
    buf, out = writer()
    run_tests(out, [("storm.test_%03d" % i, "fail", 0.01, None)
                    for i in range(75)])
    return buf.getvalue()


def corrupt(data, offset):
    b = bytearray(data)
    b[offset] ^= 0x20
    return bytes(b)


def case_bad_crc():
    """A flipped bit inside the second packet's test id: that packet is
    dropped, the ones after it are still read."""
    data = case_pass()
    # the second packet starts after the first one's length
    second = packet_len(data, 0)
    return corrupt(data, second + 12)


def packet_len(data, off):
    b = data[off + 3]
    n = 1 + (b >> 6)
    v = b & 0x3f
    for i in range(1, n):
        v = v << 8 | data[off + 3 + i]
    return v


def case_truncated():
    data = case_fail()
    return data[:-7]


def case_text_between():
    """Plain output between packets, with UTF-8 (0xB3 inside "ó")."""
    parts = []
    buf, out = writer()
    run_tests(out, [("t.test_one", "success", 0.5, None)])
    parts.append(buf.getvalue())
    parts.append("Ran 1 test; ¿qué pasó? ó\n".encode())
    buf, out = writer()
    run_tests(out, [("t.test_two", "fail", 0.5, None)], start=1.0)
    parts.append(buf.getvalue())
    parts.append(b"trailing text without newline")
    return b"".join(parts)


def case_not_subunit():
    return b"<html><body>404 Not Found</body></html>\n" * 3


def case_empty():
    return b""


def case_subunit_run():
    """A real run: subunit.run on a small fake test module."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "fake_tests.py"), "w") as f:
            f.write(
                "import unittest\n"
                "class T(unittest.TestCase):\n"
                "    def test_pass(self):\n"
                "        self.assertEqual(1, 1)\n"
                "    def test_fail(self):\n"
                "        self.assertEqual(1, 2)\n"
                "    @unittest.skip('no reason')\n"
                "    def test_skip(self):\n"
                "        pass\n"
                "    @unittest.expectedFailure\n"
                "    def test_xfail(self):\n"
                "        self.fail('known')\n")
        r = subprocess.run([sys.executable, "-m", "subunit.run",
                            "fake_tests"], cwd=d, capture_output=True)
        return r.stdout


CASES = {
    "pass": case_pass,
    "fail": case_fail,
    "enumeration": case_enumeration,
    "parallel": case_parallel,
    "big-attachment": case_big_attachment,
    "many-failures": case_many_failures,
    "bad-crc": case_bad_crc,
    "truncated": case_truncated,
    "text-between": case_text_between,
    "not-subunit": case_not_subunit,
    "empty": case_empty,
    "subunit-run": case_subunit_run,
}


def main():
    names = sys.argv[1:] or list(CASES)
    for name in names:
        data = CASES[name]()
        d = os.path.join(HERE, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "input"), "wb") as f:
            f.write(data)
        with open(os.path.join(d, "expected"), "w") as f:
            json.dump(summarize(data), f, indent=2, sort_keys=True)
            f.write("\n")
        print("%-16s %7d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
