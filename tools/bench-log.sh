#!/usr/bin/env bash
# bench-log.sh: the event log's disk cost and replay throughput.
#
# usage: tools/bench-log.sh [-B BUILDDIR] [-n EVENTS] [-s BYTES] [-k]
#   -B BUILDDIR  where ./firehosed and ./fh-bench are (default: the current
#                directory if it has them, else SRCDIR/build)
#   -n EVENTS    events to log (default 1000000)
#   -s BYTES     payload size (default 256)
#   -k           keep the temp dir
#
# A private firehosed with a state_dir on loopback; fh-bench fanin fills
# the log with EVENTS QoS 0 events; the daemon is stopped (the WAL is
# checkpointed) and the state file measured against an empty one; then,
# restarted, the whole log is read back: GET /v1/events paged by 10000
# (JSON, then NDJSON), and MQTT $replay/seq/0/# with mosquitto_sub at
# QoS 0 and 1. Prints events/s for each, and bytes per event on disk.
set -u

src=$(cd "$(dirname "$0")/.." && pwd)
builddir=
events=1000000
size=256
keep=0
while getopts "B:n:s:k" opt; do
	case $opt in
	B) builddir=$OPTARG ;;
	n) events=$OPTARG ;;
	s) size=$OPTARG ;;
	k) keep=1 ;;
	*) sed -n '2,16s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
if [ -z "$builddir" ]; then
	if [ -x ./fh-bench ]; then builddir=$(pwd); else builddir=$src/build; fi
fi
firehosed=${FIREHOSED:-$builddir/firehosed}
fhbench=${FH_BENCH:-$builddir/fh-bench}
for f in "$firehosed" "$fhbench" /usr/bin/python3 \
    "$(command -v mosquitto_sub)"; do
	[ -x "$f" ] || { echo "bench-log: $f not found" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/fh-bench-log.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	fi
	if [ "$keep" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); '\
's.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
web=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); '\
's.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$tmp/firehose.conf" <<EOF
[gateway]
log_level = warning
state_dir = $tmp/state
[broker]
anonymous_publish = true
sys_interval = 0
[listener bench]
protocol = mqtt
bind = 127.0.0.1:$port
[listener web]
protocol = ws
bind = 127.0.0.1:$web
[log]
max_size = 64G
EOF

start() {
	"$firehosed" -c "$tmp/firehose.conf" >>"$tmp/firehosed.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$web") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench-log: firehosed did not start" >&2
	tail -5 "$tmp/firehosed.log" >&2
	exit 1
}
stop() {
	kill -TERM "$pid"; wait "$pid"; pid=
}
dbsize() {
	du -b "$tmp"/state/firehose.db* | awk '{ s += $1 } END { print s }'
}
now() { date +%s.%N; }

echo "bench-log: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  $("$firehosed" --version 2>&1 | head -1); $events events of" \
    "$size bytes"

start
stop
empty=$(dbsize)
start
t0=$(now)
"$fhbench" -Q -p "$port" -b "$pid" -c 10 -n "$events" -s "$size" -d 600 \
    -w 1000 -t bench fanin | sed 's/^/  fill: /'
t1=$(now)
stop
full=$(dbsize)
echo "  fill: $events events in $(echo "$t1 - $t0" | bc) s"
echo "  disk: $full bytes ($empty empty): $(( (full - empty) / events ))" \
    "bytes per event for $size-byte payloads"

start
for accept in application/json application/x-ndjson; do
	/usr/bin/python3 - "$web" "$events" "$accept" <<'EOF'
import http.client, sys, time
port, want, accept = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
seq, n, nbytes, t0 = "0", 0, 0, time.time()
while seq is not None:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/v1/events?topic=bench/%23&limit=10000&seq=" + seq,
              headers={"Accept": accept})
    r = c.getresponse()
    body = r.read()
    nbytes += len(body)
    n += body.count(b'"seq":')
    seq = r.getheader("X-Firehose-Next")
    c.close()
dt = time.time() - t0
print("  /v1/events (%s): %d events, %d bytes in %.2f s: %.0f events/s"
      % (accept, n, nbytes, dt, n / dt))
if n != want:
    print("  /v1/events: %d events, want %d" % (n, want))
EOF
done
for qos in 0 1; do
	t0=$(now)
	got=$(mosquitto_sub -p "$port" -q "$qos" -C $((events + 1)) -W 600 \
	    -F '%t' -t '$replay/seq/0/bench/#' | wc -l)
	t1=$(now)
	echo "  \$replay/ QoS $qos (mosquitto_sub): $got messages in" \
	    "$(echo "$t1 - $t0" | bc) s: $(echo "$got / ($t1 - $t0)" | bc)" \
	    "events/s"
done
stop
echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
