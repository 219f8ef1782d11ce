/*
 * The broker's frame: a listener hands it a connection (accept), the read
 * loop cuts the input into packets and dispatches each to its handle_*.c,
 * and connections are closed and freed here, never inside their own
 * callbacks. Also the shared write path (every byte to a client goes
 * through broker_write/broker_write_ref) and create/start/stop.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "config.h"
#include "gateway/gateway.h"
#include "gateway/ioloop.h"
#include "gateway/log.h"
#include "gateway/log_limit.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/auth.h"
#include "sinks/mqtt/broker_int.h"
#include "sinks/mqtt/listener.h"
#include "sinks/mqtt/transport.h"

static void	broker_event_cb(struct bufferevent *, short, void *);
static void	broker_read_cb(struct bufferevent *, void *);
static void	broker_unpark(struct mqtt_conn *);

bool
broker_conn_is_active(const struct mqtt_conn *c)
{
	return c != NULL && c->state == CONN_ACTIVE;
}

static int64_t
broker_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What is left of c's keep alive deadline (> 0), in ms. */
static int64_t
broker_keepalive_left(const struct mqtt_conn *c)
{
	/* [MQTT-3.1.2-24]: one and a half times the keep alive */
	int64_t	ms = (int64_t)c->keepalive * 1500;

	ms -= broker_now_ms() - c->read_ms;
	return ms < 1 ? 1 : ms;
}

void
broker_keepalive(struct mqtt_conn *c, bool rest)
{
	struct timeval	tv;
	int64_t		ms;

	c->ka_short = rest;
	if (c->keepalive == 0) {
		bufferevent_set_timeouts(c->bev, NULL, NULL);
		return;
	}
	ms = rest ? broker_keepalive_left(c) : (int64_t)c->keepalive * 1500;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	bufferevent_set_timeouts(c->bev, &tv, NULL);
}

/* One per connection: kept within jemalloc's 224-byte size class. */
_Static_assert(sizeof(struct mqtt_conn) <= 224, "struct mqtt_conn grew");

/* Idle through a whole sweep, nothing buffered or waiting: may give up
 * its bufferevent. Plain TCP, and WebSocket over TCP when its filter
 * is between frames; not TLS, whose state lives in its SSL. */
static bool
broker_parkable(struct mqtt_conn *c)
{
	if (c->state != CONN_ACTIVE || c->staged || c->nacks != 0 ||
	    c->replays != NULL || broker_outlen(c) != 0 ||
	    evbuffer_get_length(bufferevent_get_input(c->bev)) != 0)
		return false;
	if (c->ts != NULL)
		return transport_parkable(c->ts);
	return c->copy_small && bufferevent_get_underlying(c->bev) == NULL;
}

static void
broker_park_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_conn	*c = arg;

	(void)fd;
	broker_unpark(c);
	/* readable: the new bufferevent reads it */
	if (what & EV_TIMEOUT)
		broker_event_cb(c->bev, BEV_EVENT_TIMEOUT, c);
}

static bool
broker_park(struct mqtt_conn *c)
{
	struct mqtt_broker	*b = c->b;
	struct timeval		 tv;
	int64_t			 ms;
	evutil_socket_t		 fd = bufferevent_getfd(c->bev);

	if (fd < 0 || (c->park_ev = event_new(b->base, fd, EV_READ,
	    broker_park_cb, c)) == NULL)
		return false;
	evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
	c->out_cb = NULL;
	if (c->ts != NULL)
		c->tp = transport_park(c->ts);	/* frees bev */
	else
		(void)fh_iobev_release(c->bev);
	c->bev = NULL;
	if (c->keepalive > 0) {
		ms = broker_keepalive_left(c);
		tv.tv_sec = (time_t)(ms / 1000);
		tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
		event_add(c->park_ev, &tv);
	} else
		event_add(c->park_ev, NULL);
	TAILQ_REMOVE(&b->conns, c, entry);
	TAILQ_INSERT_TAIL(&b->conns, c, entry);
	b->nparked++;
	b->parked_total++;
	return true;
}

