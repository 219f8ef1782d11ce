#!/usr/bin/env bash
# bench-compare.sh: run fh-bench against a private firehosed and a private
# Mosquitto, alternately, in one run, and print the figures side by side
# with firehosed/mosquitto ratios.
#
# usage: tools/bench-compare.sh [-B BUILDDIR] [-r ROUNDS] [-q] [-s] [-d] [-l]
#                                [-5] [-k] [-S SCENARIOS] [-t THREADS] [-e]
#   -B BUILDDIR  where ./firehosed and ./fh-bench are (default: the current
#                directory if it has them, else SRCDIR/build)
#   -r ROUNDS    run every scenario ROUNDS times per broker; the table
#                shows the median (default 1)
#   -q           quick: small counts (a smoke run, figures meaningless)
#   -s           also run Mosquitto with its stock socket options (Nagle
#                on; by default it runs with set_tcp_nodelay true, which
#                is what firehosed does on every socket)
#   -d           durability instead: firehosed without and with
#                [gateway] state_dir, QoS 1 fan-out and fan-in to
#                persistent subscribers (fh-bench -q 1 -C); no Mosquitto
#   -l           the event log instead: firehosed with [log] off and on,
#                in memory and with state_dir (QoS 0 fan-out and fan-in
#                to clean sessions); no Mosquitto
#   -5           MQTT 5.0 beside 3.1.1: both brokers with fh-bench -V 5
#                clients too (the table's ratio: firehosed 5.0 / 3.1.1)
#   -k           keep the temp dir (configs, logs, raw RESULT lines)
#   -S LIST      run only these scenarios, e.g. -S fanout1k (default:
#                fanout fanin latency idle fanout1k)
#   -t LIST      also run firehosed with [gateway] threads = N for each N
#                in LIST, as columns firehosed-tN (-t "1 2"); without -t
#                the key is never written
#   -e           add a column "echo": fh-bench echo, a trivial relay that
#                copies every PUBLISH to every subscriber, the floor the
#                bench is measured against (its CPU is the broker CPU row)
#
# fanout1k is 1 publisher -> 1,000 subscribers, QoS 0, 256 bytes, with
# fh-bench's raw receivers (-R: plain sockets, 64 kB reads) so that the
# bench is not the bottleneck; the rows "broker CPU % of a core", "fh-bench
# CPU % of a core" and "busiest receiver % core" say which side was.
#
# Every broker is started fresh for every scenario, on a free loopback
# port, with its own config in a temp dir, and stopped by PID. Nothing is
# sent anywhere but 127.0.0.1. Environment: FIREHOSED, FH_BENCH and
# MOSQUITTO override the binaries.
set -u

src=$(cd "$(dirname "$0")/.." && pwd)
builddir=
rounds=1
quick=0
stock=0
keep=0
durable=0
logcmp=0
v5=0
only=
fhthreads=
echocol=0
while getopts "B:r:qsdl5kS:t:e" opt; do
	case $opt in
	B) builddir=$OPTARG ;;
	r) rounds=$OPTARG ;;
	q) quick=1 ;;
	s) stock=1 ;;
	d) durable=1 ;;
	l) logcmp=1 ;;
	5) v5=1 ;;
	k) keep=1 ;;
	S) only=$OPTARG ;;
	t) fhthreads=$OPTARG ;;
	e) echocol=1 ;;
	*) sed -n '2,44s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
if [ -z "$builddir" ]; then
	if [ -x ./fh-bench ]; then builddir=$(pwd); else builddir=$src/build; fi
