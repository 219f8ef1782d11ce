/*
 * The subunit source: a Gearman worker on the event loop.
 *
 * For each gearmand in `gearman` it keeps `concurrency` connections, each
 * holding at most one job; a shared credit keeps the jobs in flight (and
 * grabs outstanding) at or below `concurrency`. Per connection:
 *
 *   DOWN -> CONNECTING -> (SET_CLIENT_ID, CAN_DO) IDLE
 *   IDLE --credit--> GRAB_JOB_UNIQ -> GRAB_WAIT
 *   GRAB_WAIT --NO_JOB--> PRE_SLEEP -> SLEEP --NOOP--> IDLE
 *   GRAB_WAIT --JOB_ASSIGN(_UNIQ)--> BUSY --result--> IDLE
 *
 * A job fetches source_url + ".gz" (then source_url on a 4xx) with libcurl,
 * inflates gzip itself when the body is gzip, streams the bytes into the
 * subunit parser, publishes one event and only then answers the job with
 * exactly one WORK_COMPLETE (success, aborted) or WORK_FAIL (failed, bad
 * job, refused by the bus). A lost connection abandons its job unanswered:
 * gearmand gives it to another worker.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <zlib.h>

#include "config.h"
#include "gateway/backoff.h"
#include "gateway/conf.h"
#include "gateway/curl.h"
#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"
#include "sources/subunit/gearman_proto.h"
#include "sources/subunit/subunit.h"
#include "sources/subunit/subunit_job.h"
#include "sources/subunit/subunit_parse.h"

#define SUBUNIT_DEFAULT_PORT	4730
#define SUBUNIT_MAX_PACKET	((size_t)1 << 20)	/* job arguments: ~2 KiB */
#define SUBUNIT_MAX_HANDLE	255
#define SUBUNIT_MAX_FAILING	50	/* failing test ids per event */
#define SUBUNIT_MAX_CORRUPT	100	/* bad packets before giving up */
#define SUBUNIT_CONNECT_TIMEOUT	10	/* seconds */
#define SUBUNIT_BACKOFF_MIN	500	/* ms */
#define SUBUNIT_BACKOFF_MAX	30000

enum subunit_conn_state {
	SUBUNIT_C_DOWN,
	SUBUNIT_C_CONNECTING,
	SUBUNIT_C_IDLE,
	SUBUNIT_C_GRAB_WAIT,
	SUBUNIT_C_SLEEP,
	SUBUNIT_C_BUSY,
};

enum subunit_link {		/* what the log last said about a server */
	SUBUNIT_L_UNKNOWN,
	SUBUNIT_L_UP,
	SUBUNIT_L_DOWN,
};

struct subunit;
struct subunit_job;

struct subunit_server {
	char			*host;
	int			 port;
	char			*name;		/* host:port, for the log */
	int			 nup;		/* connections up */
	enum subunit_link	 logged;
};

struct subunit_conn {
	struct subunit		*su;
	struct subunit_server	*srv;
	struct bufferevent	*bev;
	struct evdns_getaddrinfo_request *req;	/* resolving */
	bool			 resolving;
	struct evutil_addrinfo	*addrs;		/* resolved, all of them */
	struct evutil_addrinfo	*next_addr;	/* to try after this one */
	struct event		*retry;
	struct fh_backoff	 backoff;
	enum subunit_conn_state	 state;
	bool			 proven;	/* a gearman packet came back */
	struct subunit_job	*job;
};

struct subunit_job {
	struct subunit		*su;
	struct subunit_conn	*conn;
	char			*handle;
	struct subunit_job_info	 info;
	CURL			*easy;
	char			*url;		/* being fetched */
	bool			 plain;		/* fetching source_url itself */
	int			 gz;		/* -1 unknown, 0 plain, 1 gzip */
	uint8_t			 sniff[2];
	size_t			 nsniff;
	z_stream		 z;
	bool			 z_init;
	bool			 z_end;		/* a gzip member ended */
	struct subunit_parser	*parser;
	uint64_t		 raw;		/* bytes received */
	uint64_t		 stream;	/* decoded bytes */
	char			*error;		/* why the fetch was stopped */
	const char		*counter;	/* stat bumped on failure */
};

struct subunit_stats {
	uint64_t	jobs;		/* assigned to us */
	uint64_t	completed;	/* WORK_COMPLETE sent */
	uint64_t	failed;		/* WORK_FAIL sent */
	uint64_t	invalid;	/* job argument unusable */
	uint64_t	abandoned;	/* connection lost mid-job */
	uint64_t	aborted_builds;
	uint64_t	fetch_errors;
	uint64_t	not_found;
	uint64_t	too_large;
	uint64_t	corrupt;	/* streams with bad packets or gzip */
	uint64_t	emitted;
	uint64_t	refused;	/* events the bus refused */
	uint64_t	bytes;		/* decoded stream bytes */
	uint64_t	packets;
	uint64_t	connects;
	uint64_t	disconnects;
	uint64_t	protocol_errors;
};

struct subunit {
	struct fh_gateway	*gw;
	char			*instance;

	/* config */
	char			*gearman;
	char			*function;
	char			*worker_id;
	int			 concurrency;
	long			 fetch_timeout;	/* ms */
	size_t			 max_stream_size;
	char			*ca_file;
	char			*topic;
	int			 qos;
	bool			 retain;

