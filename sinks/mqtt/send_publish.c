/*
 * PUBLISH to a client. Each (QoS, retain) variant of a message is encoded
 * once, lazily, and added to every subscriber's output by reference;
 * QoS 1/2 add only their packet id by copy.
 *
 * 5.0: the message's properties (those of its publisher, forwarded
 * unchanged and in order) go into the variant too. What differs per
 * delivery is written per delivery, as a copied head before the shared
 * payload: the remaining Message Expiry Interval, the Subscription
 * Identifiers that matched, a Topic Alias. A packet over the client's
 * Maximum Packet Size is not sent to it (counted).
 */
#include <stdlib.h>
#include <string.h>

#include <sys/time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "gateway/event.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/broker_int.h"

/* Topic aliases of one 5.0 connection, both ways. */
struct publish_alias {
	/* client to server: alias -> topic, 1..max_topic_alias */
	char		**in;
	size_t		 *in_len;
	size_t		  nin;
	/* server to client: topics given an alias, alias = index + 1 */
	char		**out;
	size_t		*out_len;
	uint16_t	 nout, maxout;
};

/* We give a client at most this many aliases, whatever it allows. */
#define SEND_PUBLISH_ALIASES	32

static struct publish_alias *
send_publish_alias(struct mqtt_conn *c)
{
	if (c->alias == NULL)
		c->alias = fh_xcalloc(1, sizeof *c->alias);
	return c->alias;
}

void
publish_conn_close(struct mqtt_conn *c)
{
	struct publish_alias	*a = c->alias;
	size_t			 i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nin; i++)
		free(a->in[i]);
	free(a->in);
	free(a->in_len);
	for (i = 0; i < a->nout; i++)
		free(a->out[i]);
	free(a->out);
	free(a->out_len);
	free(a);
	c->alias = NULL;
}

/* Client to server: remember alias for topic (the PUBLISH named both). */
void
publish_alias_set(struct mqtt_conn *c, uint16_t alias, const uint8_t *topic,
    size_t len)
{
	struct publish_alias	*a = send_publish_alias(c);

	if (a->in == NULL) {
		/* at most max_topic_alias + 1, and only once used */
		a->nin = (size_t)c->b->conf.max_topic_alias + 1;
		a->in = fh_xcalloc(a->nin, sizeof *a->in);
		a->in_len = fh_xcalloc(a->nin, sizeof *a->in_len);
	}
	if (alias >= a->nin)
		return;
	free(a->in[alias]);
	a->in[alias] = fh_xstrndup((const char *)topic, len);
	a->in_len[alias] = len;
}

/* The topic of alias, or NULL when the client never set it. */
const char *
publish_alias_get(struct mqtt_conn *c, uint16_t alias, size_t *len)
{
	if (c->alias == NULL || alias >= c->alias->nin ||
	    c->alias->in[alias] == NULL)
		return NULL;
	*len = c->alias->in_len[alias];
	return c->alias->in[alias];
}

/* Server to client: the alias of topic (0: none yet); *fresh when this
 * PUBLISH makes it, and so carries the topic too. */
static uint16_t
send_publish_alias_out(struct mqtt_conn *c, const struct mqtt_msg *m,
    bool *fresh)
{
	struct publish_alias	*a;
	uint16_t		 i, max = c->topic_alias_max_out;

	*fresh = false;
	if (max == 0)
		return 0;
	if (max > SEND_PUBLISH_ALIASES)
		max = SEND_PUBLISH_ALIASES;
	a = send_publish_alias(c);
	for (i = 0; i < a->nout; i++)
		if (a->out_len[i] == m->topic_len &&
		    memcmp(a->out[i], m->topic, m->topic_len) == 0)
			return i + 1;
	if (a->nout >= max)
		return 0;
	if (a->nout == a->maxout) {
		a->maxout = a->maxout ? a->maxout * 2 : 4;
		a->out = fh_xrealloc(a->out, a->maxout * sizeof *a->out);
		a->out_len = fh_xrealloc(a->out_len,
		    a->maxout * sizeof *a->out_len);
	}
	a->out[a->nout] = fh_xstrndup((const char *)m->topic, m->topic_len);
	a->out_len[a->nout] = m->topic_len;
	*fresh = true;
	return ++a->nout;
}