static void
broker_unpark(struct mqtt_conn *c)
{
	struct mqtt_broker	*b = c->b;
	struct fh_ioloops	*loops = b->gw ? fh_gateway_ioloops(b->gw) :
				    NULL;
	evutil_socket_t		 fd = event_get_fd(c->park_ev);

	if (c->tp != NULL)
		c->bev = transport_unpark(c->tp, b->base, fd, c->addr,
		    &c->ts);
	else
		c->bev = loops != NULL ? fh_iobev_socket_resume(loops, fd) :
		    bufferevent_socket_new(b->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fh_fatal("mqtt: cannot make a bufferevent to wake a parked "
		    "connection");
	event_free(c->park_ev);
	c->park_ev = NULL;
	c->threaded = fh_iobev_threaded(c->bev);
	c->out_cb = evbuffer_add_cb(bufferevent_get_output(c->bev),
	    limits_out_cb, c);
	bufferevent_setcb(c->bev, broker_read_cb, NULL, broker_event_cb, c);
	broker_keepalive(c, true);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->stirred = true;
	TAILQ_REMOVE(&b->conns, c, entry);
	TAILQ_INSERT_HEAD(&b->conns, c, entry);
	b->nparked--;
	b->parked_woken++;
}

/* Every BROKER_PARK_MS: park the awake connections that stayed idle. */
static void
broker_park_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_broker	*b = arg;
	struct mqtt_conn	*c, *next;
	size_t			 n = 0;

	(void)fd;
	(void)what;
	for (c = TAILQ_FIRST(&b->conns); c != NULL && c->bev != NULL;
	    c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->stirred)
			c->stirred = false;
		else if (broker_parkable(c) && broker_park(c))
			n++;
	}
	limits_trim_parked(b, n);
}

/* An empty stage back to the pool: an idle connection holds none. */
static void
broker_stage_release(struct mqtt_conn *c)
{
	struct mqtt_broker	*b = c->b;

	evbuffer_remove_cb_entry(c->stage, c->stage_cb);
	c->stage_cb = NULL;
	if (b->nstage_pool < sizeof b->stage_pool / sizeof b->stage_pool[0])
		b->stage_pool[b->nstage_pool++] = c->stage;
	else
		evbuffer_free(c->stage);
	c->stage = NULL;
}

/* Commit the turn's batch, then hand every stage to its worker. */
static void
broker_stage_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_broker	*b = arg;
	struct mqtt_conn	*c;

	(void)fd;
	(void)what;
	if (b->st != NULL)
		fh_state_flush(b->st);	/* its callbacks may stage more */
	while ((c = TAILQ_FIRST(&b->staged)) != NULL) {
		TAILQ_REMOVE(&b->staged, c, stage_entry);
		c->staged = false;
		evbuffer_add_buffer(bufferevent_get_output(c->bev), c->stage);
		broker_stage_release(c);
	}
}

struct evbuffer *
broker_out(struct mqtt_conn *c)
{
	struct mqtt_broker	*b = c->b;

	if (c->bev == NULL)
		broker_unpark(c);
	c->stirred = true;
	if (!c->threaded)
		return bufferevent_get_output(c->bev);
	if (!c->staged) {
		if (b->stage_ev == NULL)
			b->stage_ev = event_new(b->base, -1, 0,
			    broker_stage_cb, b);
		c->stage = b->nstage_pool > 0 ?
		    b->stage_pool[--b->nstage_pool] : evbuffer_new();
		/* counted as output is, for max_memory */
		c->stage_cb = evbuffer_add_cb(c->stage, limits_out_cb, c);
		c->staged = true;
		TAILQ_INSERT_TAIL(&b->staged, c, stage_entry);
		event_active(b->stage_ev, EV_TIMEOUT, 0);
	}
	return c->stage;
}

size_t
broker_outlen(struct mqtt_conn *c)
{
	/* As limits_out_cb counts both: asking the output would take its
	 * lock, which a worker holds through each writev(). */
	return atomic_load_explicit(&c->outlen, memory_order_relaxed);
}