	char			*host;		/* short hostname */
	struct subunit_server	*servers;
	size_t			 nservers;
	struct subunit_conn	*conns;
	size_t			 nconns;
	size_t			 next_kick;	/* fairness across servers */

	struct event_base	*base;
	struct evdns_base	*dns;
	struct fh_curl		*curl;
	struct event		*kick;
	bool			 running;
	int			 busy;		/* GRAB_WAIT + BUSY conns */
	struct subunit_stats	 st;
};

static const struct fh_conf_var subunit_vars[] = {
	FH_CONF_STR_REQ("gearman", struct subunit, gearman),
	FH_CONF_STR("function", struct subunit, function, "push-subunit"),
	FH_CONF_STR("worker_id", struct subunit, worker_id, ""),
	FH_CONF_INT("concurrency", struct subunit, concurrency, "4"),
	FH_CONF_DURATION("fetch_timeout", struct subunit, fetch_timeout, "60s"),
	FH_CONF_SIZE("max_stream_size", struct subunit, max_stream_size,
	    "256M"),
	FH_CONF_STR("ca_file", struct subunit, ca_file, ""),
	FH_CONF_STR("topic", struct subunit, topic, "gearman-subunit"),
	FH_CONF_QOS("qos", struct subunit, qos, "0"),
	FH_CONF_BOOL("retain", struct subunit, retain, "false"),
	FH_CONF_END
};

static void subunit_conn_connect(struct subunit_conn *);
static void subunit_conn_forget_addrs(struct subunit_conn *);
static void subunit_conn_connect_next(struct subunit_conn *);
static void subunit_conn_reset(struct subunit_conn *, const char *why);
static void subunit_try_grab(struct subunit_conn *);
static void subunit_job_free(struct subunit_job *);
static void subunit_job_fetch(struct subunit_job *);

/* ---- lifecycle and config ---------------------------------------------- */

static void *
subunit_create(struct fh_gateway *gw, const char *instance)
{
	struct subunit	*su = fh_xcalloc(1, sizeof *su);
	char		 host[256];

	su->gw = gw;
	su->instance = fh_xstrdup(instance);
	if (gethostname(host, sizeof host) != 0)
		strcpy(host, "localhost");
	host[sizeof host - 1] = '\0';
	su->host = fh_xstrndup(host, strcspn(host, "."));
	return su;
}

static void
subunit_free_servers(struct subunit *su)
{
	size_t	i;

	for (i = 0; i < su->nservers; i++) {
		free(su->servers[i].host);
		free(su->servers[i].name);
	}
	free(su->servers);
	su->servers = NULL;
	su->nservers = 0;
	free(su->conns);
	su->conns = NULL;
	su->nconns = 0;
}

/* "host:port, host, [v6]:port" -> servers; the port defaults to 4730. */
static int
subunit_parse_servers(struct subunit *su, const char *list, char **why)
{
	char	*copy = fh_xstrdup(list), *item, *save = NULL, *host, *end;
	char	*spec;
	int	 port;
	size_t	 n;

	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		item += strspn(item, " \t");
		for (end = item + strlen(item); end > item &&
		    (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		*end = '\0';
		if (*item == '\0')
			continue;
		n = strlen(item);
		if (strchr(item, ':') == NULL ||
		    (item[0] == '[' && item[n - 1] == ']'))
			spec = fh_xasprintf("%s:%d", item, SUBUNIT_DEFAULT_PORT);
		else
			spec = fh_xstrdup(item);
		host = NULL;
		if (fh_parse_hostport(spec, &host, &port) != 0 ||
		    host[0] == '\0' || port == 0) {
			free(host);
			*why = fh_xasprintf("bad gearman server '%s' "
			    "(want host:port)", item);
			free(spec);
			free(copy);
			return -1;
		}
		free(spec);
		su->servers = fh_xrealloc(su->servers,
		    (su->nservers + 1) * sizeof *su->servers);
		memset(&su->servers[su->nservers], 0, sizeof *su->servers);
		su->servers[su->nservers].host = host;
		su->servers[su->nservers].port = port;
		su->servers[su->nservers].name = strchr(host, ':') != NULL ?
		    fh_xasprintf("[%s]:%d", host, port) :
		    fh_xasprintf("%s:%d", host, port);
		su->nservers++;
	}
	free(copy);
	if (su->nservers == 0) {
		*why = fh_xstrdup("no gearman server given");
		return -1;
	}
	return 0;
}

static int
subunit_configure(void *self, const struct fh_section *sec, char **errstr)
{
	struct subunit	*su = self;
	char		*why = NULL, *where;
	const char	*key = NULL;
	size_t		 i;

	if (fh_conf_apply(sec, subunit_vars, su, errstr) != 0)
		return -1;
	subunit_free_servers(su);
	if (subunit_parse_servers(su, su->gearman, &why) != 0)
		key = "gearman";
	else if (su->function[0] == '\0' || strlen(su->function) > 255) {
		key = "function";
		why = fh_xstrdup("function must be 1..255 bytes");
	} else if (su->concurrency < 1 || su->concurrency > 256) {
		key = "concurrency";
		why = fh_xasprintf("concurrency %d out of range 1..256",
		    su->concurrency);
	} else if (su->fetch_timeout <= 0) {
		key = "fetch_timeout";
		why = fh_xstrdup("fetch_timeout must be more than 0");
	} else if (su->max_stream_size == 0) {
		key = "max_stream_size";
		why = fh_xstrdup("max_stream_size must be more than 0");
	} else if (!fh_topic_is_valid(su->topic, strlen(su->topic)) ||
	    strpbrk(su->topic, "+#") != NULL) {
		key = "topic";
		why = fh_xasprintf("bad topic '%s'", su->topic);
	} else if (su->ca_file[0] != '\0' && access(su->ca_file, R_OK) != 0) {
		key = "ca_file";
		why = fh_xasprintf("cannot read ca_file '%s': %s",
		    su->ca_file, strerror(errno));
	}
	if (key != NULL) {
		where = fh_section_where(sec, key);
		*errstr = fh_xasprintf("%s: %s", where, why);
		free(where);
		free(why);
		return -1;
	}
	if (su->worker_id[0] == '\0') {
		char	host[256];

		if (gethostname(host, sizeof host) != 0)
			strcpy(host, "localhost");
		host[sizeof host - 1] = '\0';
		free(su->worker_id);
		su->worker_id = fh_xasprintf("%s-pusher", host);
	}
	su->nconns = su->nservers * (size_t)su->concurrency;
	su->conns = fh_xcalloc(su->nconns, sizeof *su->conns);
	for (i = 0; i < su->nconns; i++) {
		su->conns[i].su = su;
		su->conns[i].srv = &su->servers[i % su->nservers];
		fh_backoff_init(&su->conns[i].backoff, SUBUNIT_BACKOFF_MIN,
		    SUBUNIT_BACKOFF_MAX);
	}
	return 0;
}

static void
subunit_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct subunit	*su = arg;
	size_t		 i, k;

	(void)fd;
	(void)what;
	/* Offer free credit to idle connections, starting after the last
	 * one served so that every server gets its turn. */
	for (i = 0; i < su->nconns && su->busy < su->concurrency; i++) {
		k = (su->next_kick + i) % su->nconns;
		if (su->conns[k].state == SUBUNIT_C_IDLE) {
			subunit_try_grab(&su->conns[k]);
			su->next_kick = k + 1;
		}
	}
}

