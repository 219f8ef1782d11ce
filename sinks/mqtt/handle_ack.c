/*
 * The client's acks for what the broker sent (PUBACK, PUBREC, PUBCOMP) and
 * its PUBREL for what it sent: the in-flight window and QoS 2 receive
 * state move on.
 *
 * 5.0: a PUBREL for a packet id not awaiting one is answered PUBCOMP 0x92,
 * Packet Identifier not found (3.7.2.1).
 */
#include <stdlib.h>
#include <sys/queue.h>

#include "config.h"
#include "gateway/state.h"
#include "sinks/mqtt/broker_int.h"

void
handle_ack(struct mqtt_conn *c, uint8_t type, uint16_t id, uint8_t reason)
{
	struct mqtt_session	*s = c->sess;
	struct mqtt_out		*o = session_inflight_find(s, id);
	size_t			 i;
	uint8_t			 comp = MQTT_RC_PACKET_ID_NOT_FOUND;

	switch (type) {
	case MQTT_PUBACK:
		if (o != NULL && o->qos == 1)
			session_inflight_done(s, o);
		break;
	case MQTT_PUBREC:
		if (o != NULL && o->qos == 2 && reason >= 0x80) {
			/* 5.0: the receiver refused it; the flow ends here,
			 * no PUBREL [MQTT-4.3.3-4], and the send quota is
			 * given back (section 4.9) */
			session_inflight_done(s, o);
		} else if (o != NULL && o->qos == 2) {
			/*
			 * Not recorded in the store: after a restart the
			 * message goes out again as PUBLISH with DUP, not as
			 * PUBREL. A client that kept its state answers PUBREC
			 * and delivers it once; one that lost it (a new
			 * process, or a library that drops QoS 2 state on
			 * reconnect) would drop a bare PUBREL and with it
			 * the message. A duplicate is only possible when the
			 * client's PUBCOMP was not committed before the
			 * crash. docs/durability.md.
			 */
			o->state = OUT_WAIT_COMP;
			send_ack(c, MQTT_PUBREL, id);
		}
		break;
	case MQTT_PUBCOMP:
		if (o != NULL && o->qos == 2 && o->state == OUT_WAIT_COMP)
			session_inflight_done(s, o);
		break;
	case MQTT_PUBREL:
		for (i = 0; i < s->nin_qos2; i++) {
			if (s->in_qos2[i] == id) {
				s->in_qos2[i] = s->in_qos2[--s->nin_qos2];
				comp = MQTT_RC_SUCCESS;
				if (persist_is_durable(s))
					mqtt_store_qos2_del(c->b->store, s->id, id);
				break;
			}
		}
		send_ack_reason(c, MQTT_PUBCOMP, id, comp);
		break;
	}
}
