/*
 * libFuzzer: the MQTT decoder at every protocol level (3.1, 3.1.1, 5.0,
 * and before CONNECT, where a CONNECT sets the level of what follows), and
 * the check that what decoded survives a round trip: encode it again,
 * decode that, and the packet is the same, fields and properties; the
 * properties encoded again from the decoded struct decode the same too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mqtt/packet.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

static void
fuzz_same_str(const struct mqtt_str *a, const struct mqtt_str *b)
{
	fuzz_check(a->len == b->len);
	fuzz_check(a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* Same known properties and the same user properties, in order. */
static void
fuzz_same_fields(const struct mqtt_props *a, const struct mqtt_props *b)
{
	struct mqtt_prop	pa, pb;
	size_t			oa = 0, ob = 0;
	int			ra, rb;

	fuzz_check(a->present == b->present);
	fuzz_check(a->payload_format == b->payload_format);
	fuzz_check(a->message_expiry == b->message_expiry);
	fuzz_same_str(&a->content_type, &b->content_type);
	fuzz_same_str(&a->response_topic, &b->response_topic);
	fuzz_same_str(&a->correlation_data, &b->correlation_data);
	fuzz_check(a->subid == b->subid);
	fuzz_check(a->session_expiry == b->session_expiry);
	fuzz_same_str(&a->assigned_client_id, &b->assigned_client_id);
	fuzz_check(a->server_keepalive == b->server_keepalive);
	fuzz_same_str(&a->auth_method, &b->auth_method);
	fuzz_same_str(&a->auth_data, &b->auth_data);
	fuzz_check(a->request_problem_info == b->request_problem_info);
	fuzz_check(a->will_delay == b->will_delay);
	fuzz_check(a->request_response_info == b->request_response_info);
	fuzz_same_str(&a->response_info, &b->response_info);
	fuzz_same_str(&a->server_reference, &b->server_reference);
	fuzz_same_str(&a->reason_string, &b->reason_string);
	fuzz_check(a->receive_maximum == b->receive_maximum);
	fuzz_check(a->topic_alias_maximum == b->topic_alias_maximum);
	fuzz_check(a->topic_alias == b->topic_alias);
	fuzz_check(a->maximum_qos == b->maximum_qos);
	fuzz_check(a->retain_available == b->retain_available);
	fuzz_check(a->maximum_packet_size == b->maximum_packet_size);
	fuzz_check(a->wildcard_available == b->wildcard_available);
	fuzz_check(a->subid_available == b->subid_available);
	fuzz_check(a->shared_available == b->shared_available);
	fuzz_check(a->nuser == b->nuser);
	do {
		ra = mqtt_prop_next_user(&a->raw, &oa, &pa);
		rb = mqtt_prop_next_user(&b->raw, &ob, &pb);
		fuzz_check(ra == rb);
		if (ra > 0) {
			fuzz_same_str(&pa.str, &pb.str);
			fuzz_same_str(&pa.val, &pb.val);
		}
	} while (ra > 0);
}

/* The struct encoder: its bytes decode to the same struct. */
static void
fuzz_props(const struct mqtt_props *p, int ptype)
{
	struct mqtt_props	 again;
	uint8_t			*buf;
	size_t			 n;

	if (p->nsubid > 1)	/* the struct keeps only the first */
		return;
	n = mqtt_props_encode(NULL, 0, p);
	buf = malloc(n + 1);
	fuzz_check(mqtt_props_encode(buf, n, p) == n);
	fuzz_check(mqtt_props_decode(buf, n, ptype, &again) == 0);
	fuzz_same_fields(p, &again);
	free(buf);
	if (ptype == MQTT_PUBLISH) {
		/* what a broker forwards stays a valid PUBLISH block */
		buf = malloc(p->raw.len + 1);
		n = mqtt_props_filter(buf, p->raw.len, &p->raw,
		    MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS) |
		    MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID) |
		    MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY));
		fuzz_check(n <= p->raw.len);
		fuzz_check(mqtt_props_decode(buf, n, ptype, &again) == 0);
		fuzz_check(!mqtt_props_has(&again, MQTT_PROP_TOPIC_ALIAS));
		fuzz_check(again.nuser == p->nuser);
		free(buf);
	}
}

static void
fuzz_same_props(const struct mqtt_props *a, const struct mqtt_props *b,
    int level, int ptype)
{
	if (level != MQTT_PROTO_5)
		return;
	fuzz_same_fields(a, b);
	fuzz_check(a->nsubid == b->nsubid);
	/* the encoders write property bytes unchanged */
	fuzz_same_str(&a->raw, &b->raw);
	fuzz_props(a, ptype);
}

