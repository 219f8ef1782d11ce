#!/bin/sh
# Fan-out over every listener kind (mqtt, mqtts, ws, wss) with one client
# library (MQTT.js, tools/fh-bench-transport.js): a private firehosed on
# loopback with a throw-away CA, the same load on each listener, the
# client's delivery rate and latency and the broker's CPU time (from
# /proc) per run. Loopback only; bounded in count.
#   tools/bench-transports.sh [SUBS] [MSGS] [SIZE] [WINDOW]
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
bin=${FIREHOSED:-$src/build/firehosed}
subs=${1:-50} msgs=${2:-20000} size=${3:-256} window=${4:-200}
tmp=$(mktemp -d /tmp/fh-bench-transports.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

cd "$tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout ca.key -out ca.pem -subj /CN=bench-ca -days 1 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	-days 1 -out server.pem -extfile ext 2>/dev/null
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p1=$(port) p2=$(port) p3=$(port) p4=$(port)
cat > fh.conf <<CONF
[broker]
anonymous_publish = true
sys_interval = 0
[listener tcp]
bind = 127.0.0.1:$p1
[listener tls]
protocol = mqtts
bind = 127.0.0.1:$p2
cert_file = $tmp/server.pem
key_file = $tmp/server.key
[listener ws]
protocol = ws
bind = 127.0.0.1:$p3
[listener wss]
protocol = wss
bind = 127.0.0.1:$p4
cert_file = $tmp/server.pem
key_file = $tmp/server.key
CONF
"$bin" -c fh.conf >fh.log 2>&1 &
pid=$!
sleep 0.5
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
echo "fan-out: 1 publisher (tcp) -> $subs subscribers, $msgs messages of $size bytes, QoS 0"
for url in mqtt://127.0.0.1:$p1 mqtts://127.0.0.1:$p2 \
    ws://127.0.0.1:$p3/mqtt wss://127.0.0.1:$p4/mqtt; do
	c0=$(cpu)
	line=$(node "$src/tools/fh-bench-transport.js" --url "$url" \
		--pub-url "mqtt://127.0.0.1:$p1" --ca ca.pem --subs "$subs" \
		--msgs "$msgs" --size "$size" --window "$window" | tail -1)
	c1=$(cpu)
	echo "$line broker_cpu_s=$(echo "$c0 $c1 $hz" |
		awk '{ printf "%.2f", ($2 - $1) / $3 }')"
done
