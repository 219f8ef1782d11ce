/*
 * PUBLISH to a client. Each (QoS, retain) variant of a message is encoded
 * once, lazily, and added to every subscriber's output by reference;
 * QoS 1/2 add only their packet id by copy.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>

#include "config.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/broker_int.h"

static const uint8_t *
send_publish_pkt0(struct mqtt_msg *m, bool retain, size_t *len)
{
	size_t	n;

	if (m->pkt0[retain] == NULL) {
		n = mqtt_encode_publish_head(NULL, 0, false, 0, retain,
		    m->topic, m->topic_len, 0, m->payload_len);
		m->pkt0[retain] = fh_xmalloc(n + m->payload_len);
		mqtt_encode_publish_head(m->pkt0[retain], n, false, 0, retain,
		    m->topic, m->topic_len, 0, m->payload_len);
		if (m->payload_len > 0)
			memcpy(m->pkt0[retain] + n, m->payload,
			    m->payload_len);
		m->pkt0_len[retain] = n + m->payload_len;
	}
	*len = m->pkt0_len[retain];
	return m->pkt0[retain];
}

/* Fixed header + topic for QoS 1/2, without the packet id. */
static const uint8_t *
send_publish_head(struct mqtt_msg *m, uint8_t qos, bool retain, size_t *len)
{
	uint8_t	**h = &m->head[qos - 1][retain];
	size_t	  n;

	if (*h == NULL) {
		n = mqtt_encode_publish_head(NULL, 0, false, qos, retain,
		    m->topic, m->topic_len, 0, m->payload_len);
		*h = fh_xmalloc(n);
		mqtt_encode_publish_head(*h, n, false, qos, retain, m->topic,
		    m->topic_len, 0, m->payload_len);
		m->head_len[qos - 1][retain] = n - 2;
	}
	*len = m->head_len[qos - 1][retain];
	return *h;
}

/* The bytes m's PUBLISH at qos takes on the wire to c. */
size_t
send_publish_size(struct mqtt_conn *c, struct mqtt_msg *m, uint8_t qos,
    bool retain)
{
	size_t	len;

	(void)c;
	if (qos == 0) {
		send_publish_pkt0(m, retain, &len);
		return len;
	}
	send_publish_head(m, qos, retain, &len);
	return len + 2 + m->payload_len;
}

/* false: not sent, over the client's maximum packet size (counted) */
bool
send_publish(struct mqtt_conn *c, struct mqtt_msg *m, uint8_t qos,
    bool retain, bool dup, uint16_t id)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	const uint8_t	*p;
	uint8_t		 idb[2], first;
	size_t		 len;

	if (c->max_packet_out > 0 &&
	    !broker_conn_fits(c, send_publish_size(c, m, qos, retain)))
		return false;
	if (qos == 0) {
		p = send_publish_pkt0(m, retain, &len);
		broker_write_ref(c, out, p, len, m);
	} else {
		p = send_publish_head(m, qos, retain, &len);
		if (dup) {
			first = p[0] | 0x08;
			broker_write(c, &first, 1);
			broker_write_ref(c, out, p + 1, len - 1, m);
		} else
			broker_write_ref(c, out, p, len, m);
		idb[0] = (uint8_t)(id >> 8);
		idb[1] = (uint8_t)id;
		broker_write(c, idb, 2);
		broker_write_ref(c, out, m->payload, m->payload_len, m);
	}
	c->b->msgs_out++;
	return true;
}
