/*
 * fh-bench: an MQTT load generator for firehosed (and any MQTT broker).
 *
 * Scenarios, all on loopback, all bounded in message count and time:
 *   fanout  1 publisher  -> N subscribers of one topic
 *   fanin   N publishers -> 1 subscriber (one topic per publisher, '+')
 *   idle    N connections that do nothing; broker RSS per connection
 *
 * Every payload carries the publisher index, a sequence number and a
 * CLOCK_MONOTONIC timestamp, so latency is measured end to end in this
 * process. Publishing is closed-loop: at most -w messages are in flight
 * (published but not yet seen by every subscriber), so no queue anywhere
 * grows without bound. Given the broker's PID (-b), the broker's CPU time
 * (utime+stime from /proc/PID/stat) and VmRSS (/proc/PID/status) are read
 * before and after the run.
 *
 * By default all clients share one thread and one poll() loop driven
 * through libmosquitto's external-loop API (mosquitto_socket,
 * mosquitto_loop_read, mosquitto_loop_write, mosquitto_loop_misc).
 * libmosquitto reads a packet with 3-4 read() calls, which makes the bench
 * as costly as the broker at high fan-out. -R ("raw") replaces the fanout
 * subscribers by plain sockets that send a hand-encoded MQTT 3.1.1 CONNECT
 * and SUBSCRIBE, then read 64 kB at a time and parse only what they need
 * of each packet (fixed header, topic length, the payload's first 24
 * bytes); -T spreads them over receiver threads, each with its own epoll.
 * The publisher stays libmosquitto, in the main thread.
 *
 * The "echo" scenario is no load at all but a trivial relay to measure the
 * bench against: it accepts MQTT clients, answers CONNECT and SUBSCRIBE,
 * and copies every QoS 0 PUBLISH it reads, as read, to every subscriber.
 *
 * The last line of output is machine readable:
 *   RESULT scenario=fanout key=value ...
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#define BENCH_MAGIC		0x31424846u	/* "FHB1" */
#define BENCH_HDR		24		/* magic, pub, seq, t_ns */
#define BENCH_READ_BURST	64		/* packets per readable socket */
#define BENCH_PUB_BURST		64		/* publishes per loop turn */
#define BENCH_KEEPALIVE		60
#define BENCH_SETUP_SECS	60.0		/* connect + subscribe phase */
#define BENCH_MAX_CLIENTS	100000
#define BENCH_MAX_THREADS	64

/* Raw receivers (-R). */
#define BENCH_RAW_CHUNK		65536		/* one read() */
#define BENCH_RAW_HEAD		1024		/* packet prefix kept across reads */
#define BENCH_RAW_EVENTS	256		/* epoll events per wait */
#define BENCH_RAW_HANDSHAKES	128		/* connecting at once, per thread */
#define BENCH_RAW_PING_SECS	30.0		/* < BENCH_KEEPALIVE */

/* Latency histogram: 1 us buckets to 1 ms, then 64 per power of two. */
#define BENCH_HIST_LIN		1024
#define BENCH_HIST_SUB		64
#define BENCH_HIST_N		(BENCH_HIST_LIN + 54 * BENCH_HIST_SUB)

enum bench_scenario {
	BENCH_FANOUT,
	BENCH_FANIN,
	BENCH_IDLE,
	BENCH_ECHO,
};

enum bench_role {
	BENCH_PUB,
	BENCH_SUB,
	BENCH_IDLER,
};

struct bench;

struct bench_client {
	struct bench		*b;
	struct mosquitto	*mosq;
	enum bench_role		 role;
	int			 idx;
	int			 connected;	/* CONNACK accepted */
	int			 subscribed;	/* SUBACK granted */
	int			 dead;		/* refused, lost or failed */
	uint64_t		 sent;		/* publisher: messages sent */
	uint64_t		 next_seq;	/* subscriber: highest seq + 1 */
	uint64_t		 recvd;
	char			*topic;		/* publisher: where to */
};

enum bench_raw_state {
	BENCH_RAW_CONNECTING,		/* TCP connect under way */
	BENCH_RAW_CONNACK,		/* CONNECT sent */
	BENCH_RAW_SUBACK,		/* SUBSCRIBE sent */
	BENCH_RAW_READY,
	BENCH_RAW_DEAD,
};

/* A raw subscriber: a socket and a tiny MQTT reader. */
struct bench_raw {
	struct bench_recv	*r;
	int			 fd;
	int			 idx;
	enum bench_raw_state	 state;
	uint64_t		 next_seq;	/* atomic: the publisher reads it */
	uint64_t		 recvd;
	size_t			 skip;		/* rest of a packet to discard */
	size_t			 hlen;		/* bytes in head */
	uint8_t			*head;		/* a packet's start, split */
};

/* A receiver thread: its subscribers, its epoll, its own accounting. */
struct bench_recv {
	struct bench		*b;
	pthread_t		 tid;
	int			 started;
	int			 ep;
	struct bench_raw	**subs;
	int			 nsubs;
	int			 nstarted;	/* connects begun */
	int			 handshaking;
	uint8_t			*buf;
	double			 t_ping;
	/* read by the main thread while running (atomic) */
	int			 ready;		/* subscribed */
	int			 failures;
	uint64_t		 delivered;
	uint64_t		 t_last_ns;
	/* merged after the threads have stopped */
	uint64_t		 reordered;
	uint64_t		 bad_payload;
	uint64_t		 nlat;
	uint64_t		 reads;		/* read() calls that got bytes */
	uint64_t		 reads0;	/* ... at the run's start */
	uint64_t		 hist[BENCH_HIST_N];
	double			 cpu0;		/* thread CPU at the run's start */
	double			 cpu;		/* thread CPU over the run */
};

struct bench_proc {
	double			 cpu;		/* utime + stime, seconds */
	long			 rss_kb;	/* VmRSS */
};

struct bench {
	/* options */
	enum bench_scenario	 scenario;
	const char		*host;
	int			 port;
	pid_t			 broker;
	int			 nclients;
	uint64_t		 count;
	double			 duration;
	double			 drain;
	size_t			 size;
	int			 qos;
	uint64_t		 window;
	double			 rate;
	const char		*user;
	const char		*pass;
	char			 prefix[96];
	int			 idle_subscribe;
	int			 persistent;
	int			 version;	/* MQTT_PROTOCOL_V311 or _V5 */
	int			 quiet;
	int			 raw;		/* -R: raw fanout subscribers */
	int			 nthreads;	/* -T: receiver threads */
	long			 coalesce_us;	/* -z: nap after a thin wake-up */

	/* raw receivers */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	struct bench_raw	*raws;
	struct bench_recv	*recvs;
	int			 wake_fd;	/* eventfd: window may be open */
	int			 pub_waiting;	/* atomic: main waits on wake_fd */
	int			 stop;		/* atomic: receivers exit */
	int			 raw_stopped;	/* joined and merged */
	uint64_t		 raw_reads;	/* in the run, every thread */

	/* clients: fanout = 1 pub + N subs, fanin = N pubs + 1 sub */
	struct bench_client	*clients;
	int			 nall;
	struct pollfd		*pfd;
	int			*pmap;
	uint8_t			*payload;

	/* counters */
	uint64_t		 published;
	uint64_t		 delivered;
	uint64_t		 reordered;
	uint64_t		 bad_payload;
	uint64_t		 floor;		/* fanout: min next_seq of subs;
						 * atomic store (receivers read) */
	uint64_t		*next_from;	/* fanin: per publisher */
	int			 failures;
	double			 t_start;
	double			 t_last_delivery;
	double			 t_last_progress;
	double			 t_misc;
	uint64_t		 hist[BENCH_HIST_N];
	uint64_t		 nlat;
};

static double
bench_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
bench_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
    noreturn));

static void
bench_die(const char *fmt, ...)
{
	va_list	ap;

	fputs("fh-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *
bench_calloc(size_t n, size_t size)
{
	void	*p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL)
		bench_die("out of memory");
	return p;
}

static char *
bench_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
bench_asprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		bench_die("out of memory");
	va_end(ap);
	return s;
}

/* --- latency histogram --------------------------------------------- */

static size_t
bench_hist_bucket(uint64_t us)
{
	int	e;

	if (us < BENCH_HIST_LIN)
		return (size_t)us;
	e = 63 - __builtin_clzll(us);	/* >= 10 */
	return BENCH_HIST_LIN + (size_t)(e - 10) * BENCH_HIST_SUB +
	    (size_t)((us >> (e - 6)) & (BENCH_HIST_SUB - 1));
}

static uint64_t
bench_hist_value(size_t bucket)
{
	size_t	e, sub;

	if (bucket < BENCH_HIST_LIN)
		return bucket;
	e = (bucket - BENCH_HIST_LIN) / BENCH_HIST_SUB + 10;
	sub = (bucket - BENCH_HIST_LIN) % BENCH_HIST_SUB;
	return (uint64_t)(BENCH_HIST_SUB + sub) << (e - 6);
}

