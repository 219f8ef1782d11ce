#!/usr/bin/python3
"""A connection storm: 10,000 clients connect in a burst (each sends
CONNECT and gets CONNACK) while a subscriber and a publisher keep working;
then all close. The daemon keeps serving; after they are gone its RSS is
no higher than at the peak, and a second storm adds nothing to it (no
leak per connection; docs/performance.md has the figures). Under ASan the quarantine is shrunk (limitstest)."""
import os
import selectors
import socket
import time

import fhtest
from fhtest import Daemon, check, free_port
from limitstest import (LISTENERS, asan_env, is_asan, raise_nofile, rss_kb,
                        stat, wait_until)
from mqtttest import Client, connect_pkt

N = 10000

CONF = """[broker]
sys_interval = 0
anonymous_publish = true
""" + LISTENERS


def storm(port, n):
    """n clients connect at once; return their sockets and how many got
    CONNACK 0."""
    socks = []
    sel = selectors.DefaultSelector()
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE, i)
    pending = {}
    ok = 0
    deadline = time.time() + 120
    while (sel.get_map() and time.time() < deadline):
        for key, ev in sel.select(timeout=1):
            s, i = key.fileobj, key.data
            if ev & selectors.EVENT_WRITE:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                check(err == 0, "connect %d: %s" % (i, os.strerror(err)))
                s.send(connect_pkt("storm-%d" % i))
                sel.modify(s, selectors.EVENT_READ, i)
                continue
            d = pending.get(i, b"") + s.recv(4)
            pending[i] = d
            if len(d) >= 4:
                check(d[:4] == b"\x20\x02\x00\x00", "CONNACK %r" % d)
                ok += 1
                sel.unregister(s)
            elif not d:
                sel.unregister(s)
    sel.close()
    return socks, ok


def test_connection_storm_served_and_memory_given_back():
    asan_env()
    lim = raise_nofile(N + 2000)
    n = N if lim >= N + 500 else lim - 500
    if n < N:
        print("fd limit %d: storm scaled down to %d clients" % (lim, n))
    with Daemon(CONF, ports={"ws": free_port()}) as d:
        pid = d.proc.pid
        sub = Client(d.port, "watcher")
        sub.sub("storm/#", 1)
        pub = Client(d.port, "pub")
        # baseline: after a first small wave (pools and tables warmed)
        socks, ok = storm(d.port, 200)
        for s in socks:
            s.close()
        wait_until(lambda: stat(d, "clients_connected") == 2, 30,
                   "warm-up clients to go")
        base = rss_kb(pid)
        rounds = []
        for r in range(2):
            socks, ok = storm(d.port, n)
            check(ok == n, "round %d: %d of %d got CONNACK 0" % (r, ok, n))
            peak = rss_kb(pid)
            # still serving: a QoS 1 round trip during the storm
            pub.pub("storm/x", "during %d" % r, qos=1)
            sub.expect("storm/x", b"during %d" % r, timeout=30)
            check(stat(d, "clients_connected") == n + 2, "all connected")
            for s in socks:
                s.close()
            wait_until(lambda: stat(d, "clients_connected") == 2, 60,
                       "storm clients to go")
            time.sleep(1.5)
            after = rss_kb(pid)
            rounds.append((peak, after))
            print("round %d: baseline %d kB, with %d clients %d kB, after "
                  "%d kB" % (r, base, n, peak, after))
        pub.pub("storm/x", "after", qos=1)
        sub.expect("storm/x", b"after", timeout=30)
        sub.close()
        pub.close()
        (p1, a1), (p2, a2) = rounds
        grown = p1 - base
        asan = is_asan(pid)
        # Freed, but not all given back: glibc keeps heap pages that
        # libevent's small per-fd records pin (the daemon logs the heap
        # in use at debug after its trim). So: no more than the peak
        # (ASan's allocator keeps size classes apart: not there)...
        check(asan or a1 <= p1 + 1024,
              "after the storm %d kB, baseline %d, peak %d" % (a1, base, p1))
        # ...and a second storm reuses it: nothing left per connection.
        # What stays once its clients are gone is the leak check (1 MB
        # over 10,000 connections is 100 B each). The peaks are only a
        # loose bound: jemalloc keeps the pages that a storm's short-lived
        # buffers freed until its decay (dirty_decay_ms, 10 s) purges
        # them, so one storm's peak is up to 6 MB above another's at
        # random (with MALLOC_CONF=dirty_decay_ms:0 they are within 1 MB).
        # ASan's allocator is noisier (per-thread caches, quarantine):
        # there LeakSanitizer at exit is the leak check, these a bound.
        # (A sanitizer's "after" moves by tens of MB between runs: its
        # allocator's per-thread caches and quarantine, the worker loop's
        # frees among them. There, only a gross leak fails this.)
        check(a2 <= (max(p1, a1) + 2 * grown if asan else a1 + 1024),
              "second storm: %d kB after it, %d after the first" % (a2, a1))
        # (ThreadSanitizer's RSS keeps growing after a storm: its
        # shadow and its allocator's caches; so against the larger)
        check(p2 <= (max(p1, a1) + grown if asan else p1 + grown / 2),
              "second storm: peak %d kB, first %d" % (p2, p1))
        print("asan" if asan else "plain", "build")


fhtest.run_cases(globals())
