/*
 * The MQTT 3.1/3.1.1 codec. Every normative statement about the shape of
 * a packet that a server must check is checked here; what depends on
 * state (first packet, second CONNECT, auth) is the broker's business.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/event.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/packet.h"

const char *
mqtt_strerror(int err)
{
	switch (err) {
	case MQTT_OK:
		return "ok";
	case MQTT_E_MALFORMED:
		return "malformed packet";
	case MQTT_E_PROTOCOL:
		return "protocol violation";
	case MQTT_E_VERSION:
		return "unsupported protocol version";
	case MQTT_E_TOO_LARGE:
		return "packet too large";
	case MQTT_E_UTF8:
		return "invalid UTF-8 string";
	case MQTT_E_TOPIC:
		return "invalid topic";
	}
	return "unknown error";
}

/* ---- decoding -------------------------------------------------------- */

struct packet_reader {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;
};

static int
packet_read_u8(struct packet_reader *r, uint8_t *v)
{
	if (r->len - r->off < 1)
		return MQTT_E_MALFORMED;
	*v = r->p[r->off++];
	return 0;
}

static int
packet_read_u16(struct packet_reader *r, uint16_t *v)
{
	if (r->len - r->off < 2)
		return MQTT_E_MALFORMED;
	*v = (uint16_t)(r->p[r->off] << 8 | r->p[r->off + 1]);
	r->off += 2;
	return 0;
}

/* A two-byte length and that many bytes. */
static int
packet_read_bin(struct packet_reader *r, struct mqtt_str *s)
{
	uint16_t	n;

	if (packet_read_u16(r, &n) != 0 || r->len - r->off < n)
		return MQTT_E_MALFORMED;
	s->p = r->p + r->off;
	s->len = n;
	r->off += n;
	return 0;
}

static int
packet_read_str(struct packet_reader *r, struct mqtt_str *s)
{
	if (packet_read_bin(r, s) != 0)
		return MQTT_E_MALFORMED;
	if (!mqtt_string_is_valid(s->p, s->len))
		return MQTT_E_UTF8;
	return 0;
}

static size_t
packet_left(const struct packet_reader *r)
{
	return r->len - r->off;
}

bool
mqtt_string_is_valid(const uint8_t *s, size_t len)
{
	if (len > 0 && memchr(s, '\0', len) != NULL)
		return false;
	return fh_utf8_is_valid(s, len);
}

bool
mqtt_topic_is_valid(const uint8_t *s, size_t len)
{
	return fh_topic_is_valid((const char *)s, len);
}

bool
mqtt_filter_is_valid(const uint8_t *s, size_t len)
{
	size_t	i;

	if (len == 0 || len > 65535 || !mqtt_string_is_valid(s, len))
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] != '+' && s[i] != '#')
			continue;
		/* a wildcard fills its whole level */
		if (i > 0 && s[i - 1] != '/')
			return false;
		if (i + 1 < len && s[i + 1] != '/')
			return false;
		/* '#' is the last character */
		if (s[i] == '#' && i + 1 != len)
			return false;
	}
	return true;
}

int
mqtt_fixed_parse(const uint8_t *buf, size_t len, struct mqtt_fixed *fh)
{
	uint32_t	v = 0;
	size_t		i;

	if (len < 2)
		return 1;
	for (i = 1; i <= 4; i++) {
		if (i >= len)
			return 1;
		v |= (uint32_t)(buf[i] & 0x7f) << (7 * (i - 1));
		if ((buf[i] & 0x80) == 0) {
			/* a non-minimal encoding (trailing 0x80 0x00) is
			 * accepted, as every broker does */
			fh->type = buf[0] >> 4;
			fh->flags = buf[0] & 0x0f;
			fh->remaining = v;
			fh->hdrlen = (uint8_t)(i + 1);
			return MQTT_OK;
		}
	}
	return MQTT_E_MALFORMED;
}