static uint64_t
bench_percentile(const struct bench *b, double p)
{
	uint64_t	target, seen = 0;
	size_t		i;

	if (b->nlat == 0)
		return 0;
	target = (uint64_t)ceil(p * (double)b->nlat);
	if (target == 0)
		target = 1;
	for (i = 0; i < BENCH_HIST_N; i++) {
		seen += b->hist[i];
		if (seen >= target)
			return bench_hist_value(i);
	}
	return bench_hist_value(BENCH_HIST_N - 1);
}

/* --- /proc ------------------------------------------------------------- */

static int
bench_proc_read(pid_t pid, struct bench_proc *pr)
{
	char		 path[64], buf[4096], *p;
	unsigned long	 ut, st;
	FILE		*f;
	size_t		 n;

	pr->cpu = -1;
	pr->rss_kb = -1;
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after "(comm)": 3 state ... 14 utime 15 stime. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1,
	    " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	    &ut, &st) != 2)
		return -1;
	pr->cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(buf, sizeof buf, f) != NULL)
		if (strncmp(buf, "VmRSS:", 6) == 0)
			pr->rss_kb = strtol(buf + 6, NULL, 10);
	fclose(f);
	return 0;
}

static double
bench_self_cpu(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* --- payload ----------------------------------------------------------- */

static void
bench_payload_put(uint8_t *p, uint32_t pub, uint64_t seq, uint64_t t_ns)
{
	uint32_t	magic = BENCH_MAGIC;

	memcpy(p, &magic, 4);
	memcpy(p + 4, &pub, 4);
	memcpy(p + 8, &seq, 8);
	memcpy(p + 16, &t_ns, 8);
}

static int
bench_payload_get(const void *data, int len, uint32_t *pub, uint64_t *seq,
    uint64_t *t_ns)
{
	const uint8_t	*p = data;
	uint32_t	 magic;

	if (len < BENCH_HDR)
		return -1;
	memcpy(&magic, p, 4);
	if (magic != BENCH_MAGIC)
		return -1;
	memcpy(pub, p + 4, 4);
	memcpy(seq, p + 8, 8);
	memcpy(t_ns, p + 16, 8);
	return 0;
}

/* --- callbacks --------------------------------------------------------- */

static void
bench_fail(struct bench_client *c, const char *what, int rc)
{
	struct bench	*b = c->b;

	if (c->dead)
		return;
	c->dead = 1;
	b->failures++;
	if (b->failures <= 5)
		fprintf(stderr, "fh-bench: client %c%d: %s: %s\n",
		    c->role == BENCH_PUB ? 'p' : c->role == BENCH_SUB ? 's' :
		    'i', c->idx, what, rc > 0 && rc < 256 ?
		    mosquitto_strerror(rc) : "failed");
	else if (b->failures == 6)
		fprintf(stderr, "fh-bench: (further client errors not shown)\n");
}

static void
bench_connect_cb(struct mosquitto *mosq, void *arg, int rc)
{
	struct bench_client	*c = arg;

	(void)mosq;
	if (rc != 0) {
		fprintf(stderr, "fh-bench: CONNACK %d (%s)\n", rc,
		    mosquitto_connack_string(rc));
		bench_fail(c, "connection refused", 0);
		return;
	}
	c->connected = 1;
}

static void
bench_disconnect_cb(struct mosquitto *mosq, void *arg, int rc)
{
	struct bench_client	*c = arg;

	(void)mosq;
	if (rc != 0)
		bench_fail(c, "connection lost", rc);
	c->dead = 1;
}

static void
bench_subscribe_cb(struct mosquitto *mosq, void *arg, int mid, int n,
    const int *granted)
{
	struct bench_client	*c = arg;

	(void)mosq;
	(void)mid;
	if (n < 1 || granted[0] > 2) {
		bench_fail(c, "subscription refused", 0);
		return;
	}
	c->subscribed = 1;
}

static void
bench_message_cb(struct mosquitto *mosq, void *arg,
    const struct mosquitto_message *m)
{
	struct bench_client	*c = arg;
	struct bench		*b = c->b;
	uint64_t		 seq, t_ns, now_ns, us, *next;
	uint32_t		 pub;

	(void)mosq;
	if (bench_payload_get(m->payload, m->payloadlen, &pub, &seq,
	    &t_ns) != 0) {
		b->bad_payload++;
		return;
	}
	if (b->scenario == BENCH_FANOUT)
		next = &c->next_seq;
	else if (b->scenario == BENCH_FANIN && pub < (uint32_t)b->nclients)
		next = &b->next_from[pub];
	else {
		b->bad_payload++;
		return;
	}
	if (seq + 1 > *next)
		*next = seq + 1;
	else
		b->reordered++;
	now_ns = bench_now_ns();
	us = now_ns > t_ns ? (now_ns - t_ns) / 1000 : 0;
	b->hist[bench_hist_bucket(us)]++;
	b->nlat++;
	c->recvd++;
	b->delivered++;
	b->t_last_delivery = b->t_last_progress = (double)now_ns / 1e9;
}

/* --- the loop ---------------------------------------------------------- */

static void
bench_read(struct bench_client *c)
{
	int	i, rc;

	for (i = 0; i < BENCH_READ_BURST && !c->dead; i++) {
		errno = 0;
		rc = mosquitto_loop_read(c->mosq, 1);
		if (rc != MOSQ_ERR_SUCCESS) {
			bench_fail(c, "read", rc);
			return;
		}
		/* libmosquitto reads one packet per call here; stop once
		 * the socket is drained (it leaves errno at EAGAIN). */
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
	}
}

static void
bench_misc(struct bench *b)
{
	struct bench_client	*c;
	int			 i, rc;

	for (i = 0; i < b->nall; i++) {
		c = &b->clients[i];
		if (c->mosq == NULL || c->dead)
			continue;
		rc = mosquitto_loop_misc(c->mosq);
		if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
			bench_fail(c, "keepalive", rc);
	}
}

static void
bench_pump(struct bench *b, int timeout_ms)
{
	struct bench_client	*c;
	int			 i, n = 0, fd, r, rc;
	double			 now;

	for (i = 0; i < b->nall; i++) {
		c = &b->clients[i];
		if (c->mosq == NULL || c->dead ||
		    (fd = mosquitto_socket(c->mosq)) < 0)
			continue;
		b->pfd[n].fd = fd;
		b->pfd[n].events = POLLIN;
		if (mosquitto_want_write(c->mosq))
			b->pfd[n].events |= POLLOUT;
		b->pfd[n].revents = 0;
		b->pmap[n++] = i;
	}
	if (b->raw && b->recvs != NULL) {
		b->pfd[n].fd = b->wake_fd;
		b->pfd[n].events = POLLIN;
		b->pfd[n].revents = 0;
		b->pmap[n++] = -1;
	}
	r = poll(b->pfd, (nfds_t)n, timeout_ms);
	if (r < 0 && errno != EINTR)
		bench_die("poll: %s", strerror(errno));
	for (i = 0; r > 0 && i < n; i++) {
		if (b->pfd[i].revents == 0)
			continue;
		if (b->pmap[i] < 0) {
			uint64_t	v;

			if (read(b->wake_fd, &v, sizeof v) < 0 &&
			    errno != EAGAIN)
				bench_die("eventfd: %s", strerror(errno));
			continue;
		}
		c = &b->clients[b->pmap[i]];
		if (b->pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
			bench_read(c);
		if (!c->dead && (b->pfd[i].revents & POLLOUT) &&
		    (rc = mosquitto_loop_write(c->mosq, 1)) != 0)
			bench_fail(c, "write", rc);
	}
	now = bench_now();
	if (now - b->t_misc >= 1.0) {
		b->t_misc = now;
		bench_misc(b);
	}
}

/* Pump until every live client of the given kind satisfies pred. */
static int
bench_wait(struct bench *b, int (*pred)(const struct bench_client *),
    double secs)
{
	double	deadline = bench_now() + secs;
	int	i, pending;

	for (;;) {
		pending = 0;
		for (i = 0; i < b->nall; i++)
			if (b->clients[i].mosq != NULL &&
			    !b->clients[i].dead && !pred(&b->clients[i]))
				pending++;
		if (pending == 0)
			return 0;
		if (bench_now() > deadline) {
			fprintf(stderr, "fh-bench: %d clients not ready after "
			    "%.0f s\n", pending, secs);
			return -1;
		}
		bench_pump(b, 50);
	}
}

static int
bench_is_connected(const struct bench_client *c)
{
	return c->connected;
}

static int
bench_is_subscribed(const struct bench_client *c)
{
	return c->role == BENCH_PUB || c->subscribed;
}

/* --- raw receivers (-R) ------------------------------------------------ */

static size_t
bench_raw_varint(uint8_t *p, size_t n)
{
	size_t	i = 0;

	do {
		p[i] = (uint8_t)(n & 0x7f);
		n >>= 7;
		if (n > 0)
			p[i] |= 0x80;
		i++;
	} while (n > 0);
	return i;
}

static size_t
bench_raw_str(uint8_t *p, const char *s)
{
	size_t	n = strlen(s);

	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
	memcpy(p + 2, s, n);
	return n + 2;
}

/* CONNECT (3.1.1), then SUBSCRIBE to the fanout topic at QoS 0. */
static size_t
bench_raw_connect(const struct bench *b, int idx, uint8_t *out)
{
	uint8_t	body[1024];
	char	id[64];
	size_t	n = 0, h;

	snprintf(id, sizeof id, "fhb-%ld-r%d", (long)getpid(), idx);
	n += bench_raw_str(body + n, "MQTT");
	body[n++] = 4;
	body[n++] = (uint8_t)((b->persistent ? 0 : 0x02) |
	    (b->user != NULL ? 0x80 : 0) | (b->pass != NULL ? 0x40 : 0));
	body[n++] = 0;
	body[n++] = BENCH_KEEPALIVE;
	n += bench_raw_str(body + n, id);
	if (b->user != NULL)
		n += bench_raw_str(body + n, b->user);
	if (b->pass != NULL)
		n += bench_raw_str(body + n, b->pass);
	out[0] = 0x10;
	h = 1 + bench_raw_varint(out + 1, n);
	memcpy(out + h, body, n);
	return h + n;
}

static size_t
bench_raw_subscribe(const struct bench *b, uint8_t *out)
{
	uint8_t	body[256];
	char	topic[160];
	size_t	n = 0, h;

	snprintf(topic, sizeof topic, "%s/fanout", b->prefix);
	body[n++] = 0;
	body[n++] = 1;			/* packet id */
	n += bench_raw_str(body + n, topic);
	body[n++] = 0;			/* QoS 0 */
	out[0] = 0x82;
	h = 1 + bench_raw_varint(out + 1, n);
	memcpy(out + h, body, n);
	return h + n;
}

/*
 * The size of the packet starting at p (*total), its fixed header's
 * (*hdr), and how much of it must be seen at once (*need): all of a
 * small control packet; of a PUBLISH, up to the payload's first
 * BENCH_HDR bytes. Returns 1, 0 when n is too short to say, -1 when the
 * bytes are no MQTT packet this reader takes.
 */
static int
bench_raw_inspect(const uint8_t *p, size_t n, size_t *total, size_t *hdr,
    size_t *need)
{
	size_t	rl = 0, i, tl;
	int	shift = 0;

	for (i = 1;; i++) {
		if (i > 4)
			return -1;
		if (i >= n)
			return 0;
		rl |= (size_t)(p[i] & 0x7f) << shift;
		shift += 7;
		if ((p[i] & 0x80) == 0)
			break;
	}
	*hdr = i + 1;
	*total = *hdr + rl;
	if ((p[0] >> 4) != 3) {
		*need = *total;
		return *need > BENCH_RAW_HEAD ? -1 : 1;
	}
	if (n < *hdr + 2)
		return 0;
	tl = (size_t)p[*hdr] << 8 | p[*hdr + 1];
	*need = *hdr + 2 + tl + (((p[0] >> 1) & 3) != 0 ? 2 : 0) + BENCH_HDR;
	if (*need > *total)
		*need = *total;
	return *need > BENCH_RAW_HEAD ? -1 : 1;
}

/* The publisher's thread reads state (a dead one is out of the floor). */
static void
bench_raw_set(struct bench_raw *s, enum bench_raw_state st)
{
	__atomic_store_n(&s->state, st, __ATOMIC_RELAXED);
}

static void
bench_raw_fail(struct bench_raw *s, const char *what)
{
	struct bench_recv	*r = s->r;
	int			 n;

	if (s->state == BENCH_RAW_DEAD)
		return;
	if (s->state != BENCH_RAW_READY)
		r->handshaking--;
	bench_raw_set(s, BENCH_RAW_DEAD);
	close(s->fd);
	s->fd = -1;
	n = __atomic_add_fetch(&r->failures, 1, __ATOMIC_SEQ_CST);
	if (n <= 5)
		fprintf(stderr, "fh-bench: raw subscriber %d: %s\n", s->idx,
		    what);
}

static int
bench_raw_send(struct bench_raw *s, const uint8_t *p, size_t n)
{
	ssize_t	w;

	/* A few bytes on a socket with an empty send buffer. */
	w = write(s->fd, p, n);
	if (w != (ssize_t)n) {
		bench_raw_fail(s, w < 0 ? strerror(errno) : "short write");
		return -1;
	}
	return 0;
}

/* One packet, whose first need bytes are at p. */
static void
bench_raw_packet(struct bench_raw *s, const uint8_t *p, size_t total,
    size_t hdr, size_t need, uint64_t now_ns)
{
	struct bench_recv	*r = s->r;
	uint8_t			 out[256];
	uint64_t		 seq, t_ns, us;
	uint32_t		 pub;
	size_t			 off;

	(void)need;
	switch (p[0] >> 4) {
	case 3:		/* PUBLISH */
		off = hdr + 2 + ((size_t)p[hdr] << 8 | p[hdr + 1]) +
		    (((p[0] >> 1) & 3) != 0 ? 2 : 0);
		if (off > total || bench_payload_get(p + off,
		    (int)(total - off), &pub, &seq, &t_ns) != 0 || pub != 0) {
			r->bad_payload++;
			return;
		}
		if (seq + 1 > s->next_seq)
			__atomic_store_n(&s->next_seq, seq + 1,
			    __ATOMIC_RELAXED);
		else
			r->reordered++;
		us = now_ns > t_ns ? (now_ns - t_ns) / 1000 : 0;
		r->hist[bench_hist_bucket(us)]++;
		r->nlat++;
		s->recvd++;
		/* this thread is the only writer; the publisher reads it */
		__atomic_store_n(&r->delivered, r->delivered + 1,
		    __ATOMIC_RELAXED);
		return;
	case 2:		/* CONNACK */
		if (s->state != BENCH_RAW_CONNACK || total != 4 || p[3] != 0) {
			if (total == 4)
				fprintf(stderr, "fh-bench: CONNACK %d\n", p[3]);
			bench_raw_fail(s, "connection refused");
			return;
		}
		if (bench_raw_send(s, out, bench_raw_subscribe(r->b, out)) == 0)
			bench_raw_set(s, BENCH_RAW_SUBACK);
		return;
	case 9:		/* SUBACK */
		if (s->state != BENCH_RAW_SUBACK || total != 5 || p[4] > 2) {
			bench_raw_fail(s, "subscription refused");
			return;
		}
		bench_raw_set(s, BENCH_RAW_READY);
		r->handshaking--;
		__atomic_add_fetch(&r->ready, 1, __ATOMIC_SEQ_CST);
		return;
	case 13:	/* PINGRESP */
		return;
	default:
		bench_raw_fail(s, "unexpected packet");
		return;
	}
}

/* Walk the bytes read; keep a split packet's start in s->head. */
static void
bench_raw_parse(struct bench_raw *s, const uint8_t *p, size_t len,
    uint64_t now_ns)
{
	size_t	total, hdr, need, c, used;
	int	rc;

	while (len > 0 && s->state != BENCH_RAW_DEAD) {
		if (s->skip > 0) {
			c = s->skip < len ? s->skip : len;
			s->skip -= c;
			p += c;
			len -= c;
			continue;
		}
		if (s->hlen == 0) {
			rc = bench_raw_inspect(p, len, &total, &hdr, &need);
			if (rc > 0 && len >= need) {
				bench_raw_packet(s, p, total, hdr, need,
				    now_ns);
				if (len >= total) {
					p += total;
					len -= total;
				} else {
					s->skip = total - len;
					len = 0;
				}
				continue;
			}
			if (rc < 0 || len >= BENCH_RAW_HEAD) {
				bench_raw_fail(s, "malformed packet");
				return;
			}
			if (s->head == NULL)
				s->head = bench_calloc(1, BENCH_RAW_HEAD);
			memcpy(s->head, p, len);
			s->hlen = len;
			return;
		}
		c = BENCH_RAW_HEAD - s->hlen < len ? BENCH_RAW_HEAD - s->hlen :
		    len;
		memcpy(s->head + s->hlen, p, c);
		rc = bench_raw_inspect(s->head, s->hlen + c, &total, &hdr,
		    &need);
		if (rc > 0 && s->hlen + c >= need) {
			bench_raw_packet(s, s->head, total, hdr, need, now_ns);
			/* head held fewer than need <= total bytes before */
			used = total - s->hlen;
			s->hlen = 0;
			if (used <= len) {
				p += used;
				len -= used;
			} else {
				s->skip = used - len;
				len = 0;
			}
			continue;
		}
		if (rc < 0 || s->hlen + c >= BENCH_RAW_HEAD) {
			bench_raw_fail(s, "malformed packet");
			return;
		}
		s->hlen += c;
		p += c;
		len -= c;
	}
}

static void
bench_raw_start(struct bench_recv *r, struct bench_raw *s)
{
	struct epoll_event	ev;
	int			fd;

	r->nstarted++;
	r->handshaking++;
	fd = socket(r->b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0) {
		s->fd = -1;
		bench_raw_fail(s, strerror(errno));
		return;
	}
	s->fd = fd;
	if (connect(fd, (struct sockaddr *)&r->b->addr, r->b->addrlen) != 0 &&
	    errno != EINPROGRESS) {
		bench_raw_fail(s, strerror(errno));
		return;
	}
	bench_raw_set(s, BENCH_RAW_CONNECTING);
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = s;
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		bench_raw_fail(s, strerror(errno));
}

static void
bench_raw_event(struct bench_recv *r, struct bench_raw *s, uint32_t events,
    uint64_t now_ns)
{
	struct epoll_event	ev;
	uint8_t			out[1200];
	socklen_t		sl = sizeof(int);
	ssize_t			n;
	int			err = 0;

	if (s->state == BENCH_RAW_CONNECTING) {
		if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0)
			return;
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0 ||
		    err != 0) {
			bench_raw_fail(s, strerror(err != 0 ? err : errno));
			return;
		}
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN;
		ev.data.ptr = s;
		if (epoll_ctl(r->ep, EPOLL_CTL_MOD, s->fd, &ev) != 0) {
			bench_raw_fail(s, strerror(errno));
			return;
		}
		if (bench_raw_send(s, out, bench_raw_connect(r->b, s->idx,
		    out)) == 0)
			bench_raw_set(s, BENCH_RAW_CONNACK);
		return;
	}
	if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) == 0)
		return;
	/* One read per wake-up: level-triggered epoll comes back for the
	 * rest, and every socket gets its turn. */
	n = read(s->fd, r->buf, BENCH_RAW_CHUNK);
	if (n > 0) {
		__atomic_store_n(&r->reads, r->reads + 1, __ATOMIC_RELAXED);
		bench_raw_parse(s, r->buf, (size_t)n, now_ns);
	}
	else if (n == 0)
		bench_raw_fail(s, "connection closed by the broker");
	else if (errno != EAGAIN && errno != EINTR)
		bench_raw_fail(s, strerror(errno));
}

