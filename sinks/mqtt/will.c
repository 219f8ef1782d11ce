/*
 * Wills: taken from CONNECT, published when the connection is lost without
 * a DISCONNECT that drops them (3.1.1: any DISCONNECT; 5.0: reason 0x00).
 * A 5.0 will with a Will Delay Interval waits in its offline session, and
 * goes when the delay is over or the session ends, whichever is first
 * [MQTT-3.1.3-9]; a new connection of the same client before then cancels
 * it. Its properties (will delay left out) are those of the PUBLISH.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "gateway/event.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/broker_int.h"

struct mqtt_will *
will_create(struct mqtt_conn *c, const struct mqtt_connect *p)
{
	struct mqtt_will	*w = fh_xcalloc(1, sizeof *w);
	size_t			 n;

	w->topic = fh_xstrndup((const char *)p->will_topic.p,
	    p->will_topic.len);
	w->len = p->will_payload.len;
	w->payload = fh_xmalloc(w->len ? w->len : 1);
	if (w->len > 0)
		memcpy(w->payload, p->will_payload.p, w->len);
	w->qos = p->will_qos;
	w->retain = p->will_retain;
	w->client_id = fh_xstrdup(c->client_id);
	if (p->level == MQTT_PROTO_5) {
		const struct mqtt_props	*wp = &p->will_props;
		uint64_t		 drop = MQTT_PROP_BIT(MQTT_PROP_WILL_DELAY) |
		    MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);

		if (mqtt_props_has(wp, MQTT_PROP_WILL_DELAY))
			w->delay = wp->will_delay;
		w->has_expiry = mqtt_props_has(wp, MQTT_PROP_MESSAGE_EXPIRY);
		w->expiry = wp->message_expiry;
		if (mqtt_props_has(wp, MQTT_PROP_PAYLOAD_FORMAT))
			w->payload_format = wp->payload_format;
		n = mqtt_props_filter(NULL, 0, &wp->raw, drop);
		if (n > 0) {
			w->props = fh_xmalloc(n);
			w->plen = mqtt_props_filter(w->props, n, &wp->raw,
			    drop);
		}
	}
	return w;
}

void
will_free(struct mqtt_will *w)
{
	if (w == NULL)
		return;
	if (w->ev != NULL)
		event_free(w->ev);
	free(w->topic);
	free(w->payload);
	free(w->props);
	free(w->client_id);
	free(w);
}

static void
will_publish(struct mqtt_broker *b, struct mqtt_will *w)
{
	struct fh_event	*ev;

	fh_log(LOG_DEBUG, "mqtt %s: publishing will to '%s'", w->client_id,
	    w->topic);
	b->wills_sent++;
	ev = deliver_event(w->client_id, (const uint8_t *)w->topic,
	    strlen(w->topic), w->payload, w->len, w->qos,
	    w->retain && b->conf.retain);
	/* its properties, as a PUBLISH's; the expiry counts from now */
	if (w->plen > 0)
		fh_event_set_props(ev, w->props, w->plen);
	if (w->has_expiry)
		fh_event_set_expiry_us(ev, fh_event_time_us(ev) +
		    (int64_t)w->expiry * 1000000);
	if (w->payload_format)
		fh_event_set_payload_format(ev, w->payload_format);
	deliver_send(b, ev);
	will_free(w);
}

static void
will_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mqtt_session	*s = arg;
	struct mqtt_will	*w = s->will;

	(void)fd;
	(void)what;
	s->will = NULL;
	if (persist_is_durable(s))
		persist_will_del(s);
	if (w != NULL)
		will_publish(s->b, w);
}

void
will_lost(struct mqtt_broker *b, struct mqtt_will *w, struct mqtt_session *s)
{
	struct timeval	tv;
	uint32_t	delay = w->delay;

	if (s == NULL || delay == 0 || b->base == NULL) {
		will_publish(b, w);
		return;
	}
	/* the session may end first: then the will goes with it */
	if (s->expiry_ms >= 0 && s->expiry_ms / 1000 < delay)
		delay = (uint32_t)(s->expiry_ms / 1000);
	will_free(s->will);
	s->will = w;
	w->ev = evtimer_new(b->base, will_delay_cb, s);
	tv.tv_sec = delay;
	tv.tv_usec = 0;
	evtimer_add(w->ev, &tv);
	b->wills_delayed++;
	if (persist_is_durable(s))
		persist_will(s, w, delay);
	fh_log(LOG_DEBUG, "mqtt %s: will to '%s' in %us unless the client "
	    "is back", w->client_id, w->topic, delay);
}

void
will_cancel(struct mqtt_session *s)
{
	if (s->will == NULL)
		return;
	if (persist_is_durable(s))
		persist_will_del(s);
	fh_log(LOG_DEBUG, "mqtt %s: delayed will cancelled", s->id);
	will_free(s->will);
	s->will = NULL;
}

void
will_session_end(struct mqtt_session *s)
{
	struct mqtt_will	*w = s->will;

	s->will = NULL;
	if (w != NULL && persist_is_durable(s))
		persist_will_del(s);
	if (w != NULL)
		will_publish(s->b, w);
}