static void
subunit_kick(struct subunit *su)
{
	if (su->kick != NULL && su->running)
		event_active(su->kick, EV_TIMEOUT, 0);
}

static void
subunit_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	subunit_conn_connect(arg);
}

static int
subunit_start(void *self)
{
	struct subunit	*su = self;
	size_t		 i;

	su->base = fh_gateway_base(su->gw);
	su->dns = evdns_base_new(su->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (su->dns == NULL)
		su->dns = evdns_base_new(su->base, 0);
	su->curl = fh_curl_create(su->base);
	su->kick = event_new(su->base, -1, 0, subunit_kick_cb, su);
	su->running = true;
	su->busy = 0;
	for (i = 0; i < su->nservers; i++) {
		su->servers[i].nup = 0;
		su->servers[i].logged = SUBUNIT_L_UNKNOWN;
	}
	for (i = 0; i < su->nconns; i++) {
		su->conns[i].retry = evtimer_new(su->base, subunit_retry_cb,
		    &su->conns[i]);
		su->conns[i].state = SUBUNIT_C_DOWN;
		fh_backoff_reset(&su->conns[i].backoff);
		subunit_conn_connect(&su->conns[i]);
	}
	fh_log(LOG_INFO, "subunit %s: worker %s for '%s' on %s, %d jobs at "
	    "a time", su->instance, su->worker_id, su->function, su->gearman,
	    su->concurrency);
	return 0;
}

static void
subunit_stop(void *self)
{
	struct subunit		*su = self;
	struct subunit_conn	*c;
	size_t			 i;

	if (!su->running)
		return;
	su->running = false;
	for (i = 0; i < su->nconns; i++) {
		c = &su->conns[i];
		if (c->job != NULL) {
			su->st.abandoned++;
			subunit_job_free(c->job);
			c->job = NULL;
		}
		if (c->bev != NULL) {
			bufferevent_free(c->bev);
			c->bev = NULL;
		}
		if (c->req != NULL) {
			/* runs the callback, which sees !running */
			evdns_getaddrinfo_cancel(c->req);
			c->req = NULL;
		}
		subunit_conn_forget_addrs(c);
		if (c->retry != NULL) {
			event_free(c->retry);
			c->retry = NULL;
		}
		c->state = SUBUNIT_C_DOWN;
		c->proven = false;
	}
	su->busy = 0;
	if (su->kick != NULL) {
		event_free(su->kick);
		su->kick = NULL;
	}
	fh_curl_free(su->curl);
	su->curl = NULL;
	if (su->dns != NULL) {
		evdns_base_free(su->dns, 1);
		su->dns = NULL;
	}
}

static void
subunit_destroy(void *self)
{
	struct subunit	*su = self;

	if (su == NULL)
		return;
	subunit_stop(su);
	subunit_free_servers(su);
	fh_conf_clear(subunit_vars, su);
	free(su->instance);
	free(su->host);
	free(su);
}

static void
subunit_stats(void *self, json_t *out)
{
	struct subunit	*su = self;
	size_t		 i;
	int		 up = 0, jobs = 0;

	for (i = 0; i < su->nservers; i++)
		up += su->servers[i].nup;
	for (i = 0; i < su->nconns; i++)
		jobs += su->conns[i].job != NULL;
#define S(k, v)	json_object_set_new(out, k, json_integer((json_int_t)(v)))
	S("connections_up", up);
	S("jobs_in_flight", jobs);
	S("jobs", su->st.jobs);
	S("jobs_completed", su->st.completed);
	S("jobs_failed", su->st.failed);
	S("jobs_invalid", su->st.invalid);
	S("jobs_abandoned", su->st.abandoned);
	S("aborted_builds", su->st.aborted_builds);
	S("fetch_errors", su->st.fetch_errors);
	S("not_found", su->st.not_found);
	S("too_large", su->st.too_large);
	S("corrupt_streams", su->st.corrupt);
	S("events", su->st.emitted);
	S("events_refused", su->st.refused);
	S("stream_bytes", su->st.bytes);
	S("packets", su->st.packets);
	S("connects", su->st.connects);
	S("disconnects", su->st.disconnects);
	S("protocol_errors", su->st.protocol_errors);
#undef S
}

/* ---- gearman connection ------------------------------------------------ */

static void
subunit_send(struct subunit_conn *c, uint32_t type,
    const struct gearman_arg *args, size_t n)
{
	size_t	 len = gearman_encode(NULL, 0, GEARMAN_REQ, type, args, n);
	uint8_t	*buf = fh_xmalloc(len);

	gearman_encode(buf, len, GEARMAN_REQ, type, args, n);
	bufferevent_write(c->bev, buf, len);
	free(buf);
}

static void
subunit_send_str(struct subunit_conn *c, uint32_t type, const char *s)
{
	struct gearman_arg	a = { (const uint8_t *)s, strlen(s) };

	subunit_send(c, type, &a, 1);
}

static void
subunit_try_grab(struct subunit_conn *c)
{
	struct subunit	*su = c->su;

	if (su->busy >= su->concurrency) {
		c->state = SUBUNIT_C_IDLE;	/* the kick comes back later */
		return;
	}
	su->busy++;
	c->state = SUBUNIT_C_GRAB_WAIT;
	subunit_send(c, GEARMAN_GRAB_JOB_UNIQ, NULL, 0);
}

static void
subunit_log_link(struct subunit_conn *c, enum subunit_link now,
    const char *why)
{
	struct subunit_server	*srv = c->srv;
	const char		*me = c->su->instance;

	if (srv->logged == now)
		return;
	if (now == SUBUNIT_L_UP)
		fh_log(LOG_INFO, "subunit %s: gearman %s: connected", me,
		    srv->name);
	else if (srv->logged == SUBUNIT_L_UP)
		fh_log(LOG_WARNING, "subunit %s: gearman %s: connection lost "
		    "(%s); reconnecting", me, srv->name, why);
	else
		fh_log(LOG_WARNING, "subunit %s: gearman %s: cannot connect "
		    "(%s); retrying", me, srv->name, why);
	srv->logged = now;
}

/* Close a connection (not its struct) and schedule a reconnect. A job it
 * carried is dropped unanswered; gearmand hands it to another worker. */
static void
subunit_conn_reset(struct subunit_conn *c, const char *why)
{
	struct subunit	*su = c->su;
	struct timeval	 tv;
	long		 ms;
	bool		 was_up = c->state >= SUBUNIT_C_IDLE;

	if (c->job != NULL) {
		fh_log(LOG_WARNING, "subunit %s: gearman %s: job %s abandoned "
		    "with the connection", su->instance, c->srv->name,
		    c->job->handle);
		su->st.abandoned++;
		subunit_job_free(c->job);
		c->job = NULL;
	}
	if (c->state == SUBUNIT_C_GRAB_WAIT || c->state == SUBUNIT_C_BUSY)
		su->busy--;
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (was_up) {
		su->st.disconnects++;
		c->srv->nup--;
	}
	subunit_conn_forget_addrs(c);
	c->state = SUBUNIT_C_DOWN;
	c->proven = false;
	if (c->srv->nup == 0)
		subunit_log_link(c, SUBUNIT_L_DOWN, why);
	ms = fh_backoff_next(&c->backoff);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->retry, &tv);
	subunit_kick(su);
}