fi
firehosed=${FIREHOSED:-$builddir/firehosed}
fhbench=${FH_BENCH:-$builddir/fh-bench}
mosquitto=${MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
for f in "$firehosed" "$fhbench" "$mosquitto"; do
	[ -x "$f" ] || { echo "bench-compare: $f not found (build first;" \
	    "apt-get install mosquitto libmosquitto-dev)" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/fh-bench-compare.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	fi
	if [ "$keep" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# fh-bench opens ~3 descriptors per client; the brokers inherit this too.
ulimit -n "$(ulimit -Hn)" 2>/dev/null

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); '\
's.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {	# wait_port PORT PID
	local i
	for i in $(seq 1 200); do
		kill -0 "$2" 2>/dev/null || return 1
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# Publishing: firehosed lets only authenticated users publish unless
# anonymous_publish = true. Use that when the broker knows the key, else
# a password-file user (the bench then logs in with it on both brokers).
auth_args=()
fh_auth="anonymous_publish = true"
printf '[broker]\n%s\n[listener a]\nprotocol = mqtt\nbind = 127.0.0.1:1\n' \
    "$fh_auth" > "$tmp/probe.conf"
if ! "$firehosed" -t -c "$tmp/probe.conf" >/dev/null 2>&1; then
	command -v mosquitto_passwd >/dev/null ||
		{ echo "bench-compare: need mosquitto_passwd" >&2; exit 2; }
	mosquitto_passwd -c -b "$tmp/passwd" bench bench-secret >/dev/null
	fh_auth="password_file = $tmp/passwd"
	auth_args=(-u bench -P bench-secret)
fi

start_broker() {	# start_broker NAME PORT -> sets pid
	local name=${1%-v5} port=$2
	case $name in
	firehosed|firehosed-durable|firehosed-nolog|firehosed-durable-nolog|\
	firehosed-t[0-9]*)
		state=
		case $name in firehosed-durable*)
			state="state_dir = $tmp/state-$port" ;;
		esac
		# -t: the loop count; no key at all otherwise
		threads=
		case $name in firehosed-t[0-9]*)
			threads="threads = ${name#firehosed-t}" ;;
		esac
		# the daemon's default (no log without state_dir) unless -l
		# compares the log off and on
		log=
		if [ "$logcmp" = 1 ]; then
			log="enabled = true"
			case $name in *-nolog) log="enabled = false" ;; esac
		fi
		cat > "$tmp/firehose.conf" <<-EOF
		[gateway]
		log_level = warning
		$state
		$threads
		[broker]
		allow_anonymous = true
		$fh_auth
		[listener bench]
		protocol = mqtt
		bind = 127.0.0.1:$port
		[log]
		$log
		EOF
		"$firehosed" -c "$tmp/firehose.conf" >>"$tmp/$name.log" 2>&1 &
		;;
	mosquitto|mosquitto-stock)
		{
			echo "listener $port 127.0.0.1"
			echo "allow_anonymous true"
			echo "persistence false"
			echo "log_dest stderr"
			echo "log_type error"
			echo "log_type warning"
			[ "$name" = mosquitto ] && echo "set_tcp_nodelay true"
		} > "$tmp/$name.conf"
		"$mosquitto" -c "$tmp/$name.conf" >>"$tmp/$name.log" 2>&1 &
		;;
	echo)
		"$fhbench" -Q -p "$port" echo >>"$tmp/$name.log" 2>&1 &
		;;
	esac
	pid=$!
	wait_port "$port" "$pid"
}

stop_broker() {
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}

# scenario name -> fh-bench arguments
if [ "$quick" = 1 ]; then
	declare -A args=(
		[fanout]="-c 10 -n 500 fanout"
		[fanin]="-c 10 -n 2000 fanin"
		[latency]="-c 10 -r 200 -n 200 -d 2 fanout"
		[idle]="-c 100 idle"
		[fanout1k]="-R -c 100 -n 300 fanout"
	)
else
	declare -A args=(
		[fanout]="-c 50 -n 20000 -w 100 -d 20 fanout"
		[fanin]="-c 50 -n 200000 -w 100 -d 20 fanin"
		[latency]="-c 50 -r 1000 -n 5000 -d 10 fanout"
		[idle]="-c 2000 idle"
		# time-bound: -d 5 ends publishing, whichever broker it is
		[fanout1k]="-R -T 1 -c 1000 -n 1000000 -w 100 -d 5 fanout"
	)
fi
scenarios="fanout fanin latency idle fanout1k"
brokers=firehosed
for t in $fhthreads; do
	case $t in *[!0-9]*|'') echo "bench-compare: -t: '$t'" >&2; exit 2 ;; esac
	brokers="$brokers firehosed-t$t"
done
brokers="$brokers mosquitto"
[ "$stock" = 1 ] && brokers="$brokers mosquitto-stock"
[ "$echocol" = 1 ] && brokers="$brokers echo"
ratio="firehosed mosquitto fh/mosq"
if [ "$durable" = 1 ]; then
	if [ "$quick" = 1 ]; then
		args[fanout]="-q 1 -C -c 5 -n 500 fanout"
		args[fanin]="-q 1 -C -c 10 -n 2000 fanin"
	else
		args[fanout]="-q 1 -C -c 10 -n 100000 -w 100 -d 20 fanout"
		args[fanin]="-q 1 -C -c 50 -n 200000 -w 100 -d 20 fanin"
	fi
	scenarios="fanout fanin"
	brokers="firehosed firehosed-durable"
	ratio="firehosed-durable firehosed dur/mem"