static int
packet_decode_connect(struct packet_reader *r, struct mqtt_connect *c)
{
	uint8_t	cflags;
	int	rc;

	if (packet_read_bin(r, &c->proto_name) != 0 ||
	    packet_read_u8(r, &c->level) != 0)
		return MQTT_E_MALFORMED;
	if (c->proto_name.len == 4 && memcmp(c->proto_name.p, "MQTT", 4) == 0) {
		if (c->level != MQTT_PROTO_311)
			return MQTT_E_VERSION;
	} else if (c->proto_name.len == 6 &&
	    memcmp(c->proto_name.p, "MQIsdp", 6) == 0) {
		if (c->level != MQTT_PROTO_31)
			return MQTT_E_VERSION;
	} else
		return MQTT_E_PROTOCOL;	/* [MQTT-3.1.2-1]: just close */
	if (packet_read_u8(r, &cflags) != 0 ||
	    packet_read_u16(r, &c->keepalive) != 0)
		return MQTT_E_MALFORMED;
	if (cflags & 0x01)		/* reserved [MQTT-3.1.2-3] */
		return MQTT_E_MALFORMED;
	c->clean = (cflags & 0x02) != 0;
	c->will = (cflags & 0x04) != 0;
	c->will_qos = (cflags >> 3) & 0x03;
	c->will_retain = (cflags & 0x20) != 0;
	c->has_password = (cflags & 0x40) != 0;
	c->has_username = (cflags & 0x80) != 0;
	if (c->will_qos == 3)
		return MQTT_E_MALFORMED;
	if (!c->will && (c->will_qos != 0 || c->will_retain))
		return MQTT_E_MALFORMED;	/* [MQTT-3.1.2-11,13,15] */
	if (c->level == MQTT_PROTO_311 && c->has_password && !c->has_username)
		return MQTT_E_MALFORMED;	/* [MQTT-3.1.2-22] */

	if ((rc = packet_read_str(r, &c->client_id)) != 0)
		return rc;
	if (c->will) {
		if ((rc = packet_read_str(r, &c->will_topic)) != 0)
			return rc;
		if (!mqtt_topic_is_valid(c->will_topic.p, c->will_topic.len))
			return MQTT_E_TOPIC;
		if (packet_read_bin(r, &c->will_payload) != 0)
			return MQTT_E_MALFORMED;
	}
	if (c->has_username && (rc = packet_read_str(r, &c->username)) != 0)
		return rc;
	if (c->has_password && packet_read_bin(r, &c->password) != 0) {
		/* 3.1 clients may set the flag and send nothing */
		if (c->level != MQTT_PROTO_31 || packet_left(r) != 0)
			return MQTT_E_MALFORMED;
		c->has_password = false;
	}
	if (packet_left(r) != 0)
		return MQTT_E_MALFORMED;
	return 0;
}

static int
packet_decode_publish(struct packet_reader *r, uint8_t flags,
    struct mqtt_publish *p)
{
	int	rc;

	p->dup = (flags & 0x08) != 0;
	p->qos = (flags >> 1) & 0x03;
	p->retain = (flags & 0x01) != 0;
	if (p->qos == 3)		/* [MQTT-3.3.1-4] */
		return MQTT_E_MALFORMED;
	if (p->qos == 0 && p->dup)	/* [MQTT-3.3.1-2] */
		return MQTT_E_MALFORMED;
	if ((rc = packet_read_str(r, &p->topic)) != 0)
		return rc;
	if (!mqtt_topic_is_valid(p->topic.p, p->topic.len))
		return MQTT_E_TOPIC;	/* [MQTT-3.3.2-2] */
	if (p->qos > 0) {
		if (packet_read_u16(r, &p->id) != 0)
			return MQTT_E_MALFORMED;
		if (p->id == 0)		/* [MQTT-2.3.1-1] */
			return MQTT_E_MALFORMED;
	}
	p->payload.p = r->p + r->off;
	p->payload.len = packet_left(r);
	r->off = r->len;
	return 0;
}

static int
packet_decode_ack(struct packet_reader *r, struct mqtt_ack *a)
{
	if (packet_read_u16(r, &a->id) != 0 || packet_left(r) != 0)
		return MQTT_E_MALFORMED;
	if (a->id == 0)
		return MQTT_E_MALFORMED;
	return 0;
}