static const uint8_t *
send_publish_pkt0(struct mqtt_msg *m, bool v5, bool retain, size_t *len)
{
	uint8_t		**pp = v5 ? &m->pkt0_5[retain] : &m->pkt0[retain];
	size_t		 *lp = v5 ? &m->pkt0_5_len[retain] :
			    &m->pkt0_len[retain];
	const uint8_t	 *props;
	size_t		  n, plen = 0;

	if (*pp == NULL) {
		props = fh_event_props(m->ev, &plen);
		n = v5 ? mqtt_encode_publish_head5(NULL, 0, false, 0, retain,
		    m->topic, m->topic_len, 0, props, plen, m->payload_len) :
		    mqtt_encode_publish_head(NULL, 0, false, 0, retain,
		    m->topic, m->topic_len, 0, m->payload_len);
		*pp = fh_xmalloc(n + m->payload_len);
		if (v5)
			mqtt_encode_publish_head5(*pp, n, false, 0, retain,
			    m->topic, m->topic_len, 0, props, plen,
			    m->payload_len);
		else
			mqtt_encode_publish_head(*pp, n, false, 0, retain,
			    m->topic, m->topic_len, 0, m->payload_len);
		if (m->payload_len > 0)
			memcpy(*pp + n, m->payload, m->payload_len);
		*lp = n + m->payload_len;
	}
	*len = *lp;
	return *pp;
}

/* The property length and bytes that follow the packet id in 5.0. */
static size_t
send_publish_props_size(const struct mqtt_msg *m)
{
	size_t	plen;

	fh_event_props(m->ev, &plen);
	return mqtt_varint_size((uint32_t)plen) + plen;
}

/*
 * Fixed header + topic for QoS 1/2 up to the packet id (*len); in 5.0 the
 * same buffer goes on after two id bytes with the properties.
 */
static const uint8_t *
send_publish_head(struct mqtt_msg *m, bool v5, uint8_t qos, bool retain,
    size_t *len)
{
	uint8_t		**h = v5 ? &m->head5[qos - 1][retain] :
			    &m->head[qos - 1][retain];
	size_t		 *hl = v5 ? &m->head5_len[qos - 1][retain] :
			    &m->head_len[qos - 1][retain];
	const uint8_t	 *props;
	size_t		  n, plen = 0;

	if (*h == NULL) {
		props = fh_event_props(m->ev, &plen);
		n = v5 ? mqtt_encode_publish_head5(NULL, 0, false, qos,
		    retain, m->topic, m->topic_len, 0, props, plen,
		    m->payload_len) :
		    mqtt_encode_publish_head(NULL, 0, false, qos, retain,
		    m->topic, m->topic_len, 0, m->payload_len);
		*h = fh_xmalloc(n);
		if (v5)
			mqtt_encode_publish_head5(*h, n, false, qos, retain,
			    m->topic, m->topic_len, 0, props, plen,
			    m->payload_len);
		else
			mqtt_encode_publish_head(*h, n, false, qos, retain,
			    m->topic, m->topic_len, 0, m->payload_len);
		*hl = n - 2 - (v5 ? send_publish_props_size(m) : 0);
	}
	*len = *hl;
	return *h;
}

