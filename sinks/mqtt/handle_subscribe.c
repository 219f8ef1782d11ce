/*
 * SUBSCRIBE (SUBACK, then the retained messages of each filter) and
 * UNSUBSCRIBE.
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/broker_int.h"

void
handle_subscribe(struct mqtt_conn *c, const struct mqtt_subscribe *p)
{
	struct mqtt_broker		*b = c->b;
	struct mqtt_session		*s = c->sess;
	struct deliver_retained_arg	 ra;
	struct mqtt_sub			*sub;
	uint8_t				*codes, buf[8], *pkt;
	size_t				 i, n;

	codes = fh_xmalloc(p->ntopics);
	for (i = 0; i < p->ntopics; i++) {
		codes[i] = p->topics[i].qos;
		if (replay_subscribe(c, (const char *)p->topics[i].filter.p,
		    p->topics[i].filter.len, codes[i], &codes[i]))
			continue;	/* $replay/: a one-off, not kept */
		sub = session_sub(s, (const char *)p->topics[i].filter.p,
		    p->topics[i].filter.len, codes[i]);
		if (persist_is_durable(s))
			mqtt_store_sub_put(b->store, s->id, sub->filter,
			    sub->qos, 0);
	}
	n = mqtt_encode_suback(buf, sizeof buf, p->id, codes, p->ntopics);
	pkt = n <= sizeof buf ? buf : fh_xmalloc(n);
	mqtt_encode_suback(pkt, n, p->id, codes, p->ntopics);
	broker_write(c, pkt, n);
	if (pkt != buf)
		free(pkt);
	/* then the retained messages of each filter, retain flag set */
	ra.s = s;
	for (i = 0; i < p->ntopics && b->conf.retain; i++) {
		char *f = fh_xstrndup((const char *)p->topics[i].filter.p,
		    p->topics[i].filter.len);

		ra.qos = codes[i];
		topic_retain_match(b->topics, f, p->topics[i].filter.len,
		    deliver_retained_cb, &ra);
		free(f);
		if (c->state != CONN_ACTIVE)
			break;
	}
	free(codes);
}

void
handle_unsubscribe(struct mqtt_conn *c, const struct mqtt_subscribe *p)
{
	struct mqtt_session	*s = c->sess;
	size_t			 i, j;

	for (i = 0; i < p->ntopics; i++) {
		const char *f = (const char *)p->topics[i].filter.p;
		size_t flen = p->topics[i].filter.len;

		for (j = 0; j < s->nsubs; j++) {
			if (s->subs[j].len == flen &&
			    memcmp(s->subs[j].filter, f, flen) == 0) {
				topic_unsubscribe(c->b->topics, f, flen,
				    &s->owner);
				if (persist_is_durable(s))
					mqtt_store_sub_del(c->b->store, s->id,
					    s->subs[j].filter);
				free(s->subs[j].filter);
				s->subs[j] = s->subs[--s->nsubs];
				break;
			}
		}
	}
	send_ack(c, MQTT_UNSUBACK, p->id);
}