static void *
bench_raw_thread(void *arg)
{
	struct bench_recv	*r = arg;
	struct bench		*b = r->b;
	struct epoll_event	 ev[BENCH_RAW_EVENTS];
	struct bench_raw	*s;
	uint64_t		 now_ns, floor, one = 1;
	double			 now;
	int			 i, n, wake, dead0;

	r->t_ping = bench_now();
	while (!__atomic_load_n(&b->stop, __ATOMIC_RELAXED)) {
		while (r->handshaking < BENCH_RAW_HANDSHAKES &&
		    r->nstarted < r->nsubs)
			bench_raw_start(r, r->subs[r->nstarted]);
		n = epoll_wait(r->ep, ev, BENCH_RAW_EVENTS, 100);
		if (n < 0 && errno != EINTR)
			bench_die("epoll_wait: %s", strerror(errno));
		/* One clock reading per batch: these bytes were all in the
		 * socket buffers when epoll_wait returned. */
		now_ns = bench_now_ns();
		floor = __atomic_load_n(&b->floor, __ATOMIC_RELAXED);
		dead0 = __atomic_load_n(&r->failures, __ATOMIC_RELAXED);
		wake = 0;
		for (i = 0; i < n; i++) {
			s = ev[i].data.ptr;
			if (s->next_seq <= floor)
				wake = 1;
			bench_raw_event(r, s, ev[i].events, now_ns);
		}
		if (n > 0) {
			__atomic_store_n(&r->delivered, r->delivered,
			    __ATOMIC_RELAXED);
			__atomic_store_n(&r->t_last_ns, now_ns,
			    __ATOMIC_RELAXED);
		}
		/* The publisher waits for the slowest subscriber: wake it
		 * when one that was at the floor moved (or one died). Its
		 * side: store pub_waiting, fence, read every next_seq. */
		if (wake || __atomic_load_n(&r->failures, __ATOMIC_RELAXED) !=
		    dead0) {
			/* an RMW for the fence (ThreadSanitizer has no
			 * fences) */
			if (__atomic_fetch_add(&b->pub_waiting, 0,
			    __ATOMIC_SEQ_CST) &&
			    __atomic_exchange_n(&b->pub_waiting, 0,
			    __ATOMIC_SEQ_CST) &&
			    write(b->wake_fd, &one, sizeof one) < 0)
				bench_die("eventfd: %s", strerror(errno));
		}
		/* -z: a wake-up that found few sockets ready cost a
		 * syscall or two per packet; nap so that the next one
		 * finds more bytes per socket (latency grows by the nap). */
		if (b->coalesce_us > 0 && n > 0 && n < BENCH_RAW_EVENTS / 8 &&
		    r->handshaking == 0) {
			struct timespec nap = { 0, b->coalesce_us * 1000 };

			nanosleep(&nap, NULL);
		}
		now = bench_now();
		if (now - r->t_ping >= BENCH_RAW_PING_SECS) {
			static const uint8_t ping[2] = { 0xc0, 0x00 };

			r->t_ping = now;
			for (i = 0; i < r->nsubs; i++)
				if (r->subs[i]->state == BENCH_RAW_READY)
					(void)bench_raw_send(r->subs[i], ping,
					    sizeof ping);
		}
	}
	return NULL;
}