static int
packet_decode_subscribe(struct packet_reader *r, bool sub,
    struct mqtt_subscribe *s)
{
	size_t		 n = 0, cap = 0, save;
	struct mqtt_str	 f;
	uint8_t		 q;
	int		 rc;

	if (packet_read_u16(r, &s->id) != 0)
		return MQTT_E_MALFORMED;
	if (s->id == 0)
		return MQTT_E_MALFORMED;
	if (packet_left(r) == 0)	/* [MQTT-3.8.3-3], [MQTT-3.10.3-2] */
		return MQTT_E_PROTOCOL;
	/* count first, so that a bad packet allocates nothing */
	save = r->off;
	while (packet_left(r) > 0) {
		if ((rc = packet_read_str(r, &f)) != 0)
			return rc;
		if (!mqtt_filter_is_valid(f.p, f.len))
			return MQTT_E_TOPIC;
		if (sub) {
			if (packet_read_u8(r, &q) != 0)
				return MQTT_E_MALFORMED;
			if (q > 2)	/* [MQTT-3-8.3-4]: reserved bits */
				return MQTT_E_MALFORMED;
		}
		cap++;
	}
	r->off = save;
	s->topics = fh_xcalloc(cap, sizeof *s->topics);
	while (n < cap) {
		packet_read_bin(r, &s->topics[n].filter);
		if (sub)
			packet_read_u8(r, &s->topics[n].qos);
		n++;
	}
	s->ntopics = n;
	return 0;
}

static int
packet_decode_suback(struct packet_reader *r, struct mqtt_suback *s)
{
	size_t	i;

	if (packet_read_u16(r, &s->id) != 0 || packet_left(r) == 0)
		return MQTT_E_MALFORMED;
	s->codes = r->p + r->off;
	s->ncodes = packet_left(r);
	for (i = 0; i < s->ncodes; i++)
		if (s->codes[i] > 2 && s->codes[i] != MQTT_SUBACK_FAILURE)
			return MQTT_E_MALFORMED;
	r->off = r->len;
	return 0;
}

/* The flags each type must carry in 3.1.1 (section 2.2.2); -1: any. */
static int
packet_required_flags(uint8_t type)
{
	switch (type) {
	case MQTT_PUBLISH:
		return -1;
	case MQTT_PUBREL:
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return 0x02;
	default:
		return 0;
	}
}

int
mqtt_packet_decode(uint8_t type, uint8_t flags, const uint8_t *body,
    size_t len, int level, struct mqtt_packet *pkt)
{
	struct packet_reader	r = { body, len, 0 };
	int			req, rc;

	memset(pkt, 0, sizeof *pkt);
	pkt->type = type;
	pkt->flags = flags;
	if (type == 0 || type == MQTT_AUTH)	/* reserved in 3.1.1 */
		return MQTT_E_MALFORMED;
	req = packet_required_flags(type);
	/* 3.1 named the flags but servers never checked them, except that
	 * PUBREL/SUBSCRIBE/UNSUBSCRIBE carry QoS 1 */
	if (req >= 0 && flags != req &&
	    (level != MQTT_PROTO_31 || req == 0x02))
		return MQTT_E_MALFORMED;
	if (level == 0 && type != MQTT_CONNECT)
		return MQTT_E_PROTOCOL;
	switch (type) {
	case MQTT_CONNECT:
		rc = packet_decode_connect(&r, &pkt->u.connect);
		break;
	case MQTT_CONNACK:
		if (len != 2 || (body[0] & 0xfe) != 0)
			return MQTT_E_MALFORMED;
		pkt->u.connack.session_present = body[0] & 0x01;
		pkt->u.connack.rc = body[1];
		rc = 0;
		break;
	case MQTT_PUBLISH:
		rc = packet_decode_publish(&r, flags, &pkt->u.publish);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		rc = packet_decode_ack(&r, &pkt->u.ack);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		rc = packet_decode_subscribe(&r, type == MQTT_SUBSCRIBE,
		    &pkt->u.subscribe);
		break;
	case MQTT_SUBACK:
		rc = packet_decode_suback(&r, &pkt->u.suback);
		break;
	default:	/* PINGREQ, PINGRESP, DISCONNECT */
		rc = len == 0 ? 0 : MQTT_E_MALFORMED;
		break;
	}
	if (rc != 0)
		memset(&pkt->u, 0, sizeof pkt->u);
	return rc;
}