void
broker_out_drain(struct mqtt_conn *c)
{
	struct evbuffer	*out;

	if (c->bev == NULL)
		return;		/* parked: nothing buffered */
	out = bufferevent_get_output(c->bev);
	evbuffer_drain(out, evbuffer_get_length(out));
	if (c->stage != NULL)
		evbuffer_drain(c->stage, evbuffer_get_length(c->stage));
}

/* Before c goes: its stage too (the stage event may not run again). */
static void
broker_unstage(struct mqtt_conn *c)
{
	if (!c->staged)
		return;
	TAILQ_REMOVE(&c->b->staged, c, stage_entry);
	c->staged = false;
	evbuffer_add_buffer(bufferevent_get_output(c->bev), c->stage);
	broker_stage_release(c);
}

void
broker_write(struct mqtt_conn *c, const void *p, size_t len)
{
	evbuffer_add(broker_out(c), p, len);
	c->b->bytes_out += len;
}

/*
 * Below this, a shared message is copied into the output rather than
 * referenced: consecutive small packets then coalesce into one chain, so
 * the socket gets one large write (one iovec, full TCP segments) instead
 * of a writev of dozens of tiny chains, and no chain is allocated and
 * freed per delivery. Only on plain TCP: the ws/mqtts filters copy small
 * chains into large ones already, and a second copy would be waste.
 */
#define BROKER_COPY_MAX	2048

void
broker_write_ref(struct mqtt_conn *c, struct evbuffer *out, const void *p,
    size_t len, struct mqtt_msg *m)
{
	if (len == 0)
		return;
	/* A worker thread drains a threaded connection's output: a
	 * reference would be released there, so it gets a copy. */
	if ((c->copy_small && len <= BROKER_COPY_MAX) || c->threaded) {
		/* evbuffer_add() fills the tail chain and doubles the
		 * next one (to 4 kB): a backlog becomes a few iovecs. */
		evbuffer_add(out, p, len);
		c->b->bytes_out += len;
		return;
	}
	if (evbuffer_add_reference(out, p, len, msg_release_cb,
	    msg_ref(m)) != 0) {
		msg_unref(m);
		return;
	}
	c->b->bytes_out += len;
}

static void
broker_conn_free(struct mqtt_conn *c)
{
	struct mqtt_broker	*b = c->b;
	struct mqtt_session	*s = c->sess;

	if (b->st != NULL)
		fh_state_cancel(b->st, c);
	replay_conn_close(c);
	publish_conn_close(c);
	if (s != NULL)
		shared_conn_lost(s);	/* its group's unacked go on */
	free(c->acks);
	if (s != NULL) {
		s->conn = NULL;
		c->sess = NULL;
		if (s->clean)
			session_free(s);
		else {
			if (b->base != NULL)
				event_base_gettimeofday_cached(b->base,
				    &s->offline_since);
			if (persist_is_durable(s))
				persist_session(s, false);
		}
	}
	broker_unstage(c);
	TAILQ_REMOVE(&b->conns, c, entry);
	b->nconns--;
	if (c->lstat != NULL)
		c->lstat->current--;
	if (c->out_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(c->bev),
		    c->out_cb);
	b->mem_out -= c->outlen < b->mem_out ? c->outlen : b->mem_out;
	if (c->bev == NULL) {
		evutil_closesocket(event_get_fd(c->park_ev));
		event_free(c->park_ev);
		if (c->tp != NULL)
			transport_parked_free(c->tp);
		b->nparked--;
	} else
		fh_iobev_free(c->bev);
	limits_trim_check(b);
	if (c->free_scheduled)
		event_free(c->free_ev);
	will_free(c->will);
	free(c->client_id);
	free(c->addr);
	free(c->cert_cn);
	free(c);
}

static void
broker_conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_conn	*c = arg;
	struct mqtt_broker	*b = c->b;

	(void)fd;
	(void)what;
	/* without a gateway (the fuzzer) the will goes to our own clients;
	 * a delayed one waits in the session if that outlives us */
	if (c->abnormal && c->will != NULL) {
		struct mqtt_will *w = c->will;

		c->will = NULL;
		will_lost(b, w, c->sess != NULL && !c->sess->clean ?
		    c->sess : NULL);
	}
	broker_conn_free(c);
}