static double
bench_thread_cpu(pthread_t tid)
{
	struct timespec	ts;
	clockid_t	cid;

	if (pthread_getcpuclockid(tid, &cid) != 0 ||
	    clock_gettime(cid, &ts) != 0)
		return -1;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
bench_resolve(struct bench *b)
{
	struct addrinfo	 hints, *res;
	char		 port[16];
	int		 rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof port, "%d", b->port);
	if ((rc = getaddrinfo(b->host, port, &hints, &res)) != 0)
		bench_die("%s: %s", b->host, gai_strerror(rc));
	memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
	b->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
}

/* Start the receiver threads; they connect and subscribe on their own. */
static void
bench_raw_setup(struct bench *b)
{
	struct bench_recv	*r;
	int			 i, t;

	bench_resolve(b);
	if ((b->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		bench_die("eventfd: %s", strerror(errno));
	b->raws = bench_calloc((size_t)b->nclients, sizeof *b->raws);
	b->recvs = bench_calloc((size_t)b->nthreads, sizeof *b->recvs);
	for (t = 0; t < b->nthreads; t++) {
		r = &b->recvs[t];
		r->b = b;
		r->subs = bench_calloc((size_t)b->nclients / (size_t)b->nthreads
		    + 1, sizeof *r->subs);
		r->buf = bench_calloc(1, BENCH_RAW_CHUNK);
		if ((r->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
			bench_die("epoll_create1: %s", strerror(errno));
	}
	for (i = 0; i < b->nclients; i++) {
		r = &b->recvs[i % b->nthreads];
		b->raws[i].r = r;
		b->raws[i].idx = i;
		b->raws[i].fd = -1;
		r->subs[r->nsubs++] = &b->raws[i];
	}
	for (t = 0; t < b->nthreads; t++) {
		if (pthread_create(&b->recvs[t].tid, NULL, bench_raw_thread,
		    &b->recvs[t]) != 0)
			bench_die("pthread_create failed");
		b->recvs[t].started = 1;
	}
}

static int
bench_raw_failures(struct bench *b)
{
	int	t, n = 0;

	for (t = 0; t < b->nthreads; t++)
		n += __atomic_load_n(&b->recvs[t].failures, __ATOMIC_SEQ_CST);
	return n;
}

static int
bench_raw_wait(struct bench *b, double secs)
{
	double	deadline = bench_now() + secs;
	int	t, ready;

	for (;;) {
		ready = 0;
		for (t = 0; t < b->nthreads; t++)
			ready += __atomic_load_n(&b->recvs[t].ready,
			    __ATOMIC_SEQ_CST);
		if (bench_raw_failures(b) > 0)
			return -1;
		if (ready == b->nclients)
			return 0;
		if (bench_now() > deadline) {
			fprintf(stderr, "fh-bench: %d raw subscribers not "
			    "ready after %.0f s\n", b->nclients - ready, secs);
			return -1;
		}
		bench_pump(b, 10);
	}
}

/* While running: deliveries and the last one's time, into b. */
static void
bench_raw_sync(struct bench *b)
{
	uint64_t	sum = 0, last = 0, t_ns;
	int		t;

	for (t = 0; t < b->nthreads; t++) {
		sum += __atomic_load_n(&b->recvs[t].delivered,
		    __ATOMIC_RELAXED);
		t_ns = __atomic_load_n(&b->recvs[t].t_last_ns,
		    __ATOMIC_RELAXED);
		if (t_ns > last)
			last = t_ns;
	}
	if (sum > b->delivered) {
		b->delivered = sum;
		b->t_last_delivery = (double)last / 1e9;
		if (b->t_last_delivery > b->t_last_progress)
			b->t_last_progress = b->t_last_delivery;
	}
}

static void
bench_raw_cpu_mark(struct bench *b)
{
	int	t;

	for (t = 0; t < b->nthreads; t++) {
		b->recvs[t].cpu0 = bench_thread_cpu(b->recvs[t].tid);
		b->recvs[t].reads0 = __atomic_load_n(&b->recvs[t].reads,
		    __ATOMIC_RELAXED);
	}
}

/* The threads' CPU time since bench_raw_cpu_mark. */
static void
bench_raw_cpu_end(struct bench *b)
{
	int	t;

	for (t = 0; t < b->nthreads; t++)
		b->recvs[t].cpu = bench_thread_cpu(b->recvs[t].tid) -
		    b->recvs[t].cpu0;
}

/* Stop the threads and merge their accounting. */
static void
bench_raw_stop(struct bench *b)
{
	struct bench_recv	*r;
	int			 t;
	size_t			 i;

	if (b->recvs == NULL || b->raw_stopped)
		return;
	b->raw_stopped = 1;
	__atomic_store_n(&b->stop, 1, __ATOMIC_SEQ_CST);
	for (t = 0; t < b->nthreads; t++) {
		r = &b->recvs[t];
		if (!r->started)
			continue;
		pthread_join(r->tid, NULL);
		r->started = 0;
	}
	bench_raw_sync(b);
	for (t = 0; t < b->nthreads; t++) {
		r = &b->recvs[t];
		b->reordered += r->reordered;
		b->bad_payload += r->bad_payload;
		b->nlat += r->nlat;
		b->raw_reads += r->reads - r->reads0;
		for (i = 0; i < BENCH_HIST_N; i++)
			b->hist[i] += r->hist[i];
	}
	b->failures += bench_raw_failures(b);
}

static void
bench_raw_teardown(struct bench *b)
{
	static const uint8_t	disconnect[2] = { 0xe0, 0x00 };
	struct bench_raw	*s;
	int			 i, t;

	if (b->recvs == NULL)
		return;
	bench_raw_stop(b);
	for (i = 0; i < b->nclients; i++) {
		s = &b->raws[i];
		if (s->fd >= 0) {
			if (s->state == BENCH_RAW_READY &&
			    write(s->fd, disconnect, sizeof disconnect) < 0)
				s->state = BENCH_RAW_DEAD;	/* closing anyway */
			close(s->fd);
		}
		free(s->head);
	}
	for (t = 0; t < b->nthreads; t++) {
		close(b->recvs[t].ep);
		free(b->recvs[t].subs);
		free(b->recvs[t].buf);
	}
	free(b->raws);
	free(b->recvs);
	b->recvs = NULL;
	close(b->wake_fd);
}

/* --- setup ------------------------------------------------------------- */

static void
bench_check_loopback(const char *host)
{
	struct addrinfo	 hints, *res, *ai;
	int		 rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0)
		bench_die("%s: %s", host, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			const struct sockaddr_in *sin =
			    (const struct sockaddr_in *)(void *)ai->ai_addr;

			if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127)
				continue;
		} else if (ai->ai_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 =
			    (const struct sockaddr_in6 *)(void *)ai->ai_addr;

			if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
				continue;
		}
		bench_die("%s is not a loopback address; fh-bench only "
		    "loads brokers on this machine", host);
	}
	freeaddrinfo(res);
}

static void
bench_raise_nofile(int need)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* libmosquitto holds a socket pair per client besides its socket. */
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)need * 3 + 32 > rl.rlim_cur)
		fprintf(stderr, "fh-bench: warning: %d clients need about %d "
		    "file descriptors, the limit is %lu\n", need, need * 3 + 32,
		    (unsigned long)rl.rlim_cur);
}

