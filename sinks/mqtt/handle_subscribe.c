/*
 * SUBSCRIBE (SUBACK, then the retained messages of each filter) and
 * UNSUBSCRIBE.
 *
 * 5.0: the subscription options (No Local, Retain As Published, Retain
 * Handling) and the Subscription Identifier are kept with the
 * subscription; SUBACK and UNSUBACK carry a reason code per filter. A
 * filter that the ACL can never grant anything under is refused (5.0:
 * 0x87 not authorized, 3.1.1: 0x80) instead of granted and then silent.
 * $share/GROUP/filter goes to its group (shared.c), not the tree.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/auth.h"
#include "sinks/mqtt/broker_int.h"

void
subscribe_attach(struct mqtt_session *s, struct mqtt_sub *sub)
{
	sub->shared = mqtt_filter_shared((const uint8_t *)sub->filter,
	    sub->len, NULL, NULL) == 1;
	if (sub->shared)
		shared_join(s, sub);
	else
		topic_subscribe(s->b->topics, sub->filter, sub->len,
		    &s->owner, sub->qos);
}

void
subscribe_detach(struct mqtt_session *s, const struct mqtt_sub *sub)
{
	if (sub->shared)
		shared_leave(s, sub);
	else
		topic_unsubscribe(s->b->topics, sub->filter, sub->len,
		    &s->owner);
}

void
subscribe_count_options(struct mqtt_session *s)
{
	size_t	i;

	s->nsubopts = 0;
	for (i = 0; i < s->nsubs; i++)
		if (s->subs[i].subid != 0 || s->subs[i].no_local ||
		    s->subs[i].rap)
			s->nsubopts++;
}

static struct mqtt_sub *
handle_subscribe_find(struct mqtt_session *s, const uint8_t *f, size_t len)
{
	size_t	i;

	for (i = 0; i < s->nsubs; i++)
		if (s->subs[i].len == len &&
		    memcmp(s->subs[i].filter, f, len) == 0)
			return &s->subs[i];
	return NULL;
}

/* Could the ACL ever let anything through this filter to c? */
static bool
handle_subscribe_allowed(struct mqtt_conn *c, const struct mqtt_str *f)
{
	struct mqtt_broker	*b = c->b;
	struct mqtt_str		 group, inner;
	char			*s;
	bool			 ok;

	if (b->auth == NULL || !mqtt_auth_has_acl(b->auth))
		return true;
	if (mqtt_filter_shared(f->p, f->len, &group, &inner) != 1)
		inner = *f;
	s = fh_xstrndup((const char *)inner.p, inner.len);
	ok = mqtt_auth_acl_filter_possible(b->auth, c->authenticated ?
	    c->sess->username : NULL, c->client_id, s);
	free(s);
	return ok;
}

static void
handle_subscribe_suback(struct mqtt_conn *c, uint8_t type, uint16_t id,
    const uint8_t *codes, size_t n)
{
	uint8_t	buf[16], *pkt;
	size_t	len;
	bool	v5 = c->level == MQTT_PROTO_5;

	if (!v5 && type == MQTT_UNSUBACK) {
		send_ack(c, MQTT_UNSUBACK, id);
		return;
	}
	len = v5 ? mqtt_encode_suback5(NULL, 0, type, id, NULL, 0, codes, n) :
	    mqtt_encode_suback(NULL, 0, id, codes, n);
	pkt = len <= sizeof buf ? buf : fh_xmalloc(len);
	if (v5)
		mqtt_encode_suback5(pkt, len, type, id, NULL, 0, codes, n);
	else
		mqtt_encode_suback(pkt, len, id, codes, n);
	broker_write(c, pkt, len);
	c->b->pkts_out++;
	if (pkt != buf)
		free(pkt);
}

/* Retained messages past their Message Expiry Interval go for good. */
static void
handle_subscribe_purge(struct mqtt_broker *b, struct deliver_retained_arg *a)
{
	struct mqtt_msg	*m;
	size_t		 i;

	for (i = 0; i < a->nexpired; i++) {
		m = a->expired[i];
		b->drop_expired++;
		if (b->st != NULL) {
			mqtt_store_retain_del(b->store, (const char *)m->topic);
			b->st_writes++;
		}
		topic_retain_set(b->topics, (const char *)m->topic,
		    m->topic_len, NULL);
		msg_unref(m);
	}
	a->nexpired = 0;
}