fi
if [ "$v5" = 1 ]; then
	scenarios="fanout fanin latency"
	brokers="firehosed firehosed-v5 mosquitto mosquitto-v5"
	ratio="firehosed-v5 firehosed v5/311"
fi
if [ "$logcmp" = 1 ]; then
	scenarios="fanout fanin"
	brokers="firehosed-nolog firehosed firehosed-durable-nolog"
	brokers="$brokers firehosed-durable"
	ratio="firehosed-durable firehosed-durable-nolog log/nolog"
fi
if [ -n "$only" ]; then
	for s in $only; do
		[ -n "${args[$s]:-}" ] ||
			{ echo "bench-compare: no scenario '$s'" >&2; exit 2; }
	done
	scenarios=$only
fi

{
	echo "bench-compare: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
	    "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
	echo "  $("$firehosed" --version 2>&1 | head -1);" \
	    "$("$mosquitto" -h 2>&1 | sed -n 's/^mosquitto version/mosquitto/p')"
	echo "  load average before: $(cut -d' ' -f1-3 /proc/loadavg)" \
	    "(figures are only worth comparing on an otherwise idle machine)"
	echo "  rounds $rounds; each broker fresh per scenario; firehosed" \
	    "publish auth: $fh_auth"
	echo "  firehosed commit: $(git -C "$src" rev-parse --short HEAD \
	    2>/dev/null || echo unknown); columns: $brokers"
	for s in $scenarios; do echo "  $s: fh-bench ${args[$s]}"; done
} | sed "s|$tmp|TMP|"

results=$tmp/results
: > "$results"
for r in $(seq 1 "$rounds"); do
	for s in $scenarios; do
		# Alternate who goes first from round to round.
		order=$brokers
		if [ $((r % 2)) = 0 ]; then
			order=$(echo "$brokers" | tr ' ' '\n' | tac | tr '\n' ' ')
		fi
		for b in $order; do
			port=$(free_port)
			if ! start_broker "$b" "$port"; then
				echo "round $r $s $b: broker did not start" >&2
				tail -5 "$tmp/$b.log" >&2
				stop_broker
				continue
			fi
			a=(${args[$s]})
			case $b in *-v5) a=(-V 5 "${a[@]}") ;; esac
			out=$("$fhbench" -Q -p "$port" -b "$pid" \
			    "${auth_args[@]}" "${a[@]}" 2>"$tmp/err")
			rc=$?
			stop_broker
			line=$(echo "$out" | grep '^RESULT ')
			if [ -z "$line" ]; then
				echo "round $r $s $b: fh-bench failed ($rc):" \
				    "$(head -3 "$tmp/err")" >&2
				continue
			fi
			[ "$rc" = 0 ] || echo "round $r $s $b: incomplete:" \
			    "$line" >&2
			echo "$b $s $line" >> "$results"
			printf '  round %s %-8s %-16s %s\n' "$r" "$s" "$b" \
			    "$(echo "$line" | sed 's/^RESULT scenario=[a-z]* //')"
		done
	done
done

echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# The table: medians over rounds, firehosed/mosquitto ratios.
awk -v brokers="$brokers" -v scenarios="$scenarios" -v ratio="$ratio" '
function median(key,   n, i, j, t, v) {
	n = cnt[key]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) v[i] = val[key, i]
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function add(b, s, k, v,   key) {
	key = b SUBSEP s SUBSEP k
	val[key, ++cnt[key]] = v
}
{
	b = $1; s = $2
	delete f
	for (i = 4; i <= NF; i++) {
		split($i, kv, "=")
		f[kv[1]] = kv[2]
		add(b, s, kv[1], kv[2])
	}
	# Who was the bottleneck: CPU use over the run, % of one core.
	if (f["seconds"] > 0 && f["broker_cpu_s"] >= 0)
		add(b, s, "broker_pct", 100 * f["broker_cpu_s"] / f["seconds"])
	if (f["seconds"] > 0 && f["bench_cpu_s"] != "")
		add(b, s, "bench_pct", 100 * f["bench_cpu_s"] / f["seconds"])
	if (f["delivered"] > 0 && f["bench_cpu_s"] != "")
		add(b, s, "bench_us", 1e6 * f["bench_cpu_s"] / f["delivered"])
	if (f["recv_reads"] > 0)
		add(b, s, "per_read", f["delivered"] / f["recv_reads"])
	if (f["seconds"] > 0 && f["recv_max_thread_cpu_s"] != "")
		add(b, s, "recv_pct",
		    100 * f["recv_max_thread_cpu_s"] / f["seconds"])
}
function row(s, k, label, scale, fmt,   line, i, v, fh, mq) {
	if (!((" " scenarios " ") ~ (" " s " ")))
		return
	line = sprintf("%-8s %-26s", s, label)
	for (i = 1; i <= nb; i++) {
		v = median(bl[i] SUBSEP s SUBSEP k)
		if (v == "" || v < 0) { line = line sprintf(" %14s", "-"); continue }
		line = line sprintf(" %14" fmt, v * scale)
		if (bl[i] == rt[1]) fh = v
		if (bl[i] == rt[2]) mq = v
	}
	if (fh != "" && mq != "" && fh >= 0 && mq > 0)
		line = line sprintf(" %8.2f", fh / mq)
	else
		line = line sprintf(" %8s", "-")
	print line
}
END {
	nb = split(brokers, bl, " ")
	split(ratio, rt, " ")
	hdr = sprintf("%-8s %-26s", "scenario", "figure")
	for (i = 1; i <= nb; i++) hdr = hdr sprintf(" %14s", bl[i])
	print ""
	print hdr sprintf(" %8s", rt[3])
	row("fanout", "msg_s", "delivered msg/s", 1, ".0f")
	row("fanout", "p50_us", "p50 latency ms", 0.001, ".2f")
	row("fanout", "p99_us", "p99 latency ms", 0.001, ".2f")
	row("fanout", "broker_cpu_us_per_msg", "broker CPU us/msg", 1, ".2f")
	row("fanout", "broker_pct", "broker CPU % of a core", 1, ".0f")
	row("fanout", "bench_pct", "fh-bench CPU % of a core", 1, ".0f")
	row("fanout", "broker_rss_kb", "broker RSS kB", 1, ".0f")
	row("fanout", "lost", "lost messages", 1, ".0f")
	row("fanin", "msg_s", "delivered msg/s", 1, ".0f")
	row("fanin", "p50_us", "p50 latency ms", 0.001, ".2f")
	row("fanin", "p99_us", "p99 latency ms", 0.001, ".2f")
	row("fanin", "broker_cpu_us_per_msg", "broker CPU us/msg", 1, ".2f")
	row("fanin", "broker_pct", "broker CPU % of a core", 1, ".0f")
	row("fanin", "bench_pct", "fh-bench CPU % of a core", 1, ".0f")
	row("fanin", "broker_rss_kb", "broker RSS kB", 1, ".0f")
	row("fanin", "lost", "lost messages", 1, ".0f")
	row("latency", "msg_s", "delivered msg/s (fixed)", 1, ".0f")
	row("latency", "p50_us", "p50 latency ms", 0.001, ".2f")
	row("latency", "p99_us", "p99 latency ms", 0.001, ".2f")
	row("latency", "broker_cpu_us_per_msg", "broker CPU us/msg", 1, ".2f")
	row("latency", "broker_pct", "broker CPU % of a core", 1, ".0f")
	row("latency", "bench_pct", "fh-bench CPU % of a core", 1, ".0f")
	row("fanout1k", "msg_s", "delivered msg/s", 1, ".0f")
	row("fanout1k", "p50_us", "p50 latency ms", 0.001, ".2f")
	row("fanout1k", "p99_us", "p99 latency ms", 0.001, ".2f")
	row("fanout1k", "broker_cpu_us_per_msg", "broker CPU us/msg", 1, ".2f")
	row("fanout1k", "broker_pct", "broker CPU % of a core", 1, ".0f")
	row("fanout1k", "bench_pct", "fh-bench CPU % of a core", 1, ".0f")
	row("fanout1k", "recv_pct", "busiest receiver % core", 1, ".0f")
	row("fanout1k", "bench_us", "fh-bench CPU us/msg", 1, ".3f")
	row("fanout1k", "per_read", "messages per receiver read", 1, ".1f")
	row("fanout1k", "broker_rss_kb", "broker RSS kB", 1, ".0f")
	row("fanout1k", "lost", "lost messages", 1, ".0f")
	row("idle", "rss_per_conn_kb", "broker RSS kB/connection", 1, ".2f")
	row("idle", "broker_rss_kb", "broker RSS kB", 1, ".0f")
}' "$results"