static int
bench_client_init(struct bench *b, struct bench_client *c,
    enum bench_role role, int idx)
{
	char	id[64];
	int	rc;

	c->b = b;
	c->role = role;
	c->idx = idx;
	if (role == BENCH_PUB && b->scenario == BENCH_FANOUT)
		c->topic = bench_asprintf("%s/fanout", b->prefix);
	else if (role == BENCH_PUB)
		c->topic = bench_asprintf("%s/fanin/%d", b->prefix, idx);
	snprintf(id, sizeof id, "fhb-%ld-%c%d", (long)getpid(),
	    role == BENCH_PUB ? 'p' : role == BENCH_SUB ? 's' : 'i', idx);
	/* -C: subscribers keep a persistent session (clean session 0),
	 * which a broker with durable state stores */
	if ((c->mosq = mosquitto_new(id, !(b->persistent && role == BENCH_SUB),
	    c)) == NULL)
		bench_die("mosquitto_new: %s", strerror(errno));
	mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION, b->version);
	/* Latency is measured here: do not let Nagle hold our writes. */
	mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_callback_set(c->mosq, bench_connect_cb);
	mosquitto_disconnect_callback_set(c->mosq, bench_disconnect_cb);
	mosquitto_subscribe_callback_set(c->mosq, bench_subscribe_cb);
	mosquitto_message_callback_set(c->mosq, bench_message_cb);
	if (b->user != NULL)
		mosquitto_username_pw_set(c->mosq, b->user, b->pass);
	rc = mosquitto_connect(c->mosq, b->host, b->port, BENCH_KEEPALIVE);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "fh-bench: connect %s:%d: %s\n", b->host,
		    b->port, rc == MOSQ_ERR_ERRNO ? strerror(errno) :
		    mosquitto_strerror(rc));
		c->dead = 1;
		b->failures++;
		return -1;
	}
	return 0;
}

static int
bench_setup(struct bench *b)
{
	int	i, npub, nsub;
	char	topic[160];

	switch (b->scenario) {
	case BENCH_FANOUT:
		npub = 1;
		nsub = b->raw ? 0 : b->nclients;	/* -R: not libmosquitto */
		break;
	case BENCH_FANIN:
		npub = b->nclients;
		nsub = 1;
		break;
	default:
		npub = 0;
		nsub = b->nclients;
		break;
	}
	b->nall = npub + nsub;
	bench_raise_nofile(b->nall + (b->raw ? b->nclients / 3 + 1 : 0));
	b->clients = bench_calloc((size_t)b->nall, sizeof *b->clients);
	b->pfd = bench_calloc((size_t)b->nall + 1, sizeof *b->pfd);
	b->pmap = bench_calloc((size_t)b->nall + 1, sizeof *b->pmap);
	b->next_from = bench_calloc((size_t)b->nclients, sizeof *b->next_from);
	if (b->raw)
		bench_raw_setup(b);

	/* Subscribers first, publishers last (they need subscriptions). */
	for (i = 0; i < nsub; i++) {
		if (bench_client_init(b, &b->clients[i], b->scenario ==
		    BENCH_IDLE ? BENCH_IDLER : BENCH_SUB, i) != 0)
			return -1;
		if (i % 32 == 31)
			bench_pump(b, 0);
	}
	for (i = 0; i < npub; i++) {
		if (bench_client_init(b, &b->clients[nsub + i], BENCH_PUB,
		    i) != 0)
			return -1;
		if (i % 32 == 31)
			bench_pump(b, 0);
	}
	if (bench_wait(b, bench_is_connected, BENCH_SETUP_SECS) != 0 ||
	    b->failures > 0)
		return -1;

	for (i = 0; i < nsub; i++) {
		struct bench_client *c = &b->clients[i];

		if (b->scenario == BENCH_FANOUT)
			snprintf(topic, sizeof topic, "%s/fanout", b->prefix);
		else if (b->scenario == BENCH_FANIN)
			snprintf(topic, sizeof topic, "%s/fanin/+", b->prefix);
		else if (b->idle_subscribe)
			snprintf(topic, sizeof topic, "%s/idle/%d", b->prefix,
			    i);
		else {
			c->subscribed = 1;
			continue;
		}
		if (mosquitto_subscribe(c->mosq, NULL, topic, b->qos) != 0)
			bench_fail(c, "subscribe", 0);
		if (i % 32 == 31)
			bench_pump(b, 0);
	}
	if (bench_wait(b, bench_is_subscribed, BENCH_SETUP_SECS) != 0 ||
	    b->failures > 0)
		return -1;
	if (b->raw && bench_raw_wait(b, BENCH_SETUP_SECS) != 0)
		return -1;
	return 0;
}

static void
bench_teardown(struct bench *b)
{
	double	deadline;
	int	i, busy;

	for (i = 0; i < b->nall; i++)
		if (b->clients[i].mosq != NULL && !b->clients[i].dead)
			mosquitto_disconnect(b->clients[i].mosq);
	/* Let queued DISCONNECTs go out, briefly. */
	deadline = bench_now() + 2.0;
	do {
		busy = 0;
		for (i = 0; i < b->nall; i++)
			if (b->clients[i].mosq != NULL &&
			    !b->clients[i].dead &&
			    mosquitto_socket(b->clients[i].mosq) >= 0 &&
			    mosquitto_want_write(b->clients[i].mosq))
				busy = 1;
		if (busy)
			bench_pump(b, 10);
	} while (busy && bench_now() < deadline);
	bench_raw_teardown(b);
	for (i = 0; i < b->nall; i++) {
		mosquitto_destroy(b->clients[i].mosq);
		free(b->clients[i].topic);
	}
	free(b->clients);
	free(b->pfd);
	free(b->pmap);
	free(b->next_from);
}

/* --- publishing -------------------------------------------------------- */

/* The lowest next_seq over live subscribers (fanout), cached. */
static uint64_t
bench_fanout_floor(struct bench *b)
{
	uint64_t	floor = UINT64_MAX, v;
	int		i;

	if (b->raw) {
		for (i = 0; i < b->nclients; i++) {
			if (__atomic_load_n(&b->raws[i].state,
			    __ATOMIC_RELAXED) == BENCH_RAW_DEAD)
				continue;
			v = __atomic_load_n(&b->raws[i].next_seq,
			    __ATOMIC_RELAXED);
			if (v < floor)
				floor = v;
		}
	}
	for (i = 0; i < b->nall; i++)
		if (b->clients[i].role == BENCH_SUB && !b->clients[i].dead &&
		    b->clients[i].next_seq < floor)
			floor = b->clients[i].next_seq;
	if (floor == UINT64_MAX)
		floor = b->published;
	__atomic_store_n(&b->floor, floor, __ATOMIC_RELAXED);
	return floor;
}