static void
subunit_keepalive(evutil_socket_t fd)
{
	int	on = 1, idle = 60, intvl = 10, cnt = 5;

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
#ifdef TCP_KEEPIDLE
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
#else
	(void)idle, (void)intvl, (void)cnt;
#endif
}

static void subunit_read_cb(struct bufferevent *, void *);

static void
subunit_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct subunit_conn	*c = arg;
	char			 why[128];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		subunit_conn_forget_addrs(c);
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		subunit_keepalive(bufferevent_getfd(c->bev));
		c->su->st.connects++;
		c->srv->nup++;
		/* gear's order: who we are, then what we do; the echo proves
		 * a gearman server is listening (see subunit_conn_proven) */
		subunit_send_str(c, GEARMAN_SET_CLIENT_ID, c->su->worker_id);
		subunit_send_str(c, GEARMAN_CAN_DO, c->su->function);
		subunit_send_str(c, GEARMAN_ECHO_REQ, "firehose");
		c->state = SUBUNIT_C_IDLE;
		subunit_try_grab(c);
		return;
	}
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof why, "closed by the server");
	else if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof why, "timed out");
	else
		snprintf(why, sizeof why, "%s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	if (c->state == SUBUNIT_C_CONNECTING && c->next_addr != NULL) {
		/* another address of the same name: try it now */
		bufferevent_free(c->bev);
		c->bev = NULL;
		subunit_conn_connect_next(c);
		return;
	}
	subunit_conn_reset(c, why);
}

