/*
 * A client's PUBLISH: ACL check, on to the bus, then PUBACK/PUBREC (QoS 2
 * ids are remembered until PUBREL so a resend is not delivered twice).
 *
 * 5.0: a Topic Alias names the topic (up to [broker] max_topic_alias); the
 * properties go with the event (fh_event_set_props: all but the topic
 * alias and the Message Expiry Interval, which becomes the event's
 * deadline), so that every subscriber and sink gets them unchanged and in
 * order. A refusal is said: PUBACK/PUBREC 0x87 for a denied or anonymous
 * publish, 0x99 for a payload that is not the UTF-8 it claims to be.
 */
#include <stdlib.h>

#include "config.h"
#include "gateway/event.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/broker_int.h"

/* What a broker forwarding a PUBLISH leaves out: per hop, or rewritten. */
#define HANDLE_PUBLISH_DROP	(MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS) | \
	MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID) | \
	MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY))

static bool
handle_publish_in_qos2_has(struct mqtt_session *s, uint16_t id)
{
	size_t	i;

	for (i = 0; i < s->nin_qos2; i++)
		if (s->in_qos2[i] == id)
			return true;
	return false;
}

/*
 * 5.0: the topic of p (through its alias); false when the connection is
 * being closed for it.
 */
static bool
handle_publish_topic(struct mqtt_conn *c, const struct mqtt_publish *p,
    const uint8_t **topic, size_t *len)
{
	const struct mqtt_props	*pr = &p->props;
	uint16_t		 alias;

	*topic = p->topic.p;
	*len = p->topic.len;
	if (mqtt_props_has(pr, MQTT_PROP_SUBSCRIPTION_ID)) {
		/* [MQTT-3.3.4-6]: only a server sends them */
		broker_conn_error(c, MQTT_E_PROTOCOL, "subscription "
		    "identifier in a PUBLISH");
		return false;
	}
	if (!mqtt_props_has(pr, MQTT_PROP_TOPIC_ALIAS))
		return true;
	alias = pr->topic_alias;
	if (alias > c->b->conf.max_topic_alias) {
		c->b->err_topic_alias++;
		broker_conn_error(c, MQTT_E_TOPIC_ALIAS, "topic alias over "
		    "the maximum");
		return false;
	}
	if (p->topic.len > 0) {
		publish_alias_set(c, alias, p->topic.p, p->topic.len);
		return true;
	}
	if ((*topic = (const uint8_t *)publish_alias_get(c, alias,
	    len)) == NULL) {
		c->b->err_topic_alias++;
		broker_conn_error(c, MQTT_E_PROTOCOL, "topic alias never set");
		return false;
	}
	return true;
}

/* 5.0: the event carries the properties, expiry and payload format. */
static void
handle_publish_props(struct fh_event *ev, const struct mqtt_props *pr)
{
	uint8_t	stack[256], *buf;
	size_t	n;

	if (pr->raw.len > 0) {
		buf = pr->raw.len <= sizeof stack ? stack :
		    fh_xmalloc(pr->raw.len);
		n = mqtt_props_filter(buf, pr->raw.len, &pr->raw,
		    HANDLE_PUBLISH_DROP);
		fh_event_set_props(ev, buf, n);
		if (buf != stack)
			free(buf);
	}
	if (mqtt_props_has(pr, MQTT_PROP_MESSAGE_EXPIRY))
		fh_event_set_expiry_us(ev, fh_event_time_us(ev) +
		    (int64_t)pr->message_expiry * 1000000);
	if (mqtt_props_has(pr, MQTT_PROP_PAYLOAD_FORMAT))
		fh_event_set_payload_format(ev, pr->payload_format);
}

void
handle_publish(struct mqtt_conn *c, const struct mqtt_publish *p)
{
	struct mqtt_broker	*b = c->b;
	struct mqtt_session	*s = c->sess;
	uint64_t		 writes = b->st_writes;
	/* any sink's writes for this event (a bridge's queue) count too */
	uint64_t		 all = b->st ? fh_state_write_count(b->st) : 0;
	const uint8_t		*tp = p->topic.p;
	size_t			 tlen = p->topic.len;
	struct fh_event		*ev;
	char			*topic;
	uint8_t			 reason = MQTT_RC_SUCCESS;
	bool			 v5 = c->level == MQTT_PROTO_5, staged;

	b->msgs_in++;
	if (v5 && p->retain && !b->conf.retain) {
		/* CONNACK said Retain Available 0 [MQTT-3.2.2-14] */
		b->err_protocol++;
		broker_conn_disconnect(c, MQTT_RC_RETAIN_NOT_SUPPORTED,
		    "PUBLISH with RETAIN 1, and retain = false", true);
		return;
	}
	if (v5 && !handle_publish_topic(c, p, &tp, &tlen))
		return;
	if (p->qos == 2 && handle_publish_in_qos2_has(s, p->id)) {
		/* a resent QoS 2 message: acknowledge, do not deliver again */
		send_ack_publish(c, MQTT_PUBREC, p->id, 0, false);
		return;
	}
	if (p->qos > 0 && limits_receive_max_exceeded(c))
		return;
	if (v5 && mqtt_props_has(&p->props, MQTT_PROP_PAYLOAD_FORMAT) &&
	    p->props.payload_format == 1 &&
	    !fh_utf8_is_valid(p->payload.p, p->payload.len)) {
		/* 5.0 section 3.3.2.3.2: it says UTF-8 and is not */
		b->drop_payload_format++;
		if (p->qos == 0) {
			broker_conn_disconnect(c,
			    MQTT_RC_PAYLOAD_FORMAT_INVALID,
			    "payload not the UTF-8 its format says", true);
			return;
		}
		reason = MQTT_RC_PAYLOAD_FORMAT_INVALID;
	}
	if (reason == MQTT_RC_SUCCESS) {
		topic = fh_xstrndup((const char *)tp, tlen);
		if (!deliver_may_write(c, topic))
			reason = MQTT_RC_NOT_AUTHORIZED;
		free(topic);
	}
	if (reason == MQTT_RC_SUCCESS) {
		ev = deliver_event(c->client_id, tp, tlen, p->payload.p,
		    p->payload.len, p->qos, p->retain);
		if (v5)
			handle_publish_props(ev, &p->props);
		b->fanout_matched = SIZE_MAX;
		deliver_send(b, ev);
		/* 5.0: nobody subscribed, as Mosquitto says it in a PUBACK
		 * (3.4.2.1); its PUBREC is always 0x00 (its tests expect
		 * 50 02 id), so ours is too */
		if (v5 && p->qos == 1 && b->fanout_matched == 0)
			reason = MQTT_RC_NO_MATCHING_SUBSCRIBERS;
	}
	if (c->state != CONN_ACTIVE || p->qos == 0)
		return;
	/* 3.1.1 has no way to say no: the ack is a success */
	if (!v5)
		reason = MQTT_RC_SUCCESS;
	if (p->qos == 2 && reason < 0x80) {
		s->in_qos2 = session_array_room(s->in_qos2, s->nin_qos2,
		    sizeof *s->in_qos2);
		s->in_qos2[s->nin_qos2++] = p->id;
		if (persist_is_durable(s)) {
			mqtt_store_qos2_put(b->store, s->id, p->id);
			b->st_writes++;
		}
	}
	staged = b->st_writes != writes || (b->st != NULL &&
	    fh_state_write_count(b->st) != all);
	send_ack_publish(c, p->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, p->id,
	    reason, staged);
}
