/*
 * Routing: a bus event to every matching subscriber (and the retained
 * store), a client's PUBLISH (or will) to the bus, and the ACL checks on
 * both ways.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/auth.h"
#include "sinks/mqtt/broker_int.h"

static bool
deliver_may_read(struct mqtt_broker *b, struct mqtt_session *s,
    const struct mqtt_msg *m)
{
	if (b->auth == NULL || !mqtt_auth_has_acl(b->auth))
		return true;
	/* $SYS and source events obey the ACL like everything else */
	return mqtt_auth_acl_check(b->auth, s->username, s->id,
	    (const char *)m->topic, MQTT_ACL_READ);
}

/* The QoS of a delivery: the lower of the subscription's and the
 * message's; with upgrade_outgoing_qos the subscription's. */
static uint8_t
deliver_qos(const struct mqtt_broker *b, uint8_t sub, uint8_t msg)
{
	if (b->conf.upgrade_outgoing_qos)
		return sub;
	return sub < msg ? sub : msg;
}

void
deliver_retained_cb(void *msg, void *arg)
{
	struct deliver_retained_arg	*a = arg;
	struct mqtt_msg			*m = msg;

	struct mqtt_dopts		 d;

	if (send_publish_is_expired(a->s->b, m)) {
		/* not removed here: the tree is being walked */
		if (a->nexpired == a->capexpired) {
			a->capexpired = a->capexpired ? a->capexpired * 2 : 4;
			a->expired = fh_xrealloc(a->expired,
			    a->capexpired * sizeof *a->expired);
		}
		a->expired[a->nexpired++] = msg_ref(m);
		return;
	}
	if (!deliver_may_read(a->s->b, a->s, m))
		return;
	memset(&d, 0, sizeof d);
	if (a->subid != 0)
		d.subids[d.nsubids++] = a->subid;
	session_deliver(a->s, m, deliver_qos(a->s->b, a->qos, m->qos), true,
	    true, &d);
}

/*
 * 5.0 options of s's subscriptions that match m: the QoS (highest), Retain
 * As Published (any), every subscription identifier; those with No Local
 * do not count for s's own messages. false: none is left.
 */
static bool
deliver_options(const struct mqtt_session *s, const struct mqtt_msg *m,
    uint8_t *qos, bool *rap, struct mqtt_dopts *d)
{
	const char	*origin = fh_event_origin(m->ev);
	bool		 own, any = false;
	size_t		 i, k;

	own = strncmp(origin, "mqtt:", 5) == 0 && strcmp(origin + 5,
	    s->id) == 0;
	*qos = 0;
	*rap = false;
	memset(d, 0, sizeof *d);
	for (i = 0; i < s->nsubs; i++) {
		const struct mqtt_sub *sub = &s->subs[i];

		if (sub->shared || (sub->no_local && own) ||
		    !topic_matches(sub->filter, (const char *)m->topic))
			continue;
		any = true;
		if (sub->qos > *qos)
			*qos = sub->qos;
		*rap = *rap || sub->rap;
		for (k = 0; k < d->nsubids; k++)
			if (d->subids[k] == sub->subid)
				break;
		if (sub->subid != 0 && k == d->nsubids &&
		    d->nsubids < BROKER_SUBIDS_MAX)
			d->subids[d->nsubids++] = sub->subid;
	}
	return any;
}

static void
deliver_fanout(struct mqtt_broker *b, struct mqtt_msg *m)
{
	struct topic_owner	**vec;
	struct mqtt_session	 *s;
	struct mqtt_dopts	  d;
	size_t			  n, i;
	uint8_t			  qos;
	bool			  rap;

	n = topic_match(b->topics, (const char *)m->topic, m->topic_len, &vec);
	b->fanout_matched = n;
	for (i = 0; i < n; i++) {
		if (vec[i]->shared) {
			shared_deliver(b, vec[i]->ctx, m);
			continue;
		}
		s = vec[i]->ctx;
		if (!deliver_may_read(b, s, m))
			continue;
		if (s->nsubopts == 0) {
			qos = deliver_qos(b, vec[i]->qos, m->qos);
			session_deliver(s, m, qos, false, false, NULL);
			continue;
		}
		if (!deliver_options(s, m, &qos, &rap, &d))
			continue;	/* No Local: its own message */
		session_deliver(s, m, deliver_qos(b, qos, m->qos),
		    rap && fh_event_retain(m->ev), false, &d);
	}
}