static void
subunit_conn_forget_addrs(struct subunit_conn *c)
{
	if (c->addrs != NULL)
		evutil_freeaddrinfo(c->addrs);
	c->addrs = c->next_addr = NULL;
}

/* Connect to the next resolved address (libevent's own connect_hostname
 * tries only the first, which may be an unreachable IPv6 one). */
static void
subunit_conn_connect_next(struct subunit_conn *c)
{
	struct subunit		*su = c->su;
	struct timeval		 tv = { SUBUNIT_CONNECT_TIMEOUT, 0 };
	struct evutil_addrinfo	*ai = c->next_addr;

	c->next_addr = ai->ai_next;
	c->bev = bufferevent_socket_new(su->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, subunit_read_cb, NULL, subunit_event_cb, c);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->state = SUBUNIT_C_CONNECTING;
	/* On failure libevent has already run the event callback. */
	bufferevent_socket_connect(c->bev, ai->ai_addr, (int)ai->ai_addrlen);
}

static void
subunit_resolve_cb(int err, struct evutil_addrinfo *res, void *arg)
{
	struct subunit_conn	*c = arg;
	char			*why;

	c->req = NULL;
	c->resolving = false;
	if (!c->su->running || err == EVUTIL_EAI_CANCEL) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	if (err != 0 || res == NULL) {
		why = fh_xasprintf("cannot resolve %s: %s", c->srv->host,
		    evutil_gai_strerror(err));
		subunit_conn_reset(c, why);
		free(why);
		return;
	}
	c->addrs = c->next_addr = res;
	subunit_conn_connect_next(c);
}

static void
subunit_conn_connect(struct subunit_conn *c)
{
	struct subunit			*su = c->su;
	struct evutil_addrinfo		 hints;
	struct evdns_getaddrinfo_request *req;
	char				 port[16];

	if (!su->running)
		return;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(port, sizeof port, "%d", c->srv->port);
	c->state = SUBUNIT_C_CONNECTING;
	c->resolving = true;
	/* The callback may run before this returns (numbers, /etc/hosts). */
	req = evdns_getaddrinfo(su->dns, c->srv->host, port, &hints,
	    subunit_resolve_cb, c);
	if (c->resolving)
		c->req = req;
}

static void
subunit_protocol_error(struct subunit_conn *c, const char *fmt, const char *a)
{
	char	*why = fh_xasprintf(fmt, a);

	c->su->st.protocol_errors++;
	fh_log(LOG_WARNING, "subunit %s: gearman %s: protocol error: %s; "
	    "reconnecting",
	    c->su->instance, c->srv->name, why);
	subunit_conn_reset(c, why);
	free(why);
}

static void
subunit_job_start(struct subunit_conn *, const struct gearman_arg *handle,
    const struct gearman_arg *data);

/* The first good packet from the server: only now is the link up, for the
 * log and for the backoff (a peer that accepts and then talks nonsense
 * must not be retried at the minimum delay forever). */
static void
subunit_conn_proven(struct subunit_conn *c)
{
	if (c->proven)
		return;
	c->proven = true;
	fh_backoff_reset(&c->backoff);
	subunit_log_link(c, SUBUNIT_L_UP, NULL);
}

