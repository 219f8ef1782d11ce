/*
 * PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK to a client. With a state store,
 * a publisher's PUBACK/PUBREC waits for the commit of the batch that
 * stored its message, and acks stay in order [MQTT-4.6.0-2].
 */
#include <string.h>

#include "config.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/broker_int.h"

void
send_ack(struct mqtt_conn *c, uint8_t type, uint16_t id)
{
	uint8_t	buf[4];

	broker_write(c, buf, mqtt_encode_ack(buf, sizeof buf, type, id));
	c->b->pkts_out++;
}

/* 5.0 acks with a reason (0: the 3.1.1 form, also 5.0's). */
void
send_ack_reason(struct mqtt_conn *c, uint8_t type, uint16_t id,
    uint8_t reason)
{
	uint8_t	buf[8];

	if (reason == 0 || c->level != MQTT_PROTO_5) {
		send_ack(c, type, id);
		return;
	}
	broker_write(c, buf, mqtt_encode_ack5(buf, sizeof buf, type, id,
	    reason, NULL, 0));
	c->b->pkts_out++;
}

/* The batch holding a publisher's messages is committed (or failed). */
static void
send_ack_commit_cb(int rc, void *arg)
{
	struct mqtt_conn	*c = arg;
	uint32_t		 a;

	if (c->nacks == 0)
		return;
	a = c->acks[c->acks_head++];
	if (--c->nacks == 0)
		c->acks_head = 0;
	if (c->state != CONN_ACTIVE)
		return;
	if (rc != 0) {
		/* not stored: no acknowledgement; the client resends */
		c->b->acks_failed++;
		broker_conn_close(c, "state store commit failed, closing",
		    true);
		return;
	}
	send_ack_reason(c, (uint8_t)(a >> 16 & 0x0f), (uint16_t)a,
	    (uint8_t)(a >> 24));
}

/*
 * PUBACK/PUBREC for a publish. staged: it wrote to the store, so the ack
 * waits for the commit. Acks stay in the order of the publishes
 * [MQTT-4.6.0-2]: one waiting makes the next wait too.
 */
void
send_ack_publish(struct mqtt_conn *c, uint8_t type, uint16_t id,
    uint8_t reason, bool staged)
{
	struct mqtt_broker	*b = c->b;

	if (b->st == NULL || (!staged && c->nacks == 0)) {
		send_ack_reason(c, type, id, reason);
		return;
	}
	if (c->acks_head + c->nacks == c->capacks) {
		if (c->acks_head > 0) {
			memmove(c->acks, c->acks + c->acks_head,
			    c->nacks * sizeof *c->acks);
			c->acks_head = 0;
		} else {
			c->capacks = c->capacks ? c->capacks * 2 : 16;
			c->acks = fh_xrealloc(c->acks,
			    c->capacks * sizeof *c->acks);
		}
	}
	c->acks[c->acks_head + c->nacks++] = (uint32_t)reason << 24 |
	    (uint32_t)type << 16 | id;
	b->acks_deferred++;
	fh_state_on_commit(b->st, send_ack_commit_cb, c);
}