void
mqtt_packet_clear(struct mqtt_packet *pkt)
{
	if (pkt->type == MQTT_SUBSCRIBE || pkt->type == MQTT_UNSUBSCRIBE) {
		free(pkt->u.subscribe.topics);
		pkt->u.subscribe.topics = NULL;
		pkt->u.subscribe.ntopics = 0;
	}
}

int
mqtt_decode(const uint8_t *buf, size_t len, int level,
    struct mqtt_packet *pkt, size_t *used)
{
	struct mqtt_fixed	fh;
	int			rc;

	memset(pkt, 0, sizeof *pkt);
	if ((rc = mqtt_fixed_parse(buf, len, &fh)) != MQTT_OK)
		return rc > 0 ? MQTT_E_MALFORMED : rc;
	if (len - fh.hdrlen < fh.remaining)
		return MQTT_E_MALFORMED;
	*used = fh.hdrlen + fh.remaining;
	return mqtt_packet_decode(fh.type, fh.flags, buf + fh.hdrlen,
	    fh.remaining, level, pkt);
}

/* ---- encoding -------------------------------------------------------- */

struct packet_writer {
	uint8_t	*out;
	size_t	 cap;
	size_t	 n;
};

static void
packet_put(struct packet_writer *w, const void *p, size_t len)
{
	if (w->n + len <= w->cap && len > 0)
		memcpy(w->out + w->n, p, len);
	w->n += len;
}

static void
packet_put_u8(struct packet_writer *w, uint8_t v)
{
	packet_put(w, &v, 1);
}

static void
packet_put_u16(struct packet_writer *w, uint16_t v)
{
	uint8_t	b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	packet_put(w, b, 2);
}

static void
packet_put_str(struct packet_writer *w, const uint8_t *p, size_t len)
{
	packet_put_u16(w, (uint16_t)len);
	packet_put(w, p, len);
}

size_t
mqtt_varint_encode(uint8_t *out, uint32_t v)
{
	size_t	n = 0;

	do {
		uint8_t b = v & 0x7f;

		v >>= 7;
		if (v > 0)
			b |= 0x80;
		out[n++] = b;
	} while (v > 0 && n < 4);
	return n;
}

static void
packet_put_fixed(struct packet_writer *w, uint8_t type, uint8_t flags,
    size_t remaining)
{
	uint8_t	vb[4];
	size_t	n;

	packet_put_u8(w, (uint8_t)(type << 4 | (flags & 0x0f)));
	n = mqtt_varint_encode(vb, (uint32_t)remaining);
	packet_put(w, vb, n);
}

size_t
mqtt_encode_connect(uint8_t *out, size_t cap, const struct mqtt_connect *c)
{
	struct packet_writer	w = { out, cap, 0 };
	size_t			rl;
	uint8_t			flags = 0;
	bool			v31 = c->level == MQTT_PROTO_31;

	rl = 2 + (v31 ? 6 : 4) + 1 + 1 + 2 + 2 + c->client_id.len;
	if (c->will)
		rl += 2 + c->will_topic.len + 2 + c->will_payload.len;
	if (c->has_username)
		rl += 2 + c->username.len;
	if (c->has_password)
		rl += 2 + c->password.len;
	flags = (uint8_t)((c->clean ? 0x02 : 0) | (c->will ? 0x04 : 0) |
	    (c->will_qos << 3) | (c->will_retain ? 0x20 : 0) |
	    (c->has_password ? 0x40 : 0) | (c->has_username ? 0x80 : 0));
	packet_put_fixed(&w, MQTT_CONNECT, 0, rl);
	if (v31)
		packet_put_str(&w, (const uint8_t *)"MQIsdp", 6);
	else
		packet_put_str(&w, (const uint8_t *)"MQTT", 4);
	packet_put_u8(&w, c->level);
	packet_put_u8(&w, flags);
	packet_put_u16(&w, c->keepalive);
	packet_put_str(&w, c->client_id.p, c->client_id.len);
	if (c->will) {
		packet_put_str(&w, c->will_topic.p, c->will_topic.len);
		packet_put_str(&w, c->will_payload.p, c->will_payload.len);
	}
	if (c->has_username)
		packet_put_str(&w, c->username.p, c->username.len);
	if (c->has_password)
		packet_put_str(&w, c->password.p, c->password.len);
	return w.n;
}

