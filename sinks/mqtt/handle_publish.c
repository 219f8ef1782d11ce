/*
 * A client's PUBLISH: ACL check, on to the bus, then PUBACK/PUBREC (QoS 2
 * ids are remembered until PUBREL so a resend is not delivered twice).
 */
#include <stdlib.h>

#include "config.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/broker_int.h"

static bool
handle_publish_in_qos2_has(struct mqtt_session *s, uint16_t id)
{
	size_t	i;

	for (i = 0; i < s->nin_qos2; i++)
		if (s->in_qos2[i] == id)
			return true;
	return false;
}

void
handle_publish(struct mqtt_conn *c, const struct mqtt_publish *p)
{
	struct mqtt_broker	*b = c->b;
	struct mqtt_session	*s = c->sess;
	uint64_t		 writes = b->st_writes;
	/* any sink's writes for this event (a bridge's queue) count too */
	uint64_t		 all = b->st ? fh_state_write_count(b->st) : 0;
	char			*topic;
	bool			 ok;

	b->msgs_in++;
	if (p->qos == 2 && handle_publish_in_qos2_has(s, p->id)) {
		/* a resent QoS 2 message: acknowledge, do not deliver again */
		send_ack_publish(c, MQTT_PUBREC, p->id, false);
		return;
	}
	if (p->qos > 0 && limits_receive_max_exceeded(c))
		return;
	topic = fh_xstrndup((const char *)p->topic.p, p->topic.len);
	ok = deliver_may_write(c, topic);
	free(topic);
	if (ok)
		deliver_emit(b, c->client_id, p->topic.p, p->topic.len,
		    p->payload.p, p->payload.len, p->qos, p->retain);
	if (c->state != CONN_ACTIVE)
		return;
	if (p->qos == 1)
		send_ack_publish(c, MQTT_PUBACK, p->id,
		    b->st_writes != writes || (b->st != NULL &&
		    fh_state_write_count(b->st) != all));
	else if (p->qos == 2) {
		if (s->nin_qos2 == s->capin_qos2) {
			s->capin_qos2 = s->capin_qos2 ? s->capin_qos2 * 2 : 8;
			s->in_qos2 = fh_xrealloc(s->in_qos2,
			    s->capin_qos2 * sizeof *s->in_qos2);
		}
		s->in_qos2[s->nin_qos2++] = p->id;
		if (persist_is_durable(s)) {
			mqtt_store_qos2_put(b->store, s->id, p->id);
			b->st_writes++;
		}
		send_ack_publish(c, MQTT_PUBREC, p->id,
		    b->st_writes != writes || (b->st != NULL &&
		    fh_state_write_count(b->st) != all));
	}
}