void
handle_subscribe(struct mqtt_conn *c, const struct mqtt_subscribe *p)
{
	struct mqtt_broker		*b = c->b;
	struct mqtt_session		*s = c->sess;
	struct deliver_retained_arg	 ra;
	const struct mqtt_topic_req	*t;
	struct mqtt_sub			*sub;
	uint8_t				*codes, *send_retained, opts;
	uint32_t			 subid = 0;
	size_t				 i;
	bool				 v5 = c->level == MQTT_PROTO_5, fresh;
	bool				 shared = false;

	if (v5 && mqtt_props_has(&p->props, MQTT_PROP_SUBSCRIPTION_ID))
		subid = p->props.subid;
	codes = fh_xmalloc(p->ntopics);
	send_retained = fh_xcalloc(p->ntopics, 1);
	for (i = 0; i < p->ntopics; i++) {
		t = &p->topics[i];
		codes[i] = t->qos;
		if (replay_subscribe(c, (const char *)t->filter.p,
		    t->filter.len, codes[i], &codes[i]))
			continue;	/* $replay/: a one-off, not kept */
		if (!handle_subscribe_allowed(c, &t->filter)) {
			codes[i] = v5 ? MQTT_RC_NOT_AUTHORIZED :
			    MQTT_SUBACK_FAILURE;
			b->drop_acl++;
			continue;
		}
		fresh = handle_subscribe_find(s, t->filter.p,
		    t->filter.len) == NULL;
		sub = session_sub(s, (const char *)t->filter.p, t->filter.len,
		    t->qos);
		sub->subid = subid;
		sub->no_local = t->no_local;
		sub->rap = t->retain_as_published;
		/* A 3.1.1 bridge cannot ask for these; Mosquitto gives them
		 * to it, so that what it sent us never loops back. */
		if (c->bridge && !v5)
			sub->no_local = sub->rap = true;
		shared |= sub->shared;
		/* retained messages are not sent to a shared subscription */
		send_retained[i] = !sub->shared &&
		    (t->retain_handling == MQTT_RH_SEND ||
		    (t->retain_handling == MQTT_RH_SEND_NEW && fresh));
		if (persist_is_durable(s)) {
			opts = (uint8_t)(sub->qos | (sub->no_local ? 0x04 : 0) |
			    (sub->rap ? 0x08 : 0) | t->retain_handling << 4);
			mqtt_store_sub_put(b->store, s->id, sub->filter, opts,
			    sub->subid);
		}
	}
	subscribe_count_options(s);
	handle_subscribe_suback(c, MQTT_SUBACK, p->id, codes, p->ntopics);
	/* then the retained messages of each filter, retain flag set */
	memset(&ra, 0, sizeof ra);
	ra.s = s;
	for (i = 0; i < p->ntopics && b->conf.retain; i++) {
		char *f;

		if (!send_retained[i])
			continue;
		f = fh_xstrndup((const char *)p->topics[i].filter.p,
		    p->topics[i].filter.len);
		ra.qos = codes[i];
		ra.subid = subid;
		topic_retain_match(b->topics, f, p->topics[i].filter.len,
		    deliver_retained_cb, &ra);
		free(f);
		handle_subscribe_purge(b, &ra);
		if (c->state != CONN_ACTIVE)
			break;
	}
	free(ra.expired);
	free(send_retained);
	free(codes);
	/* a new member takes its groups' messages waiting on offline ones */
	if (shared)
		shared_member_up(s);
}

void
handle_unsubscribe(struct mqtt_conn *c, const struct mqtt_subscribe *p)
{
	struct mqtt_session	*s = c->sess;
	struct mqtt_sub		*sub;
	uint8_t			*codes;
	size_t			 i;

	codes = fh_xmalloc(p->ntopics);
	for (i = 0; i < p->ntopics; i++) {
		sub = handle_subscribe_find(s, p->topics[i].filter.p,
		    p->topics[i].filter.len);
		/* $replay/...: the replay stops (handle_replay.c) */
		if (sub == NULL && c->replays != NULL &&
		    replay_unsubscribe(c, (const char *)p->topics[i].filter.p,
		    p->topics[i].filter.len)) {
			codes[i] = MQTT_RC_SUCCESS;
			continue;
		}
		if (sub == NULL) {
			codes[i] = MQTT_RC_NO_SUBSCRIPTION_EXISTED;
			continue;
		}
		codes[i] = MQTT_RC_SUCCESS;
		subscribe_detach(s, sub);
		if (persist_is_durable(s))
			mqtt_store_sub_del(c->b->store, s->id, sub->filter);
		free(sub->filter);
		*sub = s->subs[--s->nsubs];
	}
	subscribe_count_options(s);
	handle_subscribe_suback(c, MQTT_UNSUBACK, p->id, codes, p->ntopics);
	free(codes);
}