static void
fuzz_same(const struct mqtt_packet *a, const struct mqtt_packet *b,
    int level)
{
	size_t	i;

	fuzz_check(a->type == b->type);
	switch (a->type) {
	case MQTT_CONNECT: {
		const struct mqtt_connect *x = &a->u.connect;
		const struct mqtt_connect *y = &b->u.connect;

		fuzz_check(x->level == y->level && x->clean == y->clean &&
		    x->will == y->will && x->will_qos == y->will_qos &&
		    x->will_retain == y->will_retain &&
		    x->has_username == y->has_username &&
		    x->has_password == y->has_password &&
		    x->keepalive == y->keepalive && x->bridge == y->bridge);
		fuzz_same_str(&x->client_id, &y->client_id);
		fuzz_same_str(&x->will_topic, &y->will_topic);
		fuzz_same_str(&x->will_payload, &y->will_payload);
		fuzz_same_str(&x->username, &y->username);
		fuzz_same_str(&x->password, &y->password);
		fuzz_same_props(&x->props, &y->props, x->level, MQTT_CONNECT);
		if (x->will)
			fuzz_same_props(&x->will_props, &y->will_props,
			    x->level, MQTT_PROPS_WILL);
		break;
	}
	case MQTT_CONNACK:
		fuzz_check(a->u.connack.session_present ==
		    b->u.connack.session_present);
		fuzz_check(a->u.connack.rc == b->u.connack.rc);
		fuzz_same_props(&a->u.connack.props, &b->u.connack.props,
		    level, a->type);
		break;
	case MQTT_PUBLISH: {
		const struct mqtt_publish *x = &a->u.publish;
		const struct mqtt_publish *y = &b->u.publish;

		fuzz_check(x->dup == y->dup && x->qos == y->qos &&
		    x->retain == y->retain && x->id == y->id);
		fuzz_same_str(&x->topic, &y->topic);
		fuzz_same_str(&x->payload, &y->payload);
		fuzz_same_props(&x->props, &y->props, level, a->type);
		break;
	}
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE: {
		const struct mqtt_subscribe *x = &a->u.subscribe;
		const struct mqtt_subscribe *y = &b->u.subscribe;

		fuzz_check(x->id == y->id && x->ntopics == y->ntopics);
		for (i = 0; i < x->ntopics; i++) {
			const struct mqtt_topic_req *s = &x->topics[i];
			const struct mqtt_topic_req *t = &y->topics[i];

			fuzz_same_str(&s->filter, &t->filter);
			fuzz_check(s->qos == t->qos &&
			    s->no_local == t->no_local &&
			    s->retain_as_published == t->retain_as_published &&
			    s->retain_handling == t->retain_handling);
		}
		fuzz_same_props(&x->props, &y->props, level, a->type);
		break;
	}
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		fuzz_check(a->u.suback.id == b->u.suback.id);
		fuzz_check(a->u.suback.ncodes == b->u.suback.ncodes);
		fuzz_check(a->u.suback.ncodes == 0 ||
		    memcmp(a->u.suback.codes, b->u.suback.codes,
		    a->u.suback.ncodes) == 0);
		fuzz_same_props(&a->u.suback.props, &b->u.suback.props,
		    level, a->type);
		break;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
		break;
	default:	/* the acks, DISCONNECT, AUTH */
		fuzz_check(a->u.ack.id == b->u.ack.id);
		fuzz_check(a->u.ack.reason == b->u.ack.reason);
		fuzz_same_props(&a->u.ack.props, &b->u.ack.props, level,
		    a->type);
		break;
	}
}

static void
fuzz_roundtrip(const struct mqtt_packet *p, int level, size_t used)
{
	struct mqtt_packet	 again;
	uint8_t			*out;
	size_t			 n, used2;

	n = mqtt_encode(NULL, 0, level, p);
	/* never longer: only non-minimal lengths and optional fields of
	 * the input may make it shorter */
	fuzz_check(n <= used);
	out = malloc(n);
	fuzz_check(mqtt_encode(out, n, level, p) == n);
	fuzz_check(mqtt_decode(out, n, level, &again,
	    &used2) == 0);
	fuzz_check(used2 == n);
	fuzz_same(p, &again, level);
	mqtt_packet_clear(&again);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int	levels[] = { 0, MQTT_PROTO_31, MQTT_PROTO_311,
	    MQTT_PROTO_5 };
	struct mqtt_packet	pkt;
	struct mqtt_fixed	fh;
	struct mqtt_str		g, f;
	size_t			i, used, off;
	int			level;

	for (i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		/* a stream of packets, as the broker reads them */
		off = 0;
		level = levels[i];
		while (off < size && mqtt_fixed_parse(data + off, size - off,
		    &fh) == 0 && size - off - fh.hdrlen >= fh.remaining) {
			if (mqtt_decode(data + off, size - off, level, &pkt,
			    &used) == 0) {
				fuzz_roundtrip(&pkt, pkt.type == MQTT_CONNECT ?
				    pkt.u.connect.level : level, used);
				if (level == 0 && pkt.type == MQTT_CONNECT)
					level = pkt.u.connect.level;
			}
			mqtt_packet_clear(&pkt);
			off += (size_t)fh.hdrlen + fh.remaining;
		}
	}
	(void)mqtt_filter_is_valid(data, size);
	(void)mqtt_filter_shared(data, size, &g, &f);
	return 0;
}
