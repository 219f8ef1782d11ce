/*
 * SUBSCRIBE to "$replay/...": the broker asks the gateway's replay
 * provider (the event log) for the logged events and feeds them to this
 * client through its session, like any delivery (QoS, in-flight window,
 * queue), then "$replay/done". The subscription itself is not kept: a
 * replay runs once per SUBSCRIBE; UNSUBSCRIBE from its filter stops it.
 *
 * A replay the client cannot keep up with pauses (replay_busy) and is
 * resumed when the reason went: its output drained (a callback on the
 * output buffer), an ack freed its window or queue (replay_kick, from
 * handle_ack.c), or, over the broker's max_memory, at the next check of
 * a 100 ms timer (other clients drain too, and say nothing to this one).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/auth.h"
#include "sinks/mqtt/broker_int.h"

#define REPLAY_PREFIX	"$replay/"
#define REPLAY_MAX	8	/* running at once per connection */
#define REPLAY_MEM_RETRY_MS 100	/* paused over max_memory: check again */

struct mqtt_replay {
	struct mqtt_replay	*next;
	struct mqtt_conn	*c;
	char			*filter;	/* as subscribed */
	uint8_t			 qos;
	bool			 finished;	/* $replay/done sent */
	bool			 paused;	/* busy said so; not resumed */
	void			*handle;
	struct evbuffer_cb_entry *out_cb;	/* enabled while paused */
	struct event		*drain_ev;	/* out_cb's, when threaded */
	struct event		*mem_ev;	/* paused over max_memory */
};

static int
replay_deliver(void *ctx, struct fh_event *ev)
{
	struct mqtt_replay	*r = ctx;
	struct mqtt_conn	*c = r->c;
	struct mqtt_broker	*b = c->b;
	struct mqtt_msg		*m;
	uint8_t			 qos;

	if (!broker_conn_is_active(c) || c->sess == NULL)
		return -1;
	if (b->auth != NULL && mqtt_auth_has_acl(b->auth) &&
	    !mqtt_auth_acl_check(b->auth, c->sess->username, c->sess->id,
	    fh_event_topic(ev), MQTT_ACL_READ))
		return 1;
	m = msg_create(ev);
	qos = m->qos < r->qos ? m->qos : r->qos;
	session_deliver(c->sess, m, qos, false, true, NULL);
	msg_unref(m);
	return 0;
}

/*
 * Is the client too full for more: half its queue once the in-flight
 * window is full (so that a limit never drops a replayed message), half
 * its queued bytes, the broker's memory ceiling (*mem), or half the
 * output buffer (QoS 0)?
 */
static bool
replay_full(struct mqtt_replay *r, bool *mem)
{
	struct mqtt_conn		*c = r->c;
	struct mqtt_session		*s = c->sess;
	const struct mqtt_broker_conf	*bc = &c->b->conf;
	size_t				 cap = bc->max_output_buffer;

	*mem = false;
	if (!broker_conn_is_active(c) || s == NULL)
		return false;	/* the next deliver says it is gone */
	if (cap == 0)
		cap = 1024 * 1024;
	if (s->ninflight >= bc->max_inflight_messages &&
	    s->nqueued >= bc->max_queued_messages / 2)
		return true;
	if (bc->max_queued_bytes > 0 && s->qbytes >= bc->max_queued_bytes / 2)
		return true;
	if (broker_outlen(c) > cap / 2)
		return true;
	return *mem = limits_mem_over(c->b);
}

static void	replay_wake(struct mqtt_replay *);

/* The output shrank: maybe below half. A threaded connection's output
 * is drained by its worker (gateway/ioloop.h): the wake goes to the
 * main loop. */
static void
replay_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct mqtt_replay	*r = arg;

	(void)buf;
	if (info->n_deleted == 0)
		return;
	if (r->drain_ev != NULL)
		event_active(r->drain_ev, EV_WRITE, 0);
	else
		replay_wake(r);
}

static void
replay_mem_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	replay_wake(arg);
}

/* Wait for what can end the pause: the output's drain, an ack
 * (replay_kick), the memory timer. */
static void
replay_pause(struct mqtt_replay *r, bool mem)
{
	struct mqtt_conn	*c = r->c;
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	struct timeval		 tv = { 0, REPLAY_MEM_RETRY_MS * 1000 };

	r->paused = true;
	if (c->threaded && r->drain_ev == NULL && c->b->base != NULL)
		r->drain_ev = event_new(c->b->base, -1, 0, replay_mem_cb, r);
	if (r->out_cb == NULL)
		r->out_cb = evbuffer_add_cb(out, replay_out_cb, r);
	else
		evbuffer_cb_set_flags(out, r->out_cb, EVBUFFER_CB_ENABLED);
	if (mem && c->b->base != NULL) {
		if (r->mem_ev == NULL)
			r->mem_ev = evtimer_new(c->b->base, replay_mem_cb, r);
		evtimer_add(r->mem_ev, &tv);
	}
}

static void
replay_unpause(struct mqtt_replay *r)
{
	r->paused = false;
	if (r->out_cb != NULL)
		evbuffer_cb_clear_flags(bufferevent_get_output(r->c->bev),
		    r->out_cb, EVBUFFER_CB_ENABLED);
	if (r->mem_ev != NULL)
		evtimer_del(r->mem_ev);
}