static int64_t
send_publish_now_us(struct mqtt_broker *b)
{
	struct timeval	tv;

	if (b->base == NULL || event_base_gettimeofday_cached(b->base,
	    &tv) != 0)
		gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

bool
send_publish_is_expired(struct mqtt_broker *b, const struct mqtt_msg *m)
{
	return fh_event_is_expired(m->ev, send_publish_now_us(b));
}

/*
 * The per-delivery properties of a 5.0 PUBLISH: the rest of its Message
 * Expiry Interval, the matching subscription identifiers, a topic alias.
 */
static size_t
send_publish_own_props(struct mqtt_conn *c, struct mqtt_msg *m,
    const struct mqtt_dopts *d, uint16_t alias, uint8_t *out, size_t cap)
{
	struct mqtt_prop	list[BROKER_SUBIDS_MAX + 2];
	size_t			n = 0, i;
	int64_t			exp = fh_event_expiry_us(m->ev), left;

	(void)c;
	memset(list, 0, sizeof list);
	if (exp != 0) {
		struct timeval	tv;

		/* the time it waited here is taken off [MQTT-3.3.2-6]; the
		 * clock, not the loop's cached time, which may be older than
		 * the event and would make the rest longer than it was */
		gettimeofday(&tv, NULL);
		left = (exp - ((int64_t)tv.tv_sec * 1000000 + tv.tv_usec) +
		    999999) / 1000000;
		list[n].id = MQTT_PROP_MESSAGE_EXPIRY;
		list[n++].num = left < 1 ? 1 : (uint32_t)left;
	}
	for (i = 0; d != NULL && i < d->nsubids; i++) {
		list[n].id = MQTT_PROP_SUBSCRIPTION_ID;
		list[n++].num = d->subids[i];
	}
	if (alias != 0) {
		list[n].id = MQTT_PROP_TOPIC_ALIAS;
		list[n++].num = alias;
	}
	return mqtt_props_write(out, cap, list, n);
}

/* A 5.0 PUBLISH with properties of its own: a head written by copy. */
static bool
send_publish_own(struct mqtt_conn *c, struct mqtt_msg *m, uint8_t qos,
    bool retain, bool dup, uint16_t id, const struct mqtt_dopts *d)
{
	struct evbuffer	*out = broker_out(c);
	uint8_t		 own[64], *props, stack[512], *head;
	const uint8_t	*fwd, *topic = m->topic;
	size_t		 olen, flen, hlen, topic_len = m->topic_len;
	uint16_t	 alias;
	bool		 fresh;

	alias = send_publish_alias_out(c, m, &fresh);
	olen = send_publish_own_props(c, m, d, alias, own, sizeof own);
	fwd = fh_event_props(m->ev, &flen);
	props = fh_xmalloc(olen + flen + 1);
	memcpy(props, own, olen);
	if (flen > 0)
		memcpy(props + olen, fwd, flen);
	if (alias != 0 && !fresh) {
		topic = (const uint8_t *)"";
		topic_len = 0;
	}
	hlen = mqtt_encode_publish_head5(NULL, 0, dup, qos, retain, topic,
	    topic_len, id, props, olen + flen, m->payload_len);
	if (!broker_conn_fits(c, hlen + m->payload_len)) {
		if (fresh)	/* never told: not made */
			free(c->alias->out[--c->alias->nout]);
		free(props);
		return false;
	}
	head = hlen <= sizeof stack ? stack : fh_xmalloc(hlen);
	mqtt_encode_publish_head5(head, hlen, dup, qos, retain, topic,
	    topic_len, id, props, olen + flen, m->payload_len);
	broker_write(c, head, hlen);
	if (m->payload_len > 0)
		broker_write_ref(c, out, m->payload, m->payload_len, m);
	if (head != stack)
		free(head);
	free(props);
	return true;
}

/* Does this delivery need properties of its own (not the cached form)? */
static bool
send_publish_is_own(const struct mqtt_conn *c, const struct mqtt_msg *m,
    const struct mqtt_dopts *d)
{
	return c->level == MQTT_PROTO_5 && (fh_event_expiry_us(m->ev) != 0 ||
	    (d != NULL && d->nsubids > 0) || c->topic_alias_max_out > 0);
}

size_t
send_publish_size(struct mqtt_conn *c, struct mqtt_msg *m, uint8_t qos,
    bool retain, const struct mqtt_dopts *d)
{
	uint8_t	own[64];
	size_t	len, olen, flen;
	bool	v5 = c->level == MQTT_PROTO_5;

	if (send_publish_is_own(c, m, d)) {
		/* at most: with the topic and an alias */
		olen = send_publish_own_props(c, m, d,
		    c->topic_alias_max_out > 0 ? 1 : 0, own, sizeof own);
		fh_event_props(m->ev, &flen);
		return mqtt_encode_publish_head5(NULL, 0, false, qos, retain,
		    m->topic, m->topic_len, 1, NULL, olen + flen,
		    m->payload_len) + m->payload_len;
	}
	if (qos == 0) {
		send_publish_pkt0(m, v5, retain, &len);
		return len;
	}
	send_publish_head(m, v5, qos, retain, &len);
	return len + 2 + (v5 ? send_publish_props_size(m) : 0) +
	    m->payload_len;
}

bool
send_publish(struct mqtt_conn *c, struct mqtt_msg *m, uint8_t qos,
    bool retain, bool dup, uint16_t id, const struct mqtt_dopts *d)
{
	struct evbuffer	*out = broker_out(c);
	const uint8_t	*p;
	uint8_t		 idb[2], first;
	size_t		 len, tail;
	bool		 v5 = c->level == MQTT_PROTO_5;

	if (send_publish_is_own(c, m, d)) {
		if (!send_publish_own(c, m, qos, retain, dup, id, d))
			return false;
	} else if (qos == 0) {
		p = send_publish_pkt0(m, v5, retain, &len);
		if (!broker_conn_fits(c, len))
			return false;
		broker_write_ref(c, out, p, len, m);
	} else {
		p = send_publish_head(m, v5, qos, retain, &len);
		tail = v5 ? send_publish_props_size(m) : 0;
		if (!broker_conn_fits(c, len + 2 + tail + m->payload_len))
			return false;
		if (dup) {
			first = p[0] | 0x08;
			broker_write(c, &first, 1);
			broker_write_ref(c, out, p + 1, len - 1, m);
		} else
			broker_write_ref(c, out, p, len, m);
		idb[0] = (uint8_t)(id >> 8);
		idb[1] = (uint8_t)id;
		broker_write(c, idb, 2);
		if (tail > 0)
			broker_write_ref(c, out, p + len + 2, tail, m);
		broker_write_ref(c, out, m->payload, m->payload_len, m);
	}
	c->b->msgs_out++;
	c->b->pkts_out++;
	return true;
}