size_t
mqtt_encode_connack(uint8_t *out, size_t cap, bool session_present,
    uint8_t rc)
{
	struct packet_writer	w = { out, cap, 0 };

	packet_put_fixed(&w, MQTT_CONNACK, 0, 2);
	packet_put_u8(&w, session_present ? 1 : 0);
	packet_put_u8(&w, rc);
	return w.n;
}

size_t
mqtt_encode_publish_head(uint8_t *out, size_t cap, bool dup, uint8_t qos,
    bool retain, const uint8_t *topic, size_t topic_len, uint16_t id,
    size_t payload_len)
{
	struct packet_writer	w = { out, cap, 0 };
	size_t			rl;
	uint8_t			flags;

	rl = 2 + topic_len + (qos > 0 ? 2 : 0) + payload_len;
	flags = (uint8_t)((dup ? 0x08 : 0) | qos << 1 | (retain ? 1 : 0));
	packet_put_fixed(&w, MQTT_PUBLISH, flags, rl);
	packet_put_str(&w, topic, topic_len);
	if (qos > 0)
		packet_put_u16(&w, id);
	return w.n;
}

size_t
mqtt_encode_publish(uint8_t *out, size_t cap, const struct mqtt_publish *p)
{
	struct packet_writer	w = { out, cap, 0 };

	w.n = mqtt_encode_publish_head(out, cap, p->dup, p->qos, p->retain,
	    p->topic.p, p->topic.len, p->id, p->payload.len);
	packet_put(&w, p->payload.p, p->payload.len);
	return w.n;
}

size_t
mqtt_encode_ack(uint8_t *out, size_t cap, uint8_t type, uint16_t id)
{
	struct packet_writer	w = { out, cap, 0 };

	packet_put_fixed(&w, type, type == MQTT_PUBREL ? 0x02 : 0, 2);
	packet_put_u16(&w, id);
	return w.n;
}

size_t
mqtt_encode_subscribe(uint8_t *out, size_t cap, uint8_t type,
    const struct mqtt_subscribe *s)
{
	struct packet_writer	w = { out, cap, 0 };
	size_t			rl = 2, i;
	bool			sub = type == MQTT_SUBSCRIBE;

	for (i = 0; i < s->ntopics; i++)
		rl += 2 + s->topics[i].filter.len + (sub ? 1 : 0);
	packet_put_fixed(&w, type, 0x02, rl);
	packet_put_u16(&w, s->id);
	for (i = 0; i < s->ntopics; i++) {
		packet_put_str(&w, s->topics[i].filter.p,
		    s->topics[i].filter.len);
		if (sub)
			packet_put_u8(&w, s->topics[i].qos);
	}
	return w.n;
}

size_t
mqtt_encode_suback(uint8_t *out, size_t cap, uint16_t id,
    const uint8_t *codes, size_t ncodes)
{
	struct packet_writer	w = { out, cap, 0 };

	packet_put_fixed(&w, MQTT_SUBACK, 0, 2 + ncodes);
	packet_put_u16(&w, id);
	packet_put(&w, codes, ncodes);
	return w.n;
}

size_t
mqtt_encode_empty(uint8_t *out, size_t cap, uint8_t type)
{
	struct packet_writer	w = { out, cap, 0 };

	packet_put_fixed(&w, type, 0, 0);
	return w.n;
}