static int
bench_publish_one(struct bench *b, struct bench_client *c)
{
	int	rc;

	bench_payload_put(b->payload, (uint32_t)c->idx, c->sent,
	    bench_now_ns());
	rc = mosquitto_publish(c->mosq, NULL, c->topic, (int)b->size,
	    b->payload,
	    b->qos, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		bench_fail(c, "publish", rc);
		return -1;
	}
	c->sent++;
	b->published++;
	return 0;
}

/*
 * Publish what the window, the rate and the count allow, at most a burst.
 * Returns how many were published, -1 when publishing is blocked by the
 * window (waiting for deliveries), -2 when no publisher is left.
 */
static int
bench_publish_some(struct bench *b, double now)
{
	struct bench_client	*c;
	uint64_t		 per, allowed = UINT64_MAX;
	int			 n = 0, i, blocked = 0, progress, live = 0;

	if (b->rate > 0)
		allowed = (uint64_t)((now - b->t_start) * b->rate) + 1;
	if (b->scenario == BENCH_FANOUT) {
		c = &b->clients[b->nall - 1];
		if (c->dead)
			return -2;
		while (n < BENCH_PUB_BURST && !c->dead &&
		    b->published < b->count && b->published < allowed) {
			if (b->published - b->floor >= b->window &&
			    b->published - bench_fanout_floor(b) >= b->window) {
				blocked = 1;
				break;
			}
			if (bench_publish_one(b, c) != 0)
				break;
			n++;
		}
		return n == 0 && blocked ? -1 : n;
	}

	/* fanin: round robin, each publisher with its share of the window */
	per = b->window / (uint64_t)b->nclients;
	if (per == 0)
		per = 1;
	do {
		progress = 0;
		live = 0;
		for (i = 0; i < b->nclients && n < BENCH_PUB_BURST; i++) {
			c = &b->clients[1 + i];
			if (c->dead)
				continue;
			live++;
			if (b->published >= b->count ||
			    b->published >= allowed)
				continue;
			if (c->sent - b->next_from[i] >= per) {
				blocked = 1;
				continue;
			}
			if (bench_publish_one(b, c) != 0)
				continue;
			n++;
			progress = 1;
		}
	} while (progress && n < BENCH_PUB_BURST);
	if (n == 0 && live == 0)
		return -2;
	return n == 0 && blocked ? -1 : n;
}

static uint64_t
bench_expected(const struct bench *b)
{
	if (b->scenario == BENCH_FANOUT)
		return b->published * (uint64_t)b->nclients;
	return b->published;
}

/* --- scenarios --------------------------------------------------------- */

static void
bench_print_lat(const struct bench *b, FILE *f)
{
	fprintf(f, "  latency     p50 %.3f ms, p99 %.3f ms, max %.3f ms "
	    "(%" PRIu64 " samples)\n", (double)bench_percentile(b, 0.50) / 1e3,
	    (double)bench_percentile(b, 0.99) / 1e3,
	    (double)bench_percentile(b, 1.0) / 1e3, b->nlat);
}

static int
bench_run_flow(struct bench *b)
{
	struct bench_proc	 p0, p1;
	double			 now, deadline, self0, self1, secs, cpu;
	double			 stop_at = 0, recv_cpu = 0, recv_max = 0;
	uint64_t		 expected;
	int			 n, publishing = 1, stalled = 0, timeout, t;

	b->payload = bench_calloc(1, b->size);
	memset(b->payload + BENCH_HDR, 'x', b->size - BENCH_HDR);

	bench_proc_read(b->broker, &p0);
	self0 = bench_self_cpu();
	if (b->raw)
		bench_raw_cpu_mark(b);
	b->t_start = b->t_last_progress = bench_now();
	deadline = b->t_start + b->duration;
	for (;;) {
		if (b->raw)
			bench_raw_sync(b);
		now = bench_now();
		if (publishing && (b->published >= b->count ||
		    now >= deadline)) {
			publishing = 0;
			stop_at = now;
		}
		n = 0;
		if (publishing) {
			n = bench_publish_some(b, now);
			if (n > 0)
				b->t_last_progress = now;
			else if (n == -2) {
				/* Every publisher is gone (see stderr). */
				publishing = 0;
				stop_at = now;
			} else if (n == -1 && now - b->t_last_progress >
			    b->drain) {
				/* The window never reopens: messages lost. */
				stalled = 1;
				publishing = 0;
				stop_at = now;
			}
		}
		if (!publishing) {
			if (b->delivered >= bench_expected(b))
				break;
			if (now - (b->t_last_progress > stop_at ?
			    b->t_last_progress : stop_at) > b->drain)
				break;
		}
		timeout = n > 0 ? 0 : b->rate > 0 ? 1 : 20;
		if (b->raw && timeout > 0 && publishing && n == -1) {
			/* Blocked on the window: ask the receivers for a
			 * wake-up, then look again (they look at pub_waiting
			 * after storing next_seq). */
			(void)__atomic_exchange_n(&b->pub_waiting, 1,
			    __ATOMIC_SEQ_CST);	/* a store and a fence */
			if (b->published - bench_fanout_floor(b) < b->window)
				timeout = 0;
		}
		bench_pump(b, timeout);
	}
	/* the receivers' window lies inside the process's */
	if (b->raw)
		bench_raw_cpu_end(b);
	self1 = bench_self_cpu();
	bench_proc_read(b->broker, &p1);
	bench_raw_stop(b);
	for (t = 0; b->raw && t < b->nthreads; t++) {
		recv_cpu += b->recvs[t].cpu;
		if (b->recvs[t].cpu > recv_max)
			recv_max = b->recvs[t].cpu;
	}

	expected = bench_expected(b);
	secs = (b->delivered > 0 ? b->t_last_delivery : bench_now()) -
	    b->t_start;
	if (secs <= 0)
		secs = 1e-9;
	cpu = p0.cpu >= 0 && p1.cpu >= 0 ? p1.cpu - p0.cpu : -1;

	if (!b->quiet) {
		if (b->scenario == BENCH_FANOUT)
			printf("fh-bench fanout: 1 publisher -> %d subscribers",
			    b->nclients);
		else
			printf("fh-bench fanin: %d publishers -> 1 subscriber",
			    b->nclients);
		printf(", QoS %d, %zu-byte payload, window %" PRIu64 "\n",
		    b->qos, b->size, b->window);
		printf("  published   %" PRIu64 " messages\n", b->published);
		printf("  delivered   %" PRIu64 " of %" PRIu64 " (lost %"
		    PRIu64 ", out of order %" PRIu64 ")%s\n", b->delivered,
		    expected, expected - (b->delivered < expected ?
		    b->delivered : expected), b->reordered,
		    stalled ? ", stalled" : "");
		printf("  throughput  %.0f msg/s delivered over %.3f s\n",
		    (double)b->delivered / secs, secs);
		bench_print_lat(b, stdout);
		if (cpu >= 0 && b->delivered > 0)
			printf("  broker cpu  %.2f s (%.0f%% of a core), %.3f us "
			    "per delivered message\n", cpu, 100 * cpu / secs,
			    cpu * 1e6 / (double)b->delivered);
		if (p1.rss_kb >= 0)
			printf("  broker rss  %ld kB (before %ld kB)\n",
			    p1.rss_kb, p0.rss_kb);
		printf("  bench cpu   %.2f s (%.0f%% of a core, all threads), "
		    "%.3f us per delivered message\n", self1 - self0,
		    100 * (self1 - self0) / secs, b->delivered > 0 ?
		    (self1 - self0) * 1e6 / (double)b->delivered : 0);
		if (b->raw)
			printf("  receivers   %d raw thread%s: %.2f s, the busiest "
			    "%.0f%% of a core; %" PRIu64 " reads, %.1f "
			    "messages per read\n", b->nthreads,
			    b->nthreads == 1 ? "" : "s", recv_cpu,
			    100 * recv_max / secs, b->raw_reads,
			    b->raw_reads > 0 ? (double)b->delivered /
			    (double)b->raw_reads : 0);
	}
	printf("RESULT scenario=%s clients=%d qos=%d size=%zu published=%"
	    PRIu64 " expected=%" PRIu64 " delivered=%" PRIu64 " lost=%" PRIu64
	    " reordered=%" PRIu64 " bad=%" PRIu64 " failures=%d seconds=%.3f "
	    "msg_s=%.0f p50_us=%" PRIu64 " p99_us=%" PRIu64
	    " broker_cpu_s=%.2f broker_cpu_us_per_msg=%.3f broker_rss_kb=%ld "
	    "bench_cpu_s=%.2f",
	    b->scenario == BENCH_FANOUT ? "fanout" : "fanin", b->nclients,
	    b->qos, b->size, b->published, expected, b->delivered,
	    expected - (b->delivered < expected ? b->delivered : expected),
	    b->reordered, b->bad_payload, b->failures, secs,
	    (double)b->delivered / secs, bench_percentile(b, 0.50),
	    bench_percentile(b, 0.99), cpu,
	    cpu >= 0 && b->delivered > 0 ? cpu * 1e6 / (double)b->delivered :
	    -1, p1.rss_kb, self1 - self0);
	if (b->raw)
		printf(" raw=1 recv_threads=%d recv_cpu_s=%.2f "
		    "recv_max_thread_cpu_s=%.2f recv_reads=%" PRIu64,
		    b->nthreads, recv_cpu, recv_max, b->raw_reads);
	printf("\n");
	free(b->payload);
	return b->delivered == expected && b->failures == 0 ? 0 : 1;
}