/* One packet from gearmand. Returns -1 when the connection was reset. */
static int
subunit_handle(struct subunit_conn *c, const struct gearman_packet *pkt)
{
	struct gearman_arg	args[GEARMAN_MAX_ARGS] = { { NULL, 0 } };
	struct subunit		*su = c->su;
	int			n = gearman_type_nargs(pkt->type);
	char			*msg;

	if (pkt->magic != GEARMAN_RES) {
		subunit_protocol_error(c, "unexpected %s request",
		    gearman_type_name(pkt->type));
		return -1;
	}
	if (n > 0 && gearman_split(pkt, args, (size_t)n) != 0) {
		subunit_protocol_error(c, "malformed %s packet",
		    gearman_type_name(pkt->type));
		return -1;
	}
	if (pkt->type != GEARMAN_ERROR)
		subunit_conn_proven(c);
	switch (pkt->type) {
	case GEARMAN_ECHO_RES:
		return 0;
	case GEARMAN_NOOP:
		if (c->state == SUBUNIT_C_SLEEP)
			subunit_try_grab(c);
		return 0;
	case GEARMAN_NO_JOB:
		if (c->state != SUBUNIT_C_GRAB_WAIT)
			break;
		su->busy--;
		c->state = SUBUNIT_C_SLEEP;
		subunit_send(c, GEARMAN_PRE_SLEEP, NULL, 0);
		subunit_kick(su);
		return 0;
	case GEARMAN_JOB_ASSIGN:
	case GEARMAN_JOB_ASSIGN_UNIQ:
		if (c->state != SUBUNIT_C_GRAB_WAIT) {
			subunit_protocol_error(c, "%s without GRAB_JOB",
			    gearman_type_name(pkt->type));
			return -1;
		}
		if (args[0].len == 0 || args[0].len > SUBUNIT_MAX_HANDLE ||
		    memchr(args[0].p, '\0', args[0].len) != NULL) {
			subunit_protocol_error(c, "bad job handle in %s",
			    gearman_type_name(pkt->type));
			return -1;
		}
		c->state = SUBUNIT_C_BUSY;
		su->st.jobs++;
		subunit_job_start(c, &args[0], &args[n - 1]);
		return 0;
	case GEARMAN_ERROR:
		msg = fh_xasprintf("%.*s: %.*s", (int)args[0].len,
		    (const char *)args[0].p, (int)args[1].len,
		    (const char *)args[1].p);
		subunit_protocol_error(c, "server error %s", msg);
		free(msg);
		return -1;
	default:
		break;
	}
	fh_log(LOG_DEBUG, "subunit %s: gearman %s: ignored %s",
	    c->su->instance, c->srv->name,
	    gearman_type_name(pkt->type));
	return 0;
}

static void
subunit_read_cb(struct bufferevent *bev, void *arg)
{
	struct subunit_conn	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct gearman_packet	 pkt;
	const uint8_t		*p;
	size_t			 avail, want;
	ssize_t			 n;

	while ((avail = evbuffer_get_length(in)) > 0) {
		want = avail < GEARMAN_HEADER_LEN ? avail : GEARMAN_HEADER_LEN;
		p = evbuffer_pullup(in, (ssize_t)want);
		n = gearman_parse(p, want, SUBUNIT_MAX_PACKET, &pkt);
		if (n < 0) {
			subunit_protocol_error(c, "%s", n == GEARMAN_E_MAGIC ?
			    "not a gearman response" :
			    "packet over 1 MiB");
			return;
		}
		if (want < GEARMAN_HEADER_LEN)
			return;
		want += (size_t)p[8] << 24 | (size_t)p[9] << 16 |
		    (size_t)p[10] << 8 | p[11];
		if (avail < want)
			return;
		p = evbuffer_pullup(in, (ssize_t)want);
		if (gearman_parse(p, want, SUBUNIT_MAX_PACKET, &pkt) <= 0)
			return;	/* cannot happen: checked above */
		if (subunit_handle(c, &pkt) != 0)
			return;	/* bev is gone */
		evbuffer_drain(in, want);
	}
}

/* ---- jobs ---------------------------------------------------------------- */

static void
subunit_job_free(struct subunit_job *j)
{
	if (j == NULL)
		return;
	if (j->easy != NULL) {
		if (j->su->curl != NULL)
			fh_curl_cancel(j->su->curl, j->easy);
		curl_easy_cleanup(j->easy);
	}
	if (j->z_init)
		inflateEnd(&j->z);
	subunit_parser_free(j->parser);
	subunit_job_clear(&j->info);
	free(j->handle);
	free(j->url);
	free(j->error);
	free(j);
}

/* Publish, then answer gearmand once, then take the next job. */
static void
subunit_job_finish(struct subunit_job *j, const char *status,
    const char *error, json_t *summary)
{
	struct subunit		*su = j->su;
	struct subunit_conn	*c = j->conn;
	struct gearman_arg	 args[2];
	struct fh_event		*ev;
	const uint8_t		*payload;
	size_t			 len;
	char			*topic;
	int			 rc = -1;

	topic = subunit_job_topic(su->topic, su->host, &j->info);
	if (topic == NULL) {
		fh_log(LOG_WARNING, "subunit %s: job %s: project '%s' makes "
		    "no valid topic", su->instance, j->handle, j->info.project);
		su->st.invalid++;
		json_decref(summary);
		status = "failed";
		ev = NULL;
	} else {
		ev = fh_event_new(topic, subunit_job_payload(&j->info, status,
		    error, j->url, summary));
		fh_event_set_qos(ev, su->qos);
		fh_event_set_retain(ev, su->retain);
		fh_event_set_origin(ev, su->instance);
		rc = fh_gateway_emit(su->gw, ev);
		if (rc == 0)
			su->st.emitted++;
		else
			su->st.refused++;
		free(topic);
	}
	args[0].p = (const uint8_t *)j->handle;
	args[0].len = strlen(j->handle);
	if (rc == 0 && strcmp(status, "failed") != 0) {
		payload = fh_event_payload(ev, &len);
		args[1].p = payload;
		args[1].len = len;
		subunit_send(c, GEARMAN_WORK_COMPLETE, args, 2);
		su->st.completed++;
	} else {
		subunit_send(c, GEARMAN_WORK_FAIL, args, 1);
		su->st.failed++;
	}
	if (rc == 0)
		fh_log(LOG_DEBUG, "subunit %s: job %s: %s on %s",
		    su->instance, j->handle,
		    status, fh_event_topic(ev));
	else if (ev != NULL)
		fh_log(LOG_WARNING, "subunit %s: job %s: the bus refused "
		    "the event on %s", su->instance, j->handle, fh_event_topic(ev));
	fh_event_unref(ev);
	c->job = NULL;
	subunit_job_free(j);
	su->busy--;
	c->state = SUBUNIT_C_IDLE;
	subunit_try_grab(c);
	subunit_kick(su);
}