static void
broker_conn_schedule_free(struct mqtt_conn *c)
{
	if (c->free_scheduled)
		return;
	c->free_scheduled = true;
	/* made only now: an idle connection does not carry it */
	c->free_ev = event_new(c->b->base, -1, 0, broker_conn_free_cb, c);
	event_active(c->free_ev, EV_TIMEOUT, 0);
}

static void
broker_flush_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	if (broker_outlen(arg) == 0)	/* else its stage is on the way */
		broker_conn_schedule_free(arg);
}

/* Detach a session from its connection at once (takeover). */
void
broker_conn_detach(struct mqtt_conn *c)
{
	if (c->sess != NULL) {
		c->sess->conn = NULL;
		c->sess = NULL;
	}
}

/*
 * Close c: mark it, stop reading, and free it from a deferred event. With
 * abnormal the will is published. Output already queued (a CONNACK with
 * an error, say) is flushed first, for at most a few seconds.
 */
void
broker_conn_close(struct mqtt_conn *c, const char *why, bool abnormal)
{
	struct timeval	tv = { 5, 0 };

	if (c->state == CONN_CLOSING)
		return;
	if (c->bev == NULL)
		broker_unpark(c);
	c->state = CONN_CLOSING;
	c->abnormal = abnormal && c->will != NULL;
	if (why != NULL)
		fh_log(abnormal ? LOG_INFO : LOG_DEBUG, "mqtt %s (%s): %s",
		    c->client_id ? c->client_id : "-", c->addr, why);
	bufferevent_disable(c->bev, EV_READ);
	if (broker_outlen(c) == 0) {
		broker_conn_schedule_free(c);
		return;
	}
	bufferevent_setcb(c->bev, NULL, broker_flush_cb, broker_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	bufferevent_enable(c->bev, EV_WRITE);
}

/* A protocol error: count it, one log line, close (will is sent). */
void
broker_conn_error(struct mqtt_conn *c, int err, const char *what)
{
	struct mqtt_broker	*b = c->b;
	char			 why[160];

	if (err == MQTT_E_TOO_LARGE)
		b->err_too_large++;
	else if (mqtt_err_reason(err) == MQTT_RC_PROTOCOL_ERROR ||
	    mqtt_err_reason(err) == MQTT_RC_TOPIC_ALIAS_INVALID)
		b->err_protocol++;
	else
		b->err_malformed++;
	snprintf(why, sizeof why, "%s: %s, closing", what, mqtt_strerror(err));
	fh_log_limited(b->err_log, LOG_WARNING, c->addr, "mqtt %s (%s): %s",
	    c->client_id ? c->client_id : "-", c->addr, why);
	/* drop what we had queued: the peer is not worth flushing to */
	broker_out_drain(c);
	/* 5.0: the reason, as CONNACK before CONNECT was accepted */
	if (c->level == MQTT_PROTO_5 && c->state == CONN_NEW)
		send_connack5(c, false, mqtt_err_reason(err), NULL, 0, 0,
		    what);
	else if (c->level == MQTT_PROTO_5 && c->state == CONN_ACTIVE)
		send_disconnect5(c, mqtt_err_reason(err), what);
	broker_conn_close(c, NULL, true);
}

void
broker_conn_disconnect(struct mqtt_conn *c, uint8_t reason, const char *why,
    bool abnormal)
{
	if (c->level == MQTT_PROTO_5 && c->state == CONN_ACTIVE)
		send_disconnect5(c, reason, why);
	broker_conn_close(c, why, abnormal);
}

bool
broker_conn_fits(struct mqtt_conn *c, size_t len)
{
	if (c->max_packet_out == 0 || len <= c->max_packet_out)
		return true;
	c->b->drop_too_large_out++;
	fh_log(LOG_DEBUG, "mqtt %s (%s): a %zu byte packet dropped: over "
	    "its maximum packet size %u", c->client_id ? c->client_id : "-",
	    c->addr, len, c->max_packet_out);
	return false;
}

int
broker_conn_window(const struct mqtt_conn *c)
{
	int	w = c->b->conf.max_inflight_messages;

	if (c->level == MQTT_PROTO_5 && c->recv_max < w)
		w = c->recv_max;
	return w;
}

/*
 * Stop: push what c's output holds to its socket now, best effort, since
 * the loop does not run for it again: through a WebSocket filter, then
 * TLS (SSL_write) or the plain socket. For the 5.0 DISCONNECT 0x8B.
 */
static void
broker_conn_flush_now(struct mqtt_conn *c)
{
	struct bufferevent	*bev = c->bev, *under;
	struct evbuffer		*out;
	SSL			*ssl;
	size_t			 len;
	int			 n;

	broker_unstage(c);
	if (bev == NULL)
		return;		/* parked: nothing buffered */
	while ((under = bufferevent_get_underlying(bev)) != NULL) {
		bufferevent_flush(bev, EV_WRITE, BEV_FLUSH);
		bev = under;
	}
	/* against its worker's own writes (ioloop.h) */
	bufferevent_lock(bev);
	out = bufferevent_get_output(bev);
	len = evbuffer_get_length(out);
	if (len == 0 || len > INT_MAX) {
		bufferevent_unlock(bev);
		return;
	}
	/* a bufferevent's output is drained only by itself (frozen at the
	 * front for everyone else); it is freed right after this */
	evbuffer_unfreeze(out, 1);
	if ((ssl = bufferevent_openssl_get_ssl(bev)) != NULL) {
		n = SSL_write(ssl, evbuffer_pullup(out, -1), (int)len);
		if (n > 0)
			evbuffer_drain(out, (size_t)n);
	} else if (bufferevent_getfd(bev) >= 0)
		evbuffer_write(out, bufferevent_getfd(bev));
	bufferevent_unlock(bev);
}

/* Does the CONNECT in (fixed header hdrlen bytes) say "MQTT" level 5? */
static bool
broker_is_connect5(struct evbuffer *in, int hdrlen)
{
	uint8_t	v[7 + 5];

	if (evbuffer_copyout(in, v, (size_t)hdrlen + 7) !=
	    (ev_ssize_t)hdrlen + 7)
		return false;
	return memcmp(v + hdrlen, "\0\4MQTT\5", 7) == 0;
}

/* Every topic and filter of pkt within the tree's depth limit? */
static bool
broker_depth_ok(const struct mqtt_packet *pkt)
{
	const struct mqtt_subscribe	*s = &pkt->u.subscribe;
	size_t				 i;

	switch (pkt->type) {
	case MQTT_CONNECT:
		return !pkt->u.connect.will || topic_depth_ok(
		    pkt->u.connect.will_topic.p, pkt->u.connect.will_topic.len);
	case MQTT_PUBLISH:
		return topic_depth_ok(pkt->u.publish.topic.p,
		    pkt->u.publish.topic.len);
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		for (i = 0; i < s->ntopics; i++)
			if (!topic_depth_ok(s->topics[i].filter.p,
			    s->topics[i].filter.len))
				return false;
		return true;
	default:
		return true;
	}
}

static void
broker_handle(struct mqtt_conn *c, struct mqtt_packet *pkt)
{
	uint8_t	buf[2];

	if (c->state == CONN_NEW && pkt->type != MQTT_CONNECT) {
		broker_conn_error(c, MQTT_E_PROTOCOL, "first packet not CONNECT");
		return;
	}
	if (!broker_depth_ok(pkt)) {
		/* as Mosquitto: closed, 5.0 with 0x81 */
		broker_conn_error(c, MQTT_E_MALFORMED, "topic of more than "
		    "200 levels");
		return;
	}
	switch (pkt->type) {
	case MQTT_CONNECT:
		if (c->state != CONN_NEW) {
			broker_conn_error(c, MQTT_E_PROTOCOL, "second CONNECT");
			return;
		}
		handle_connect(c, &pkt->u.connect);
		break;
	case MQTT_PUBLISH:
		handle_publish(c, &pkt->u.publish);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		handle_ack(c, pkt->type, pkt->u.ack.id, pkt->u.ack.reason);
		break;
	case MQTT_SUBSCRIBE:
		handle_subscribe(c, &pkt->u.subscribe);
		break;
	case MQTT_UNSUBSCRIBE:
		handle_unsubscribe(c, &pkt->u.subscribe);
		break;
	case MQTT_PINGREQ:
		broker_write(c, buf, mqtt_encode_empty(buf, sizeof buf,
		    MQTT_PINGRESP));
		c->b->pkts_out++;
		break;
	case MQTT_DISCONNECT:
		handle_disconnect(c, &pkt->u.ack);
		break;
	case MQTT_AUTH:	/* 5.0; no CONNECT here has an auth method */
		broker_conn_error(c, MQTT_E_PROTOCOL, "AUTH without "
		    "authentication method");
		break;
	default:	/* CONNACK, SUBACK, UNSUBACK, PINGRESP: server-bound? */
		broker_conn_error(c, MQTT_E_PROTOCOL, "unexpected packet type");
		break;
	}
}

static void
broker_read_cb(struct bufferevent *bev, void *arg)
{
	struct mqtt_conn	*c = arg;
	struct mqtt_broker	*b = c->b;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct mqtt_fixed	 fh;
	struct mqtt_packet	 pkt;
	uint8_t			 hdr[5], *p;
	size_t			 have, total, n;
	int			 rc;

	c->stirred = true;
	c->read_ms = broker_now_ms();
	if (c->ka_short)	/* woken: a full keep alive again */
		broker_keepalive(c, false);
	while (c->state != CONN_CLOSING) {
		have = evbuffer_get_length(in);
		n = have < sizeof hdr ? have : sizeof hdr;
		if (evbuffer_copyout(in, hdr, n) != (ev_ssize_t)n)
			return;
		rc = mqtt_fixed_parse(hdr, n, &fh);
		if (rc > 0)
			return;		/* need more */
		if (rc < 0) {
			broker_conn_error(c, rc, "bad remaining length");
			return;
		}
		total = (size_t)fh.hdrlen + fh.remaining;
		/* a 5.0 CONNECT: its errors are answered with 5.0 reasons */
		if (c->state == CONN_NEW && fh.type == MQTT_CONNECT &&
		    have >= (size_t)fh.hdrlen + 7 &&
		    broker_is_connect5(in, fh.hdrlen))
			c->level = MQTT_PROTO_5;
		/* before buffering the body */
		if (b->conf.max_packet_size > 0 &&
		    total > b->conf.max_packet_size) {
			broker_conn_error(c, MQTT_E_TOO_LARGE, "packet of "
			    "more than max_packet_size");
			return;
		}
		if (c->state == CONN_NEW && fh.type != MQTT_CONNECT) {
			broker_conn_error(c, MQTT_E_PROTOCOL,
			    "first packet not CONNECT");
			return;
		}
		if (have < total)
			return;
		p = evbuffer_pullup(in, (ev_ssize_t)total);
		rc = mqtt_packet_decode(fh.type, fh.flags, p + fh.hdrlen,
		    fh.remaining, c->state == CONN_NEW ? 0 : c->level, &pkt);
		b->bytes_in += total;
		b->pkts_in++;
		if (rc == MQTT_E_VERSION && c->state == CONN_NEW) {
			c->level = MQTT_PROTO_31;	/* no session flag */
			handle_connect_refuse(c, MQTT_CONNACK_PROTOCOL,
			    "unacceptable protocol version");
		} else if (rc != 0)
			broker_conn_error(c, rc, fh.type == MQTT_CONNECT ?
			    "bad CONNECT" : "bad packet");
		else
			broker_handle(c, &pkt);
		mqtt_packet_clear(&pkt);
		evbuffer_drain(in, total);
	}
}

static void
broker_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct mqtt_conn	*c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT) {
		if (c->state == CONN_ACTIVE) {
			c->b->keepalive_expired++;
			broker_conn_disconnect(c, MQTT_RC_KEEPALIVE_TIMEOUT,
			    "keepalive expired", true);
		} else if (c->state == CONN_NEW)
			broker_conn_close(c, "no CONNECT in time", true);
		else
			broker_conn_schedule_free(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		/* lost without DISCONNECT: the will goes out */
		broker_conn_close(c, (what & BEV_EVENT_EOF) ?
		    "connection closed by peer" : "connection error", true);
		broker_conn_schedule_free(c);
	}
}