/* Something changed for a paused replay: go on if there is room now. */
static void
replay_wake(struct mqtt_replay *r)
{
	bool	mem;

	if (!r->paused || r->finished)
		return;
	if (replay_full(r, &mem)) {
		if (mem)
			replay_pause(r, true);	/* the timer again */
		return;
	}
	replay_unpause(r);
	fh_gateway_replay_resume(r->c->b->gw, r->handle);
}

/* An ack came (its window or queue has room): wake c's paused replays. */
void
replay_kick(struct mqtt_conn *c)
{
	struct mqtt_replay	*r;

	for (r = c->replays; r != NULL; r = r->next)
		replay_wake(r);
}

/* The provider asks before each event: pause it (and say when to go on)
 * before it would overrun what the session may hold. */
static bool
replay_busy(void *ctx)
{
	struct mqtt_replay	*r = ctx;
	bool			 mem;

	if (replay_full(r, &mem)) {
		replay_pause(r, mem);
		return true;
	}
	if (r->paused)
		replay_unpause(r);	/* it went on by itself */
	return false;
}

static void
replay_done(void *ctx, const char *payload, size_t len)
{
	struct mqtt_replay	*r = ctx;
	struct mqtt_conn	*c = r->c;
	struct fh_event		*ev;
	struct mqtt_msg		*m;

	r->finished = true;
	if (r->paused)
		replay_unpause(r);
	if (!broker_conn_is_active(c) || c->sess == NULL)
		return;
	ev = fh_event_create_raw("$replay/done", payload, len);
	fh_event_set_qos(ev, r->qos);
	m = msg_create(ev);
	session_deliver(c->sess, m, r->qos, false, true, NULL);
	msg_unref(m);
	fh_event_unref(ev);
}

static const struct fh_replay_sink replay_sink = {
	.deliver = replay_deliver,
	.busy = replay_busy,
	.done = replay_done,
};

static void
replay_free(struct mqtt_replay *r)
{
	struct mqtt_conn	*c = r->c;

	if (r->out_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_output(c->bev),
		    r->out_cb);
	if (r->mem_ev != NULL)
		event_free(r->mem_ev);
	if (r->drain_ev != NULL)
		event_free(r->drain_ev);
	if (c->b->gw != NULL)
		fh_gateway_replay_close(c->b->gw, r->handle);
	free(r->filter);
	free(r);
}

/*
 * A filter of a SUBSCRIBE: true when it is a $replay/ one and taken here
 * (*code is the SUBACK code: qos, or 0x80 for a bad form), false for a
 * plain filter (also $replay/ when no provider is registered).
 */
bool
replay_subscribe(struct mqtt_conn *c, const char *filter, size_t len,
    uint8_t qos, uint8_t *code)
{
	struct mqtt_broker	*b = c->b;
	struct mqtt_replay	*r, **rp;
	const char		*why;
	char			*f;
	size_t			 n = 0;

	if (len < sizeof REPLAY_PREFIX - 1 ||
	    memcmp(filter, REPLAY_PREFIX, sizeof REPLAY_PREFIX - 1) != 0 ||
	    b->gw == NULL || !fh_gateway_has_replay(b->gw))
		return false;
	/* Forget the finished ones; count the others. */
	for (rp = &c->replays; (r = *rp) != NULL;) {
		if (r->finished) {
			*rp = r->next;
			replay_free(r);
			continue;
		}
		n++;
		rp = &r->next;
	}
	if (n >= REPLAY_MAX) {
		fh_log(LOG_INFO, "mqtt %s (%s): SUBSCRIBE %.*s refused: %d "
		    "replays running", c->client_id, c->addr, (int)len, filter,
		    REPLAY_MAX);
		*code = 0x80;
		return true;
	}
	r = fh_xcalloc(1, sizeof *r);
	r->c = c;
	r->qos = qos;
	f = fh_xstrndup(filter, len);
	r->handle = fh_gateway_replay_open(b->gw, f, c->sess ?
	    c->sess->username : NULL, &replay_sink, r, &why);
	if (r->handle == NULL) {
		fh_log(LOG_INFO, "mqtt %s (%s): SUBSCRIBE %s refused: %s",
		    c->client_id, c->addr, f, why);
		free(r);
		free(f);
		*code = 0x80;
	} else {
		r->filter = f;
		r->next = c->replays;
		c->replays = r;
		*code = qos;
	}
	return true;
}

/*
 * A filter of an UNSUBSCRIBE: true when it names a running replay of c,
 * which ends now (a finished one is forgotten, and was not kept). Nothing more of it is queued for the
 * client [MQTT-3.10.4-2], no "$replay/done" either; what is queued
 * already still goes (3.10.4 allows it).
 */
bool
replay_unsubscribe(struct mqtt_conn *c, const char *filter, size_t len)
{
	struct mqtt_replay	*r, **rp;
	bool			 found = false;

	for (rp = &c->replays; (r = *rp) != NULL;) {
		if (strlen(r->filter) == len &&
		    memcmp(r->filter, filter, len) == 0) {
			*rp = r->next;
			found |= !r->finished;
			replay_free(r);
			continue;
		}
		rp = &r->next;
	}
	return found;
}

/* The connection goes: end its replays. */
void
replay_conn_close(struct mqtt_conn *c)
{
	struct mqtt_replay	*r;

	while ((r = c->replays) != NULL) {
		c->replays = r->next;
		replay_free(r);
	}
}
