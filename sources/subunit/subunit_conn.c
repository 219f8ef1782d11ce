/*
 * The subunit source's gearman worker connections: connect (every
 * address in turn), SET_CLIENT_ID and CAN_DO, then GRAB_JOB_UNIQ /
 * PRE_SLEEP / NOOP as credit allows, and a reset with backoff on any
 * error (see the state diagram in subunit.c).
 */
#include "sources/subunit/subunit_int.h"

static void subunit_conn_reset(struct subunit_conn *, const char *why);

/* ---- gearman connection ------------------------------------------------ */

void
subunit_conn_send(struct subunit_conn *c, uint32_t type,
    const struct gearman_arg *args, size_t n)
{
	size_t	 len = gearman_encode(NULL, 0, GEARMAN_REQ, type, args, n);
	uint8_t	*buf = fh_xmalloc(len);

	gearman_encode(buf, len, GEARMAN_REQ, type, args, n);
	bufferevent_write(c->bev, buf, len);
	free(buf);
}

static void
subunit_conn_send_str(struct subunit_conn *c, uint32_t type, const char *s)
{
	struct gearman_arg	a = { (const uint8_t *)s, strlen(s) };

	subunit_conn_send(c, type, &a, 1);
}

void
subunit_conn_try_grab(struct subunit_conn *c)
{
	struct subunit	*su = c->su;

	if (su->busy >= su->concurrency) {
		c->state = SUBUNIT_C_IDLE;	/* the kick comes back later */
		return;
	}
	su->busy++;
	c->state = SUBUNIT_C_GRAB_WAIT;
	subunit_conn_send(c, GEARMAN_GRAB_JOB_UNIQ, NULL, 0);
}

static void
subunit_conn_log_link(struct subunit_conn *c, enum subunit_link now,
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
	fh_connect_cancel(c->conn);
	c->conn = NULL;
	c->state = SUBUNIT_C_DOWN;
	c->proven = false;
	if (c->srv->nup == 0)
		subunit_conn_log_link(c, SUBUNIT_L_DOWN, why);
	ms = fh_backoff_next(&c->backoff);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->retry, &tv);
	subunit_kick(su);
}

static void
subunit_conn_keepalive(evutil_socket_t fd)
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

static void subunit_conn_read_cb(struct bufferevent *, void *);

/* TCP is up: gear's order, who we are, then what we do; the echo proves
 * a gearman server is listening (see subunit_conn_proven). */
static void
subunit_conn_up(struct subunit_conn *c)
{
	subunit_conn_keepalive(bufferevent_getfd(c->bev));
	c->su->st.connects++;
	c->srv->nup++;
	subunit_conn_send_str(c, GEARMAN_SET_CLIENT_ID, c->su->worker_id);
	subunit_conn_send_str(c, GEARMAN_CAN_DO, c->su->function);
	subunit_conn_send_str(c, GEARMAN_ECHO_REQ, "firehose");
	c->state = SUBUNIT_C_IDLE;
	subunit_conn_try_grab(c);
}

static void
subunit_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct subunit_conn	*c = arg;
	char			 why[128];

	(void)bev;
	if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof why, "closed by the server");
	else if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof why, "timed out");
	else
		snprintf(why, sizeof why, "%s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	subunit_conn_reset(c, why);
}

/* fh_connect tried every address of the server: up, or why not. */
static void
subunit_conn_connected_cb(int fd, const char *why, void *arg)
{
	struct subunit_conn	*c = arg;

	c->conn = NULL;
	if (fd == -1) {
		subunit_conn_reset(c, why);
		return;
	}
	c->bev = bufferevent_socket_new(c->su->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, subunit_conn_read_cb, NULL,
	    subunit_conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	subunit_conn_up(c);
}

void
subunit_conn_connect(struct subunit_conn *c)
{
	if (!c->su->running)
		return;
	c->state = SUBUNIT_C_CONNECTING;
	c->conn = fh_connect_start(c->su->gw, c->srv->host, c->srv->port,
	    SUBUNIT_CONNECT_TIMEOUT * 1000L, subunit_conn_connected_cb, c);
}

static void
subunit_conn_protocol_error(struct subunit_conn *c, const char *fmt,
    const char *a)
{
	char	*why = fh_xasprintf(fmt, a);

	c->su->st.protocol_errors++;
	fh_log(LOG_WARNING, "subunit %s: gearman %s: protocol error: %s; "
	    "reconnecting",
	    c->su->instance, c->srv->name, why);
	subunit_conn_reset(c, why);
	free(why);
}

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
	subunit_conn_log_link(c, SUBUNIT_L_UP, NULL);
}

/* One packet from gearmand. Returns -1 when the connection was reset. */
static int
subunit_conn_handle(struct subunit_conn *c, const struct gearman_packet *pkt)
{
	struct gearman_arg	args[GEARMAN_MAX_ARGS] = { { NULL, 0 } };
	struct subunit		*su = c->su;
	int			n = gearman_type_nargs(pkt->type);
	char			*msg;

	if (pkt->magic != GEARMAN_RES) {
		subunit_conn_protocol_error(c, "unexpected %s request",
		    gearman_type_name(pkt->type));
		return -1;
	}
	if (n > 0 && gearman_split(pkt, args, (size_t)n) != 0) {
		subunit_conn_protocol_error(c, "malformed %s packet",
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
			subunit_conn_try_grab(c);
		return 0;
	case GEARMAN_NO_JOB:
		if (c->state != SUBUNIT_C_GRAB_WAIT)
			break;
		su->busy--;
		c->state = SUBUNIT_C_SLEEP;
		subunit_conn_send(c, GEARMAN_PRE_SLEEP, NULL, 0);
		subunit_kick(su);
		return 0;
	case GEARMAN_JOB_ASSIGN:
	case GEARMAN_JOB_ASSIGN_UNIQ:
		if (c->state != SUBUNIT_C_GRAB_WAIT) {
			subunit_conn_protocol_error(c, "%s without GRAB_JOB",
			    gearman_type_name(pkt->type));
			return -1;
		}
		if (args[0].len == 0 || args[0].len > SUBUNIT_MAX_HANDLE ||
		    memchr(args[0].p, '\0', args[0].len) != NULL) {
			subunit_conn_protocol_error(c, "bad job handle in %s",
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
		subunit_conn_protocol_error(c, "server error %s", msg);
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
subunit_conn_read_cb(struct bufferevent *bev, void *arg)
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
			subunit_conn_protocol_error(c, "%s",
			    n == GEARMAN_E_MAGIC ?
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
		if (subunit_conn_handle(c, &pkt) != 0)
			return;	/* bev is gone */
		evbuffer_drain(in, want);
	}
}