static struct mqtt_lstat *
broker_lstat(struct mqtt_broker *b, const char *name)
{
	struct mqtt_lstat	*l;

	for (l = b->lstats; l != NULL; l = l->next)
		if (strcmp(l->name, name) == 0)
			return l;
	l = fh_xcalloc(1, sizeof *l);
	l->name = fh_xstrdup(name);
	l->next = b->lstats;
	b->lstats = l;
	return l;
}

void
mqtt_broker_add_listener(struct mqtt_broker *b, const char *name)
{
	(void)broker_lstat(b, name);
}

void
mqtt_broker_accept(struct bufferevent *bev, const struct mqtt_peer *peer,
    void *arg)
{
	struct mqtt_broker	*b = arg;
	struct mqtt_conn	*c;
	struct timeval		 tv;

	if (b->conf.max_connections > 0 &&
	    b->nconns >= (size_t)b->conf.max_connections) {
		b->refused_max_conns++;
		if (b->refused_max_conns == 1 ||
		    fh_log_is_enabled(LOG_DEBUG))
			fh_log(LOG_WARNING, "mqtt: max_connections (%d) "
			    "reached, refusing %s", b->conf.max_connections,
			    peer->addr);
		fh_iobev_free(bev);
		return;
	}
	c = fh_xcalloc(1, sizeof *c);
	c->b = b;
	c->bev = bev;
	c->addr = fh_xstrdup(peer->addr ? peer->addr : "?");
	/* The ws/mqtts filters coalesce by themselves; plain TCP writes
	 * straight to the socket (see broker_write_ref). */
	c->copy_small = peer->protocol == NULL ||
	    strcmp(peer->protocol, "mqtt") == 0;
	c->threaded = fh_iobev_threaded(bev);
	c->cert_cn = peer->cert_cn ? fh_xstrdup(peer->cert_cn) : NULL;
	c->ts = peer->transport;
	c->read_ms = broker_now_ms();
	c->lstat = broker_lstat(b, peer->listener ? peer->listener : "");
	c->lstat->total++;
	c->lstat->current++;
	c->out_cb = evbuffer_add_cb(bufferevent_get_output(bev),
	    limits_out_cb, c);
	TAILQ_INSERT_HEAD(&b->conns, c, entry);	/* awake */
	b->nconns++;
	b->conns_total++;
	if (b->nconns > b->maxconns)
		b->maxconns = b->nconns;
	if (b->nconns > b->trim_peak)
		b->trim_peak = b->nconns;
	tv.tv_sec = b->conf.connect_timeout / 1000;
	tv.tv_usec = (b->conf.connect_timeout % 1000) * 1000;
	bufferevent_setcb(bev, broker_read_cb, NULL, broker_event_cb, c);
	bufferevent_set_timeouts(bev, &tv, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct mqtt_broker *
mqtt_broker_create(struct fh_gateway *gw, const struct mqtt_broker_conf *conf)
{
	struct mqtt_broker	*b = fh_xcalloc(1, sizeof *b);

	b->gw = gw;
	b->base = gw ? fh_gateway_base(gw) : NULL;
	b->conf = *conf;
	b->conf.password_file = NULL;
	b->conf.acl_file = NULL;
	if (b->conf.max_inflight_messages <= 0)
		b->conf.max_inflight_messages = 1;
	if (b->conf.max_inflight_messages > 65535)
		b->conf.max_inflight_messages = 65535;
	if (b->conf.max_queued_messages < 0)
		b->conf.max_queued_messages = 0;
	if (b->conf.connect_timeout <= 0)
		b->conf.connect_timeout = 10000;
	b->topics = topic_tree_create(msg_retain_free_cb);
	TAILQ_INIT(&b->conns);
	TAILQ_INIT(&b->staged);
	b->err_log = fh_log_limit_create(b->base, "mqtt",
	    "malformed-connection warnings", FH_LOG_LIMIT_INTERVAL_MS,
	    FH_LOG_LIMIT_ADDRS);
	return b;
}

int
mqtt_broker_start(struct mqtt_broker *b)
{
	struct timeval	tv;
	struct fh_state	*st;
	char		*err = NULL;

	if (b->st == NULL && b->gw != NULL &&
	    (st = fh_gateway_state(b->gw)) != NULL && fh_state_is_durable(st)) {
		if ((b->store = mqtt_store_open(st, &err)) == NULL) {
			fh_log(LOG_ERR, "mqtt: %s", err);
			free(err);
			return -1;
		}
		b->st = st;
		persist_restore(b);
	}
	if (b->conf.sys_interval > 0 && b->sys_ev == NULL && b->base) {
		b->sys_ev = event_new(b->base, -1, EV_PERSIST, sys_tick_cb,
		    b);
		tv.tv_sec = b->conf.sys_interval / 1000;
		tv.tv_usec = (b->conf.sys_interval % 1000) * 1000;
		event_add(b->sys_ev, &tv);
		sys_tick_cb(-1, 0, b);
	}
	if (b->expiry_ev == NULL && b->base) {
		/* a quarter of [broker] session_expiry, between 100 ms and
		 * a second (5.0 sessions have their own, in seconds) */
		long ms = b->conf.session_expiry > 0 ?
		    b->conf.session_expiry / 4 : 1000;

		ms = ms < 100 ? 100 : ms > 1000 ? 1000 : ms;
		b->expiry_ev = event_new(b->base, -1, EV_PERSIST,
		    session_expiry_cb, b);
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		event_add(b->expiry_ev, &tv);
	}
	if (b->park_ev == NULL && b->base) {
		b->park_ev = event_new(b->base, -1, EV_PERSIST,
		    broker_park_sweep_cb, b);
		tv.tv_sec = BROKER_PARK_MS / 1000;
		tv.tv_usec = (BROKER_PARK_MS % 1000) * 1000;
		event_add(b->park_ev, &tv);
	}
	return 0;
}

void
mqtt_broker_stop(struct mqtt_broker *b)
{
	struct mqtt_conn	*c, *next;

	if (b->sys_ev != NULL) {
		event_free(b->sys_ev);
		b->sys_ev = NULL;
	}
	if (b->expiry_ev != NULL) {
		event_free(b->expiry_ev);
		b->expiry_ev = NULL;
	}
	if (b->trim_ev != NULL) {
		event_free(b->trim_ev);
		b->trim_ev = NULL;
	}
	if (b->park_ev != NULL) {
		event_free(b->park_ev);
		b->park_ev = NULL;
	}
	/* 5.0 clients are told why (0x8B), as far as their socket takes it
	 * now: the loop does not run for them again */
	for (c = TAILQ_FIRST(&b->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);	/* waking moves c to the head */
		if (c->level != MQTT_PROTO_5 || c->state != CONN_ACTIVE)
			continue;
		send_disconnect5(c, MQTT_RC_SHUTTING_DOWN,
		    "server shutting down");
		broker_conn_flush_now(c);
	}
	/* not from a callback of theirs: free directly (no wills: this is
	 * an orderly shutdown of the server, not a client's loss) */
	while ((c = TAILQ_FIRST(&b->conns)) != NULL)
		broker_conn_free(c);
}

void
mqtt_broker_free(struct mqtt_broker *b)
{
	struct mqtt_lstat	*l;
	size_t			 i;

	if (b == NULL)
		return;
	mqtt_broker_stop(b);
	for (i = 0; i < b->nbuckets; i++)
		while (b->sessions[i] != NULL)
			session_free(b->sessions[i]);
	free(b->sessions);
	topic_tree_free(b->topics);
	mqtt_auth_free(b->auth);
	fh_log_limit_free(b->err_log);
	while ((l = b->lstats) != NULL) {
		b->lstats = l->next;
		free(l->name);
		free(l);
	}
	mqtt_store_close(b->store);
	if (b->stage_ev != NULL)
		event_free(b->stage_ev);
	while (b->nstage_pool > 0)
		evbuffer_free(b->stage_pool[--b->nstage_pool]);
	free(b);
}

void
mqtt_broker_set_auth(struct mqtt_broker *b, struct mqtt_auth *auth)
{
	mqtt_auth_free(b->auth);
	b->auth = auth;
}