static void
subunit_job_start(struct subunit_conn *c, const struct gearman_arg *handle,
    const struct gearman_arg *data)
{
	struct subunit		*su = c->su;
	struct subunit_job	*j = fh_xcalloc(1, sizeof *j);
	struct gearman_arg	 a;
	char			*err = NULL;

	j->su = su;
	j->conn = c;
	j->handle = fh_xstrndup((const char *)handle->p, handle->len);
	c->job = j;
	if (subunit_job_parse(data->p, data->len, &j->info, &err) != 0) {
		fh_log(LOG_WARNING, "subunit %s: job %s: %s", su->instance,
		    j->handle, err);
		free(err);
		su->st.invalid++;
		a.p = handle->p;
		a.len = handle->len;
		subunit_send(c, GEARMAN_WORK_FAIL, &a, 1);
		su->st.failed++;
		c->job = NULL;
		subunit_job_free(j);
		su->busy--;
		c->state = SUBUNIT_C_IDLE;
		subunit_try_grab(c);
		return;
	}
	if (j->info.aborted) {
		/* Zuul throws these away; say so instead of failing. */
		su->st.aborted_builds++;
		subunit_job_finish(j, "aborted", NULL, NULL);
		return;
	}
	subunit_job_fetch(j);
}

/* Stop the transfer from the write callback with a reason. */
static size_t
subunit_job_stop(struct subunit_job *j, const char *counter, char *error)
{
	if (j->error == NULL) {
		j->error = error;
		j->counter = counter;
	} else
		free(error);
	return 0;	/* CURLE_WRITE_ERROR */
}

static int
subunit_job_feed(struct subunit_job *j, const uint8_t *buf, size_t len)
{
	struct subunit	*su = j->su;

	if (len == 0)
		return 0;
	if (j->stream + len > su->max_stream_size) {
		subunit_job_stop(j, "too_large", fh_xasprintf("stream larger "
		    "than max_stream_size (%zu bytes)", su->max_stream_size));
		return -1;
	}
	j->stream += len;
	if (subunit_parser_feed(j->parser, buf, len) != 0) {
		subunit_job_stop(j, "corrupt", fh_xasprintf("more than %d "
		    "corrupt packets; gave up", SUBUNIT_MAX_CORRUPT));
		return -1;
	}
	return 0;
}

/* Inflate gzip (members back to back) into the parser. */
static int
subunit_job_inflate(struct subunit_job *j, const uint8_t *buf, size_t len)
{
	uint8_t	out[16384];
	int	zrc;

	j->z.next_in = (Bytef *)(uintptr_t)buf;
	j->z.avail_in = (uInt)len;
	while (j->z.avail_in > 0) {
		if (j->z_end) {
			inflateReset(&j->z);
			j->z_end = false;
		}
		j->z.next_out = out;
		j->z.avail_out = sizeof out;
		zrc = inflate(&j->z, Z_NO_FLUSH);
		if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
			subunit_job_stop(j, "corrupt", fh_xasprintf("bad gzip "
			    "data: %s", j->z.msg ? j->z.msg : "inflate failed"));
			return -1;
		}
		if (subunit_job_feed(j, out, sizeof out - j->z.avail_out) != 0)
			return -1;
		if (zrc == Z_STREAM_END)
			j->z_end = true;
		else if (zrc == Z_BUF_ERROR)
			break;
	}
	return 0;
}

/* Decide gzip or not on the first two bytes, then pass bytes on. */
static int
subunit_job_data(struct subunit_job *j, const uint8_t *buf, size_t len)
{
	while (j->gz < 0 && len > 0 && j->nsniff < 2) {
		j->sniff[j->nsniff++] = *buf++;
		len--;
	}
	if (j->gz < 0) {
		if (j->nsniff < 2)
			return 0;
		j->gz = j->sniff[0] == 0x1f && j->sniff[1] == 0x8b;
		if (j->gz) {
			if (inflateInit2(&j->z, 15 + 16) != Z_OK) {
				subunit_job_stop(j, "corrupt",
				    fh_xstrdup("inflateInit failed"));
				return -1;
			}
			j->z_init = true;
		}
		if ((j->gz ? subunit_job_inflate(j, j->sniff, 2) :
		    subunit_job_feed(j, j->sniff, 2)) != 0)
			return -1;
	}
	if (len == 0)
		return 0;
	return j->gz ? subunit_job_inflate(j, buf, len) :
	    subunit_job_feed(j, buf, len);
}

static size_t
subunit_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct subunit_job	*j = arg;
	size_t			 len = size * nmemb;

	j->raw += len;
	if (subunit_job_data(j, (const uint8_t *)ptr, len) != 0)
		return 0;
	return len;
}

static bool
subunit_url_is_gz(const char *url)
{
	size_t	n = strlen(url);

	return n > 3 && strcmp(url + n - 3, ".gz") == 0;
}

