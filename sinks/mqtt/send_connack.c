/*
 * CONNACK (3.1, 3.1.1 and 5.0) and the broker's own 5.0 DISCONNECT: the
 * packets that open and end a connection from the server's side.
 *
 * A 5.0 CONNACK announces only what is not at the protocol's defaults,
 * in the order Mosquitto 2 writes them (clients and test suites written
 * against it compare CONNACKs byte for byte): Server Keep Alive, Topic
 * Alias Maximum, Assigned Client Identifier, Session Expiry Interval
 * when the server shortened it, Retain Available 0 without retain,
 * Maximum Packet Size, Receive Maximum (max_inflight_messages, also
 * what a client may have in flight toward us). Subscription Identifiers
 * and Shared Subscriptions Available are 1 when absent [3.2.2.3.12,
 * 3.2.2.3.13], so they are not sent.
 *
 * A CONNACK refusal and a DISCONNECT for what the client sent wrong carry
 * no Reason String, as Mosquitto's do not (test suites written against it
 * compare them byte for byte): the reason code says it, the log says
 * why. Only shutdown, takeover and keep alive timeout say it in words.
 */
#include <string.h>

#include "config.h"
#include "sinks/mqtt/broker_int.h"

#define SEND_CONNACK_PROPS	16

void
send_connack(struct mqtt_conn *c, bool sp, uint8_t rc)
{
	uint8_t	buf[4];

	broker_write(c, buf, mqtt_encode_connack(buf, sizeof buf,
	    c->level == MQTT_PROTO_311 ? sp : false, rc));
	c->b->pkts_out++;
}

static struct mqtt_prop *
send_connack_num(struct mqtt_prop *p, uint8_t id, uint32_t num)
{
	memset(p, 0, sizeof *p);
	p->id = id;
	p->num = num;
	return p + 1;
}

static struct mqtt_prop *
send_connack_str(struct mqtt_prop *p, uint8_t id, const char *s)
{
	memset(p, 0, sizeof *p);
	p->id = id;
	p->str.p = (const uint8_t *)s;
	p->str.len = strlen(s);
	return p + 1;
}

/* Encode and write a packet with props; without the reason string when
 * the whole would be over the client's maximum packet size. */
static void
send_connack_write(struct mqtt_conn *c, uint8_t type, bool sp,
    uint8_t reason, struct mqtt_prop *list, size_t n, bool has_rs)
{
	uint8_t	props[1024], buf[1100];
	size_t	plen, len;

	for (;;) {
		plen = mqtt_props_write(props, sizeof props, list, n);
		if (plen > sizeof props) {
			plen = 0;	/* cannot happen: short strings */
			n = 0;
		}
		len = type == MQTT_CONNACK ?
		    mqtt_encode_connack5(buf, sizeof buf, sp, reason, props,
		    plen) :
		    mqtt_encode_reason(buf, sizeof buf, type, reason, props,
		    plen);
		if (len <= sizeof buf && (c->max_packet_out == 0 ||
		    len <= c->max_packet_out || !has_rs))
			break;
		/* the reason string is last: leave it out */
		n--;
		has_rs = false;
	}
	if (len <= sizeof buf) {
		broker_write(c, buf, len);
		c->b->pkts_out++;
	}
}

void
send_connack5(struct mqtt_conn *c, bool sp, uint8_t reason,
    const char *assigned_id, uint16_t server_keepalive,
    uint32_t session_expiry, const char *reason_string)
{
	struct mqtt_broker	*b = c->b;
	struct mqtt_prop	 list[SEND_CONNACK_PROPS], *p = list;

	if (reason == MQTT_RC_SUCCESS) {
		if (server_keepalive > 0)
			p = send_connack_num(p, MQTT_PROP_SERVER_KEEPALIVE,
			    server_keepalive);
		if (b->conf.max_topic_alias > 0)
			p = send_connack_num(p, MQTT_PROP_TOPIC_ALIAS_MAXIMUM,
			    (uint32_t)b->conf.max_topic_alias);
		if (assigned_id != NULL)
			p = send_connack_str(p, MQTT_PROP_ASSIGNED_CLIENT_ID,
			    assigned_id);
		if (session_expiry != c->session_expiry)
			p = send_connack_num(p, MQTT_PROP_SESSION_EXPIRY,
			    session_expiry);
		if (!b->conf.retain)
			p = send_connack_num(p, MQTT_PROP_RETAIN_AVAILABLE, 0);
		/* the largest setting is the protocol's own limit: none */
		if (b->conf.announce_max_packet &&
		    b->conf.max_packet_size > 0 &&
		    b->conf.max_packet_size < 268435455)
			p = send_connack_num(p, MQTT_PROP_MAXIMUM_PACKET_SIZE,
			    (uint32_t)b->conf.max_packet_size);
		if (b->conf.max_inflight_messages < 65535)
			p = send_connack_num(p, MQTT_PROP_RECEIVE_MAXIMUM,
			    (uint32_t)b->conf.max_inflight_messages);
		if (!BROKER_SUBID_AVAILABLE)
			p = send_connack_num(p, MQTT_PROP_SUBID_AVAILABLE, 0);
		if (!BROKER_SHARED_AVAILABLE)
			p = send_connack_num(p, MQTT_PROP_SHARED_AVAILABLE, 0);
	}
	(void)reason_string;	/* logged by the caller */
	send_connack_write(c, MQTT_CONNACK, sp && reason == MQTT_RC_SUCCESS,
	    reason, list, (size_t)(p - list), false);
}

void
send_disconnect5(struct mqtt_conn *c, uint8_t reason,
    const char *reason_string)
{
	struct mqtt_prop	 list[1], *p = list;

	/* the server's own reasons to end a good connection say why too:
	 * paho-mqtt 1.6 reads a DISCONNECT's reason code only when
	 * properties follow it */
	if (reason_string != NULL && (reason == MQTT_RC_SHUTTING_DOWN ||
	    reason == MQTT_RC_SESSION_TAKEN_OVER ||
	    reason == MQTT_RC_KEEPALIVE_TIMEOUT))
		p = send_connack_str(p, MQTT_PROP_REASON_STRING,
		    reason_string);
	send_connack_write(c, MQTT_DISCONNECT, false, reason, list,
	    (size_t)(p - list), p != list);
	c->b->disconnects_sent++;
}