static int
bench_run_idle(struct bench *b, const struct bench_proc *p0, double t0)
{
	struct bench_proc	p1;
	double			secs = bench_now() - t0, per = -1;
	int			i, up = 0;

	for (i = 0; i < b->nall; i++)
		if (b->clients[i].connected && !b->clients[i].dead)
			up++;
	bench_proc_read(b->broker, &p1);
	if (p0->rss_kb >= 0 && p1.rss_kb >= 0 && up > 0)
		per = (double)(p1.rss_kb - p0->rss_kb) / up;
	if (!b->quiet) {
		printf("fh-bench idle: %d connections%s\n", b->nclients,
		    b->idle_subscribe ? ", one subscription each" : "");
		printf("  connected   %d of %d in %.3f s\n", up, b->nclients,
		    secs);
		if (per >= 0)
			printf("  broker rss  %ld kB before, %ld kB after: "
			    "%.2f kB per connection\n", p0->rss_kb,
			    p1.rss_kb, per);
		if (p0->cpu >= 0 && p1.cpu >= 0)
			printf("  broker cpu  %.2f s to accept them\n",
			    p1.cpu - p0->cpu);
	}
	printf("RESULT scenario=idle clients=%d connected=%d seconds=%.3f "
	    "broker_rss_before_kb=%ld broker_rss_kb=%ld rss_per_conn_kb=%.2f "
	    "broker_cpu_s=%.2f failures=%d\n", b->nclients, up, secs,
	    p0->rss_kb, p1.rss_kb, per, p0->cpu >= 0 && p1.cpu >= 0 ?
	    p1.cpu - p0->cpu : -1, b->failures);
	return up == b->nclients && b->failures == 0 ? 0 : 1;
}

/* --- echo: a trivial relay to measure the bench against --------------- */

struct bench_echo_conn {
	int		 fd;
	int		 v5;
	int		 subscribed;
	uint8_t		*in;
	size_t		 inlen;
	size_t		 incap;
};

static volatile sig_atomic_t	bench_echo_stop;

static void
bench_echo_sig(int sig)
{
	(void)sig;
	bench_echo_stop = 1;
}

static int
bench_echo_write(int fd, const uint8_t *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR && !bench_echo_stop)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The subscribed connections, in the order they subscribed. */
static int	*bench_echo_subs;
static int	 bench_echo_nsubs;

static void
bench_echo_close(struct bench_echo_conn **conns, int fd)
{
	struct bench_echo_conn	*c = conns[fd];
	int			 i;

	if (c == NULL)
		return;
	for (i = 0; c->subscribed && i < bench_echo_nsubs; i++)
		if (bench_echo_subs[i] == fd) {
			bench_echo_subs[i] =
			    bench_echo_subs[--bench_echo_nsubs];
			break;
		}
	close(fd);
	free(c->in);
	free(c);
	conns[fd] = NULL;
}

/*
 * Complete packets in c->in: answer CONNECT, SUBSCRIBE and PINGREQ, copy
 * every QoS 0 PUBLISH to fwd. Returns -1 to drop the connection.
 */
static int
bench_echo_parse(struct bench_echo_conn *c, uint8_t *fwd, size_t *nfwd)
{
	uint8_t	 out[520], *p = c->in;
	size_t	 n = c->inlen, rl, hdr, i, k, tl;
	int	 shift;

	while (n >= 2) {
		rl = 0;
		shift = 0;
		for (i = 1;; i++) {
			if (i > 4)
				return -1;
			if (i >= n)
				goto partial;
			rl |= (size_t)(p[i] & 0x7f) << shift;
			shift += 7;
			if ((p[i] & 0x80) == 0)
				break;
		}
		hdr = i + 1;
		if (n < hdr + rl)
			break;
		switch (p[0] >> 4) {
		case 1:		/* CONNECT: 3.1.1 or 5.0, accept all */
			c->v5 = rl >= 7 && p[hdr + 6] == 5;
			out[0] = 0x20;
			out[1] = c->v5 ? 3 : 2;
			out[2] = out[3] = out[4] = 0;
			if (bench_echo_write(c->fd, out, c->v5 ? 5u : 4u) != 0)
				return -1;
			break;
		case 3:		/* PUBLISH */
			if ((p[0] & 0x06) != 0)
				return -1;	/* QoS 0 only */
			memcpy(fwd + *nfwd, p, hdr + rl);
			*nfwd += hdr + rl;
			break;
		case 8:		/* SUBSCRIBE: grant QoS 0 to every filter */
			if (rl < 2)
				return -1;
			out[0] = 0x90;
			out[2] = p[hdr];
			out[3] = p[hdr + 1];
			k = 4;
			i = hdr + 2;
			if (c->v5) {
				/* properties: fh-bench sends none */
				if (rl < 3 || p[i] != 0)
					return -1;
				out[k++] = 0;
				i++;
			}
			while (i + 2 <= hdr + rl && k < sizeof out) {
				tl = (size_t)p[i] << 8 | p[i + 1];
				i += 2 + tl + 1;
				out[k++] = 0;
			}
			out[1] = (uint8_t)(k - 2);
			if (bench_echo_write(c->fd, out, k) != 0)
				return -1;
			if (!c->subscribed)
				bench_echo_subs[bench_echo_nsubs++] = c->fd;
			c->subscribed = 1;
			break;
		case 12:	/* PINGREQ */
			out[0] = 0xd0;
			out[1] = 0;
			if (bench_echo_write(c->fd, out, 2) != 0)
				return -1;
			break;
		case 14:	/* DISCONNECT */
			return -1;
		default:	/* acks, UNSUBSCRIBE: ignored */
			break;
		}
		p += hdr + rl;
		n -= hdr + rl;
	}
partial:
	memmove(c->in, p, n);
	c->inlen = n;
	return 0;
}

static int
bench_run_echo(struct bench *b)
{
	struct bench_echo_conn	**conns, *c;
	struct epoll_event	  ev, evs[BENCH_RAW_EVENTS];
	uint8_t			 *fwd;
	size_t			  nfwd, fwdcap = 0;
	ssize_t			  r;
	int			  ls, fd, ep, i, n, j, one = 1, maxfd = 65536;
	struct rlimit		  rl;
	struct sigaction	  sa;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		maxfd = (int)rl.rlim_cur;
	conns = bench_calloc((size_t)maxfd, sizeof *conns);
	bench_echo_subs = bench_calloc((size_t)maxfd, sizeof *bench_echo_subs);
	bench_resolve(b);
	if ((ls = socket(b->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		bench_die("socket: %s", strerror(errno));
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&b->addr, b->addrlen) != 0 ||
	    listen(ls, 4096) != 0)
		bench_die("listen on %s:%d: %s", b->host, b->port,
		    strerror(errno));
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		bench_die("epoll_create1: %s", strerror(errno));
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.fd = ls;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	/* No SA_RESTART: SIGTERM ends a write blocked on a stuck reader.
	 * A reader that goes away is EPIPE, not a signal. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = bench_echo_sig;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fwd = NULL;
	if (!b->quiet)
		fprintf(stderr, "fh-bench echo: listening on %s:%d\n", b->host,
		    b->port);
	while (!bench_echo_stop) {
		n = epoll_wait(ep, evs, BENCH_RAW_EVENTS, 1000);
		if (n < 0 && errno != EINTR)
			bench_die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == ls) {
				if ((fd = accept4(ls, NULL, NULL,
				    SOCK_CLOEXEC)) < 0)
					continue;
				if (fd >= maxfd) {
					close(fd);
					continue;
				}
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof one);
				c = bench_calloc(1, sizeof *c);
				c->fd = fd;
				conns[fd] = c;
				ev.events = EPOLLIN;
				ev.data.fd = fd;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				continue;
			}
			if ((c = conns[fd]) == NULL)
				continue;
			if (c->incap - c->inlen < BENCH_RAW_CHUNK) {
				c->incap = c->inlen + 2 * BENCH_RAW_CHUNK;
				if ((c->in = realloc(c->in, c->incap)) == NULL)
					bench_die("out of memory");
			}
			/* fd is blocking, but epoll said it is readable */
			r = read(fd, c->in + c->inlen, BENCH_RAW_CHUNK);
			if (r <= 0) {
				bench_echo_close(conns, fd);
				continue;
			}
			c->inlen += (size_t)r;
			if (fwdcap < c->inlen) {
				fwdcap = c->inlen;
				if ((fwd = realloc(fwd, fwdcap)) == NULL)
					bench_die("out of memory");
			}
			nfwd = 0;
			if (bench_echo_parse(c, fwd, &nfwd) != 0) {
				bench_echo_close(conns, fd);
				continue;
			}
			/* Blocking writes: a slow subscriber holds up the
			 * rest, which the publisher's window then feels. */
			for (j = 0; nfwd > 0 && j < bench_echo_nsubs; j++)
				if (bench_echo_write(bench_echo_subs[j], fwd,
				    nfwd) != 0)
					bench_echo_close(conns,
					    bench_echo_subs[j--]);
		}
	}
	for (j = 0; j < maxfd; j++)
		bench_echo_close(conns, j);
	free(conns);
	free(bench_echo_subs);
	free(fwd);
	close(ep);
	close(ls);
	return 0;
}

