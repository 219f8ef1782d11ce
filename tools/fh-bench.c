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
 * All clients share one thread and one poll() loop driven through
 * libmosquitto's external-loop API (mosquitto_socket, mosquitto_loop_read,
 * mosquitto_loop_write, mosquitto_loop_misc).
 *
 * The last line of output is machine readable:
 *   RESULT scenario=fanout key=value ...
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Latency histogram: 1 us buckets to 1 ms, then 64 per power of two. */
#define BENCH_HIST_LIN		1024
#define BENCH_HIST_SUB		64
#define BENCH_HIST_N		(BENCH_HIST_LIN + 54 * BENCH_HIST_SUB)

enum bench_scenario {
	BENCH_FANOUT,
	BENCH_FANIN,
	BENCH_IDLE,
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
	uint64_t		 floor;		/* fanout: min next_seq of subs */
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
	r = poll(b->pfd, (nfds_t)n, timeout_ms);
	if (r < 0 && errno != EINTR)
		bench_die("poll: %s", strerror(errno));
	for (i = 0; r > 0 && i < n; i++) {
		if (b->pfd[i].revents == 0)
			continue;
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
		nsub = b->nclients;
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
	bench_raise_nofile(b->nall);
	b->clients = bench_calloc((size_t)b->nall, sizeof *b->clients);
	b->pfd = bench_calloc((size_t)b->nall, sizeof *b->pfd);
	b->pmap = bench_calloc((size_t)b->nall, sizeof *b->pmap);
	b->next_from = bench_calloc((size_t)b->nclients, sizeof *b->next_from);

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
	uint64_t	floor = UINT64_MAX;
	int		i;

	for (i = 0; i < b->nall; i++)
		if (b->clients[i].role == BENCH_SUB && !b->clients[i].dead &&
		    b->clients[i].next_seq < floor)
			floor = b->clients[i].next_seq;
	if (floor == UINT64_MAX)
		floor = b->published;
	b->floor = floor;
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
	double			 stop_at = 0;
	uint64_t		 expected;
	int			 n, publishing = 1, stalled = 0;

	b->payload = bench_calloc(1, b->size);
	memset(b->payload + BENCH_HDR, 'x', b->size - BENCH_HDR);

	bench_proc_read(b->broker, &p0);
	self0 = bench_self_cpu();
	b->t_start = b->t_last_progress = bench_now();
	deadline = b->t_start + b->duration;
	for (;;) {
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
		bench_pump(b, n > 0 ? 0 : b->rate > 0 ? 1 : 20);
	}
	self1 = bench_self_cpu();
	bench_proc_read(b->broker, &p1);

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
		printf("  bench cpu   %.2f s (%.0f%% of a core)\n",
		    self1 - self0, 100 * (self1 - self0) / secs);
	}
	printf("RESULT scenario=%s clients=%d qos=%d size=%zu published=%"
	    PRIu64 " expected=%" PRIu64 " delivered=%" PRIu64 " lost=%" PRIu64
	    " reordered=%" PRIu64 " bad=%" PRIu64 " failures=%d seconds=%.3f "
	    "msg_s=%.0f p50_us=%" PRIu64 " p99_us=%" PRIu64
	    " broker_cpu_s=%.2f broker_cpu_us_per_msg=%.3f broker_rss_kb=%ld "
	    "bench_cpu_s=%.2f\n",
	    b->scenario == BENCH_FANOUT ? "fanout" : "fanin", b->nclients,
	    b->qos, b->size, b->published, expected, b->delivered,
	    expected - (b->delivered < expected ? b->delivered : expected),
	    b->reordered, b->bad_payload, b->failures, secs,
	    (double)b->delivered / secs, bench_percentile(b, 0.50),
	    bench_percentile(b, 0.99), cpu,
	    cpu >= 0 && b->delivered > 0 ? cpu * 1e6 / (double)b->delivered :
	    -1, p1.rss_kb, self1 - self0);
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

/* --- main -------------------------------------------------------------- */

static void
bench_usage(FILE *f)
{
	fprintf(f,
	    "usage: fh-bench [options] fanout|fanin|idle\n"
	    "  fanout  1 publisher -> N subscribers of one topic\n"
	    "  fanin   N publishers -> 1 subscriber\n"
	    "  idle    N idle connections; broker RSS per connection\n"
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
	b->count = 20000;
	b->duration = 10;
	b->drain = 2;
	b->size = 256;
	b->window = 100;
	b->version = MQTT_PROTOCOL_V311;
	snprintf(b->prefix, sizeof b->prefix, "fh-bench/%ld", (long)getpid());

	while ((ch = getopt_long(argc, argv, "h:p:b:c:n:d:D:s:q:w:r:u:P:t:V:SCQ",
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
	bench_check_loopback(b->host);
	if (b->broker > 0 && bench_proc_read(b->broker, &p0) != 0)
		bench_die("cannot read /proc/%ld: %s", (long)b->broker,
		    strerror(errno));

	signal(SIGPIPE, SIG_IGN);
	mosquitto_lib_init();
	bench_proc_read(b->broker, &p0);
	t0 = bench_now();
	if (bench_setup(b) != 0) {
		fprintf(stderr, "fh-bench: setup failed (%d client errors)\n",
		    b->failures);
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