static void subunit_fetch_done(CURL *, CURLcode, void *);

static void
subunit_job_fetch(struct subunit_job *j)
{
	struct subunit	*su = j->su;

	free(j->url);
	j->url = j->plain || subunit_url_is_gz(j->info.source_url) ?
	    fh_xstrdup(j->info.source_url) :
	    fh_xasprintf("%s.gz", j->info.source_url);
	subunit_parser_free(j->parser);
	j->parser = subunit_parser_create(SUBUNIT_MAX_FAILING,
	    SUBUNIT_MAX_CORRUPT);
	if (j->z_init)
		inflateEnd(&j->z);
	memset(&j->z, 0, sizeof j->z);
	j->z_init = j->z_end = false;
	j->gz = -1;
	j->nsniff = 0;
	j->raw = j->stream = 0;
	if (j->easy == NULL)
		j->easy = curl_easy_init();
	else
		curl_easy_reset(j->easy);
	if (j->easy == NULL) {
		su->st.fetch_errors++;
		subunit_job_finish(j, "failed", "curl_easy_init failed", NULL);
		return;
	}
	curl_easy_setopt(j->easy, CURLOPT_URL, j->url);
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, subunit_write_cb);
	curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(j->easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(j->easy, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(j->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(j->easy, CURLOPT_REDIR_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, su->fetch_timeout);
	/* Content-Encoding is curl's; a .gz body we inflate ourselves. */
	curl_easy_setopt(j->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(j->easy, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)su->max_stream_size);
	curl_easy_setopt(j->easy, CURLOPT_USERAGENT, PACKAGE_NAME "/"
	    PACKAGE_VERSION " subunit");
	if (su->ca_file[0] != '\0')
		curl_easy_setopt(j->easy, CURLOPT_CAINFO, su->ca_file);
	if (fh_curl_add(su->curl, j->easy, subunit_fetch_done, j) != 0) {
		su->st.fetch_errors++;
		subunit_job_finish(j, "failed", "cannot start the download",
		    NULL);
	}
}

static void
subunit_fetch_done(CURL *easy, CURLcode rc, void *arg)
{
	struct subunit_job		*j = arg;
	struct subunit			*su = j->su;
	const struct subunit_summary	*s;
	long				 code = 0;
	char				*error = NULL;
	const char			*status = "failed";
	json_t				*summary = NULL;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_HTTP_RETURNED_ERROR && code >= 400 && code < 500 &&
	    !j->plain && strcmp(j->url, j->info.source_url) != 0) {
		/* No .gz: try the plain file. */
		j->plain = true;
		subunit_job_fetch(j);
		return;
	}
	if (rc == CURLE_OK && j->gz < 0 && j->nsniff > 0) {
		j->gz = 0;	/* a one-byte file */
		subunit_job_feed(j, j->sniff, j->nsniff);
	}
	if (j->error != NULL) {
		/* we stopped it: too large or corrupt */
		error = fh_xstrdup(j->error);
		if (strcmp(j->counter, "too_large") == 0)
			su->st.too_large++;
		else
			su->st.corrupt++;
	} else if (rc == CURLE_FILESIZE_EXCEEDED) {
		su->st.too_large++;
		error = fh_xasprintf("stream larger than max_stream_size "
		    "(%zu bytes)", su->max_stream_size);
	} else if (rc == CURLE_HTTP_RETURNED_ERROR) {
		if (code == 404)
			su->st.not_found++;
		else
			su->st.fetch_errors++;
		error = fh_xasprintf("HTTP %ld", code);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		su->st.fetch_errors++;
		error = fh_xasprintf("download timed out after %ld ms",
		    su->fetch_timeout);
	} else if (rc != CURLE_OK) {
		su->st.fetch_errors++;
		error = fh_xstrdup(curl_easy_strerror(rc));
	} else if (j->gz == 1 && !j->z_end) {
		su->st.corrupt++;
		error = fh_xstrdup("gzip stream cut short");
	}
	if (j->raw > 0 || rc == CURLE_OK) {
		subunit_parser_finish(j->parser);
		s = subunit_parser_summary(j->parser);
		su->st.bytes += s->bytes;
		su->st.packets += s->packets;
		summary = subunit_summary_json(s);
		if (error == NULL && s->corrupt > 0) {
			su->st.corrupt++;
			error = fh_xasprintf("corrupt subunit packet at offset "
			    "%llu: %s", (unsigned long long)s->error_offset,
			    s->error);
		} else if (error == NULL && s->packets == 0 && s->bytes > 0) {
			su->st.corrupt++;
			error = fh_xstrdup("not a subunit v2 stream");
		}
	}
	if (error == NULL)
		status = "success";
	else
		fh_log(LOG_INFO, "subunit %s: job %s: %s: %s", su->instance,
		    j->handle, j->url,
		    error);
	subunit_job_finish(j, status, error, summary);
	free(error);
}

const struct fh_source_ops fh_source_subunit = {
	.name = "subunit",
	.create = subunit_create,
	.configure = subunit_configure,
	.start = subunit_start,
	.stop = subunit_stop,
	.destroy = subunit_destroy,
	.stats = subunit_stats,
};