int
mqtt_broker_publish(struct mqtt_broker *b, struct fh_event *ev)
{
	struct mqtt_msg	*m = msg_create(ev);

	/* a source's topic too deep for the tree is delivered, not kept */
	if (fh_event_retain(ev) && b->conf.retain &&
	    topic_depth_ok(m->topic, m->topic_len)) {
		persist_retain(b, m);
		if (m->payload_len == 0)
			topic_retain_set(b->topics, (const char *)m->topic,
			    m->topic_len, NULL);
		else
			topic_retain_set(b->topics, (const char *)m->topic,
			    m->topic_len, msg_ref(m));
	}
	deliver_fanout(b, m);
	msg_unref(m);
	return 0;
}

/* May this connection's PUBLISH reach others? Counts and logs refusals. */
bool
deliver_may_write(struct mqtt_conn *c, const char *topic)
{
	struct mqtt_broker	*b = c->b;

	/* $SYS: the broker's own, no client writes there; $share/: names
	 * a shared subscription (4.8.2), never a topic anyone could read,
	 * refused as Mosquitto refuses it (5.0: PUBACK 0x87) */
	if ((strncmp(topic, "$SYS", 4) == 0 && (topic[4] == '/' ||
	    topic[4] == '\0')) || strncmp(topic, "$share/", 7) == 0) {
		b->drop_acl++;
		fh_log(LOG_DEBUG, "mqtt %s (%s): PUBLISH to '%s' refused",
		    c->client_id, c->addr, topic);
		return false;
	}
	if (!c->authenticated && !b->conf.anonymous_publish) {
		b->drop_anonymous++;
		fh_log(LOG_DEBUG, "mqtt %s (%s): anonymous PUBLISH to '%s' "
		    "dropped", c->client_id, c->addr, topic);
		return false;
	}
	if (b->auth != NULL && mqtt_auth_has_acl(b->auth) &&
	    !mqtt_auth_acl_check(b->auth, c->authenticated ?
	    c->sess->username : NULL, c->client_id, topic, MQTT_ACL_WRITE)) {
		b->drop_acl++;
		fh_log(LOG_DEBUG, "mqtt %s (%s): PUBLISH to '%s' denied by ACL",
		    c->client_id, c->addr, topic);
		return false;
	}
	return true;
}

/* A client's message (or will) as a bus event, origin "mqtt:ID"; the
 * caller adds what else it carries (5.0 properties, expiry). */
struct fh_event *
deliver_event(const char *client_id, const uint8_t *topic, size_t topic_len,
    const uint8_t *payload, size_t len, uint8_t qos, bool retain)
{
	struct fh_event	*ev;
	char		*t = fh_xmalloc(topic_len + 1);
	uint8_t		*p = fh_xmalloc(len ? len : 1);
	char		 origin[128];

	memcpy(t, topic, topic_len);
	t[topic_len] = '\0';
	if (len > 0)
		memcpy(p, payload, len);
	ev = fh_event_new_raw(t, topic_len, p, len);
	fh_event_set_qos(ev, qos);
	fh_event_set_retain(ev, retain);
	snprintf(origin, sizeof origin, "mqtt:%s", client_id);
	fh_event_set_origin(ev, origin);
	return ev;
}

/* To the bus, like any source's (without a gateway: to our clients);
 * takes ev. */
void
deliver_send(struct mqtt_broker *b, struct fh_event *ev)
{
	if (b->gw != NULL)
		fh_gateway_emit(b->gw, ev);
	else
		mqtt_broker_publish(b, ev);
	fh_event_unref(ev);
}

void
deliver_emit(struct mqtt_broker *b, const char *client_id, const uint8_t *topic,
    size_t topic_len, const uint8_t *payload, size_t len, uint8_t qos,
    bool retain)
{
	deliver_send(b, deliver_event(client_id, topic, topic_len, payload,
	    len, qos, retain));
}