/* --- main -------------------------------------------------------------- */

static void
bench_usage(FILE *f)
{
	fprintf(f,
	    "usage: fh-bench [options] fanout|fanin|idle|echo\n"
	    "  fanout  1 publisher -> N subscribers of one topic\n"
	    "  fanin   N publishers -> 1 subscriber\n"
	    "  idle    N idle connections; broker RSS per connection\n"
	    "  echo    no load: a trivial relay on HOST:PORT that copies\n"
	    "          every QoS 0 PUBLISH to every subscriber, until\n"
	    "          SIGTERM (a floor to measure the bench against)\n"
	    "options:\n"
	    "  -h HOST    broker host, loopback only (127.0.0.1)\n"
	    "  -p PORT    broker port (1883)\n"
	    "  -b PID     broker PID: report its CPU time and RSS\n"
	    "  -c N       subscribers (fanout), publishers (fanin),\n"
	    "             connections (idle) (fanout 50, fanin 50, idle 1000)\n"
	    "  -n N       messages to publish in all (fanout 20000,\n"
	    "             fanin 200000)\n"
	    "  -d SECS    stop publishing after SECS seconds (10)\n"
	    "  -D SECS    wait this long for stragglers (2)\n"
	    "  -s BYTES   payload size, at least %d (256)\n"
	    "  -q QOS     0, 1 or 2 (0)\n"
	    "  -w N       messages in flight at most (100)\n"
	    "  -r RATE    publish at most RATE msg/s (0: as the window allows)\n"
	    "  -u USER    username for every client\n"
	    "  -P PASS    password for every client\n"
	    "  -t PREFIX  topic prefix (fh-bench/PID)\n"
	    "  -S         idle: subscribe each connection to its own topic\n"
	    "  -C         subscribers use persistent sessions (clean session 0)\n"
	    "  -V VER     MQTT version: 311 (default) or 5\n"
	    "  -R         fanout: raw subscribers (plain sockets, 64 kB\n"
	    "             reads, MQTT 3.1.1, QoS 0), not libmosquitto\n"
	    "  -T N       -R: receiver threads, each its own epoll (1)\n"
	    "  -z USEC    -R: after a wake-up that found few sockets\n"
	    "             readable, sleep USEC (< 1000000) before the\n"
	    "             next (0: never; fewer syscalls per message)\n"
	    "  -Q         print only the RESULT line\n"
	    "  --help     this text\n"
	    "Exit status: 0 when every message was delivered (every\n"
	    "connection up, for idle), 1 otherwise, 2 on usage errors.\n",
	    BENCH_HDR);
}

static double
bench_arg_num(const char *s, double min, double max, const char *what)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		bench_die("bad %s '%s'", what, s);
	return v;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	static struct bench	 bench;
	struct bench		*b = &bench;
	struct bench_proc	 p0;
	double			 t0;
	int			 ch, rc, count_set = 0;

	b->host = "127.0.0.1";
	b->port = 1883;
	b->nclients = -1;
	b->wake_fd = -1;
	b->count = 20000;
	b->duration = 10;
	b->drain = 2;
	b->size = 256;
	b->window = 100;
	b->version = MQTT_PROTOCOL_V311;
	snprintf(b->prefix, sizeof b->prefix, "fh-bench/%ld", (long)getpid());

	while ((ch = getopt_long(argc, argv, "h:p:b:c:n:d:D:s:q:w:r:u:P:t:V:T:z:SCQR",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			b->host = optarg;
			break;
		case 'p':
			b->port = (int)bench_arg_num(optarg, 1, 65535, "port");
			break;
		case 'b':
			b->broker = (pid_t)bench_arg_num(optarg, 1, 1 << 30,
			    "PID");
			break;
		case 'c':
			b->nclients = (int)bench_arg_num(optarg, 1,
			    BENCH_MAX_CLIENTS, "client count");
			break;
		case 'n':
			b->count = (uint64_t)bench_arg_num(optarg, 1, 1e12,
			    "message count");
			count_set = 1;
			break;
		case 'd':
			b->duration = bench_arg_num(optarg, 0.01, 3600,
			    "duration");
			break;
		case 'D':
			b->drain = bench_arg_num(optarg, 0.01, 600,
			    "drain time");
			break;
		case 's':
			b->size = (size_t)bench_arg_num(optarg, BENCH_HDR,
			    256 * 1024 * 1024 - 1, "payload size");
			break;
		case 'q':
			b->qos = (int)bench_arg_num(optarg, 0, 2, "QoS");
			break;
		case 'w':
			b->window = (uint64_t)bench_arg_num(optarg, 1, 1e9,
			    "window");
			break;
		case 'r':
			b->rate = bench_arg_num(optarg, 0, 1e9, "rate");
			break;
		case 'u':
			b->user = optarg;
			break;
		case 'P':
			b->pass = optarg;
			break;
		case 't':
			if (strlen(optarg) >= sizeof b->prefix ||
			    strpbrk(optarg, "+#") != NULL || *optarg == '\0')
				bench_die("bad topic prefix '%s'", optarg);
			snprintf(b->prefix, sizeof b->prefix, "%s", optarg);
			break;
		case 'V':
			if (strcmp(optarg, "5") == 0)
				b->version = MQTT_PROTOCOL_V5;
			else if (strcmp(optarg, "311") == 0)
				b->version = MQTT_PROTOCOL_V311;
			else
				bench_die("-V: 311 or 5, not '%s'", optarg);
			break;
		case 'S':
			b->idle_subscribe = 1;
			break;
		case 'C':
			b->persistent = 1;
			break;
		case 'Q':
			b->quiet = 1;
			break;
		case 'R':
			b->raw = 1;
			break;
		case 'z':
			b->coalesce_us = (long)bench_arg_num(optarg, 0, 999999,
			    "nap");
			break;
		case 'T':
			b->nthreads = (int)bench_arg_num(optarg, 1,
			    BENCH_MAX_THREADS, "thread count");
			break;
		case 'H':
			bench_usage(stdout);
			return 0;
		default:
			bench_usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		bench_usage(stderr);
		return 2;
	}
	if (strcmp(argv[optind], "fanout") == 0)
		b->scenario = BENCH_FANOUT;
	else if (strcmp(argv[optind], "fanin") == 0)
		b->scenario = BENCH_FANIN;
	else if (strcmp(argv[optind], "idle") == 0)
		b->scenario = BENCH_IDLE;
	else if (strcmp(argv[optind], "echo") == 0)
		b->scenario = BENCH_ECHO;
	else
		bench_die("unknown scenario '%s'", argv[optind]);
	if (b->nclients < 0)
		b->nclients = b->scenario == BENCH_IDLE ? 1000 : 50;
	if (b->scenario == BENCH_IDLE && count_set)
		bench_die("-n makes no sense for idle");
	if (b->scenario == BENCH_FANIN && !count_set)
		b->count = 200000;
	if (b->pass != NULL && b->user == NULL)
		bench_die("-P needs -u");
	if (b->raw && (b->scenario != BENCH_FANOUT || b->qos != 0 ||
	    b->version != MQTT_PROTOCOL_V311))
		bench_die("-R is for fanout at QoS 0 with MQTT 3.1.1");
	if ((b->nthreads > 0 || b->coalesce_us > 0) && !b->raw)
		bench_die("-T and -z need -R");
	if (b->nthreads == 0)
		b->nthreads = 1;
	if (b->nthreads > b->nclients && b->scenario == BENCH_FANOUT)
		b->nthreads = b->nclients;
	bench_check_loopback(b->host);
	if (b->scenario == BENCH_ECHO)
		return bench_run_echo(b);
	if (b->broker > 0 && bench_proc_read(b->broker, &p0) != 0)
		bench_die("cannot read /proc/%ld: %s", (long)b->broker,
		    strerror(errno));

	signal(SIGPIPE, SIG_IGN);
	mosquitto_lib_init();
	bench_proc_read(b->broker, &p0);
	t0 = bench_now();
	if (bench_setup(b) != 0) {
		fprintf(stderr, "fh-bench: setup failed (%d client errors)\n",
		    b->failures + (b->recvs != NULL ? bench_raw_failures(b) :
		    0));
		rc = 1;
	} else if (b->scenario == BENCH_IDLE)
		rc = bench_run_idle(b, &p0, t0);
	else
		rc = bench_run_flow(b);
	fflush(stdout);
	bench_teardown(b);
	mosquitto_lib_cleanup();
	return rc;
}
