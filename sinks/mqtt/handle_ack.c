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
			 * PUBREL from now on, never the PUBLISH again
			 * (3.1.1 and 5.0 section 4.3.3): recorded, so that
			 * a resume after a restart sends PUBREL too
			 * (section 4.4). Staged with the turn's other
			 * writes; lost only if the daemon dies before that
			 * commit, when the PUBLISH goes again with DUP.
			 */
			if (o->seq != 0 && o->state != OUT_WAIT_COMP)
				mqtt_store_msg_update(c->b->store, o->seq,
				    o->id, MQTT_STORE_MSG_RELEASED, false);
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
	/* the window or the queue may have room for a paused replay */
	if (c->replays != NULL && type != MQTT_PUBREL)
		replay_kick(c);
}
