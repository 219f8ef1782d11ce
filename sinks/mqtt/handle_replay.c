/*
 * SUBSCRIBE to "$replay/...": the broker asks the gateway's replay
 * provider (the event log) for the logged events and feeds them to this
 * client through its session, like any delivery (QoS, in-flight window,
 * queue), then "$replay/done". The subscription itself is not kept: a
 * replay runs once per SUBSCRIBE.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/auth.h"
#include "sinks/mqtt/broker_int.h"

#define REPLAY_PREFIX	"$replay/"
#define REPLAY_MAX	8	/* running at once per connection */

struct mqtt_replay {
	struct mqtt_replay	*next;
	struct mqtt_conn	*c;
	uint8_t			 qos;
	bool			 finished;	/* $replay/done sent */
	void			*handle;
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
 * Pause the replay before it would overrun what the session may hold:
 * half its queue once the in-flight window is full (so that a limit
 * never drops a replayed message), half its queued bytes, the broker's
 * memory ceiling, or half the output buffer (QoS 0).
 */
static bool
replay_busy(void *ctx)
{
	struct mqtt_replay		*r = ctx;
	struct mqtt_conn		*c = r->c;
	struct mqtt_session		*s = c->sess;
	const struct mqtt_broker_conf	*bc = &c->b->conf;
	size_t				 cap = bc->max_output_buffer;

	if (!broker_conn_is_active(c) || s == NULL)
		return false;	/* the next deliver says it is gone */
	if (cap == 0)
		cap = 1024 * 1024;
	if (s->ninflight >= bc->max_inflight_messages &&
	    s->nqueued >= bc->max_queued_messages / 2)
		return true;
	if (bc->max_queued_bytes > 0 && s->qbytes >= bc->max_queued_bytes / 2)
		return true;
	return limits_mem_over(c->b) ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > cap / 2;
}

static void
replay_done(void *ctx, const char *payload, size_t len)
{
	struct mqtt_replay	*r = ctx;
	struct mqtt_conn	*c = r->c;
	struct fh_event		*ev;
	struct mqtt_msg		*m;

	r->finished = true;
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
			fh_gateway_replay_close(b->gw, r->handle);
			free(r);
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
		*code = 0x80;
	} else {
		r->next = c->replays;
		c->replays = r;
		*code = qos;
	}
	free(f);
	return true;
}

/* The connection goes: end its replays. */
void
replay_conn_close(struct mqtt_conn *c)
{
	struct mqtt_replay	*r;

	while ((r = c->replays) != NULL) {
		c->replays = r->next;
		if (c->b->gw != NULL)
			fh_gateway_replay_close(c->b->gw, r->handle);
		free(r);
	}
}
