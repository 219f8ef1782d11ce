/*
 * The MQTT 3.1/3.1.1/5.0 codec. Every normative statement about the shape
 * of a packet that a receiver must check is checked here; what depends on
 * state (first packet, second CONNECT, auth, topic alias maximum) is the
 * broker's business.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/event.h"
#include "gateway/xmalloc.h"
#include "lib/mqtt/packet.h"

#define PACKET_NELEM(a)	(sizeof(a) / sizeof((a)[0]))

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
	case MQTT_E_FILTER:
		return "invalid topic filter";
	case MQTT_E_VARINT:
		return "bad variable byte integer";
	case MQTT_E_PROP_LENGTH:
		return "bad property length";
	case MQTT_E_PROP_UNKNOWN:
		return "unknown property";
	case MQTT_E_PROP_NOT_ALLOWED:
		return "property not allowed on this packet";
	case MQTT_E_PROP_DUPLICATE:
		return "duplicate property";
	case MQTT_E_PROP_VALUE:
		return "property value not allowed";
	case MQTT_E_TOPIC_ALIAS:
		return "invalid topic alias";
	case MQTT_E_REASON:
		return "reason code not allowed on this packet";
	case MQTT_E_SUBOPTS:
		return "bad subscription options";
	}
	return "unknown error";
}

uint8_t
mqtt_err_reason(int err)
{
	switch (err) {
	case MQTT_OK:
		return MQTT_RC_SUCCESS;
	case MQTT_E_PROTOCOL:
	case MQTT_E_PROP_DUPLICATE:
	case MQTT_E_PROP_VALUE:
	case MQTT_E_REASON:
		return MQTT_RC_PROTOCOL_ERROR;
	case MQTT_E_VERSION:
		return MQTT_RC_UNSUPPORTED_VERSION;
	case MQTT_E_TOO_LARGE:
		return MQTT_RC_PACKET_TOO_LARGE;
	case MQTT_E_TOPIC_ALIAS:
		return MQTT_RC_TOPIC_ALIAS_INVALID;
	default:
		/* MALFORMED, UTF8, VARINT, PROP_*, SUBOPTS; and a topic name
		 * or filter against its syntax (wildcards in a name, '#' not
		 * last...): malformed, not 0x90/0x8F, which say "correctly
		 * formed, but not accepted", as Mosquitto answers too */
		return MQTT_RC_MALFORMED;
	}
}

/* The reason codes each packet may carry (5.0 section 2.4). */
static const uint8_t packet_rc_connack[] = { 0x00, 0x80, 0x81, 0x82, 0x83,
    0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99,
    0x9a, 0x9b, 0x9c, 0x9d, 0x9f };
static const uint8_t packet_rc_puback[] = { 0x00, 0x10, 0x80, 0x83, 0x87,
    0x90, 0x91, 0x97, 0x99 };
static const uint8_t packet_rc_pubrel[] = { 0x00, 0x92 };
static const uint8_t packet_rc_suback[] = { 0x00, 0x01, 0x02, 0x80, 0x83,
    0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2 };
static const uint8_t packet_rc_unsuback[] = { 0x00, 0x11, 0x80, 0x83, 0x87,
    0x8f, 0x91 };
static const uint8_t packet_rc_disconnect[] = { 0x00, 0x04, 0x80, 0x81,
    0x82, 0x83, 0x87, 0x89, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94,
    0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0,
    0xa1, 0xa2 };
static const uint8_t packet_rc_auth[] = { 0x00, 0x18, 0x19 };

bool
mqtt_reason_is_valid(uint8_t type, uint8_t rc)
{
	const uint8_t	*v;
	size_t		 n, i;

	switch (type) {
	case MQTT_CONNACK:
		v = packet_rc_connack;
		n = sizeof packet_rc_connack;
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
		v = packet_rc_puback;
		n = sizeof packet_rc_puback;
		break;
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		v = packet_rc_pubrel;
		n = sizeof packet_rc_pubrel;
		break;
	case MQTT_SUBACK:
		v = packet_rc_suback;
		n = sizeof packet_rc_suback;
		break;
	case MQTT_UNSUBACK:
		v = packet_rc_unsuback;
		n = sizeof packet_rc_unsuback;
		break;
	case MQTT_DISCONNECT:
		v = packet_rc_disconnect;
		n = sizeof packet_rc_disconnect;
		break;
	case MQTT_AUTH:
		v = packet_rc_auth;
		n = sizeof packet_rc_auth;
		break;
	default:
		return false;
	}
	for (i = 0; i < n; i++)
		if (v[i] == rc)
			return true;
	return false;
}

/* ---- properties ------------------------------------------------------ */

enum packet_ptype {
	PT_NONE = 0,
	PT_BYTE,
	PT_U16,
	PT_U32,
	PT_VARINT,
	PT_STR,
	PT_BIN,
	PT_PAIR,
};

#define T(x)	(1u << MQTT_##x)
#define WILL	(1u << MQTT_PROPS_WILL)
#define ACKS	(T(PUBACK) | T(PUBREC) | T(PUBREL) | T(PUBCOMP))

/*
 * The properties table (5.0 section 2.2.2.2): the data type, the packets
 * that may carry each one, its name, and where struct mqtt_props keeps it.
 * bool01: the value is 0 or 1, anything else is a protocol error.
 */
static const struct packet_propdef {
	uint8_t		 type;
	uint8_t		 bool01;
	uint16_t	 allowed;
	const char	*name;
	size_t		 off;
} packet_props[] = {
#define P(id, ty, b, allow, nm, field) [id] = { ty, b, allow, nm, \
	offsetof(struct mqtt_props, field) }
	P(0x01, PT_BYTE, 1, T(PUBLISH) | WILL, "payload-format",
	    payload_format),
	P(0x02, PT_U32, 0, T(PUBLISH) | WILL, "message-expiry",
	    message_expiry),
	P(0x03, PT_STR, 0, T(PUBLISH) | WILL, "content-type", content_type),
	P(0x08, PT_STR, 0, T(PUBLISH) | WILL, "response-topic",
	    response_topic),
	P(0x09, PT_BIN, 0, T(PUBLISH) | WILL, "correlation-data",
	    correlation_data),
	P(0x0b, PT_VARINT, 0, T(PUBLISH) | T(SUBSCRIBE), "subscription-id",
	    subid),
	P(0x11, PT_U32, 0, T(CONNECT) | T(CONNACK) | T(DISCONNECT),
	    "session-expiry", session_expiry),
	P(0x12, PT_STR, 0, T(CONNACK), "assigned-client-id",
	    assigned_client_id),
	P(0x13, PT_U16, 0, T(CONNACK), "server-keepalive", server_keepalive),
	P(0x15, PT_STR, 0, T(CONNECT) | T(CONNACK) | T(AUTH), "auth-method",
	    auth_method),
	P(0x16, PT_BIN, 0, T(CONNECT) | T(CONNACK) | T(AUTH), "auth-data",
	    auth_data),
	P(0x17, PT_BYTE, 1, T(CONNECT), "request-problem-info",
	    request_problem_info),
	P(0x18, PT_U32, 0, WILL, "will-delay", will_delay),
	P(0x19, PT_BYTE, 1, T(CONNECT), "request-response-info",
	    request_response_info),
	P(0x1a, PT_STR, 0, T(CONNACK), "response-info", response_info),
	P(0x1c, PT_STR, 0, T(CONNACK) | T(DISCONNECT), "server-reference",
	    server_reference),
	P(0x1f, PT_STR, 0, T(CONNACK) | ACKS | T(SUBACK) | T(UNSUBACK) |
	    T(DISCONNECT) | T(AUTH), "reason-string", reason_string),
	P(0x21, PT_U16, 0, T(CONNECT) | T(CONNACK), "receive-maximum",
	    receive_maximum),
	P(0x22, PT_U16, 0, T(CONNECT) | T(CONNACK), "topic-alias-maximum",
	    topic_alias_maximum),
	P(0x23, PT_U16, 0, T(PUBLISH), "topic-alias", topic_alias),
	P(0x24, PT_BYTE, 1, T(CONNACK), "maximum-qos", maximum_qos),
	P(0x25, PT_BYTE, 1, T(CONNACK), "retain-available",
	    retain_available),
	P(0x26, PT_PAIR, 0, T(CONNECT) | T(CONNACK) | T(PUBLISH) | WILL |
	    ACKS | T(SUBSCRIBE) | T(SUBACK) | T(UNSUBSCRIBE) | T(UNSUBACK) |
	    T(DISCONNECT) | T(AUTH), "user-property", nuser),
	P(0x27, PT_U32, 0, T(CONNECT) | T(CONNACK), "maximum-packet-size",
	    maximum_packet_size),
	P(0x28, PT_BYTE, 1, T(CONNACK), "wildcard-available",
	    wildcard_available),
	P(0x29, PT_BYTE, 1, T(CONNACK), "subid-available", subid_available),
	P(0x2a, PT_BYTE, 1, T(CONNACK), "shared-available",
	    shared_available),
#undef P
};

static const struct packet_propdef *
packet_propdef(unsigned id)
{
	if (id >= PACKET_NELEM(packet_props) || packet_props[id].type == 0)
		return NULL;
	return &packet_props[id];
}

const char *
mqtt_prop_name(unsigned id)
{
	const struct packet_propdef *d = packet_propdef(id);

	return d != NULL ? d->name : "unknown";
}

/*
 * A variable byte integer at p[*off..len): MQTT_E_VARINT when it runs past
 * four bytes, 1 when cut short, 0 with *v.
 */
static int
packet_varint(const uint8_t *p, size_t len, size_t *off, uint32_t *v)
{
	uint32_t	x = 0;
	size_t		i;

	for (i = 0; i < 4; i++) {
		if (*off + i >= len)
			return 1;
		x |= (uint32_t)(p[*off + i] & 0x7f) << (7 * i);
		if ((p[*off + i] & 0x80) == 0) {
			*off += i + 1;
			*v = x;
			return 0;
		}
	}
	return MQTT_E_VARINT;
}

static int
packet_prop_bin(const uint8_t *p, size_t len, size_t *off,
    struct mqtt_str *s)
{
	size_t	n;

	if (len - *off < 2)
		return MQTT_E_PROP_LENGTH;
	n = (size_t)p[*off] << 8 | p[*off + 1];
	if (len - *off - 2 < n)
		return MQTT_E_PROP_LENGTH;
	s->p = p + *off + 2;
	s->len = n;
	*off += 2 + n;
	return 0;
}

/* One property at p[*off..len): 1 with *prop, 0 at the end, or an error.
 * Strings are not checked here. */
static int
packet_prop_read(const uint8_t *p, size_t len, size_t *off,
    struct mqtt_prop *prop)
{
	const struct packet_propdef	*d;
	size_t				 o = *off;
	int				 rc;

	if (o >= len)
		return 0;
	memset(prop, 0, sizeof *prop);
	prop->id = p[o++];
	/* identifiers are varints, all one byte long in 5.0 */
	if ((d = packet_propdef(prop->id)) == NULL)
		return MQTT_E_PROP_UNKNOWN;
	switch (d->type) {
	case PT_BYTE:
		if (len - o < 1)
			return MQTT_E_PROP_LENGTH;
		prop->num = p[o++];
		break;
	case PT_U16:
		if (len - o < 2)
			return MQTT_E_PROP_LENGTH;
		prop->num = (uint32_t)p[o] << 8 | p[o + 1];
		o += 2;
		break;
	case PT_U32:
		if (len - o < 4)
			return MQTT_E_PROP_LENGTH;
		prop->num = (uint32_t)p[o] << 24 | (uint32_t)p[o + 1] << 16 |
		    (uint32_t)p[o + 2] << 8 | p[o + 3];
		o += 4;
		break;
	case PT_VARINT:
		if ((rc = packet_varint(p, len, &o, &prop->num)) != 0)
			return rc > 0 ? MQTT_E_PROP_LENGTH : rc;
		break;
	case PT_STR:
	case PT_BIN:
		if ((rc = packet_prop_bin(p, len, &o, &prop->str)) != 0)
			return rc;
		break;
	case PT_PAIR:
		if ((rc = packet_prop_bin(p, len, &o, &prop->str)) != 0 ||
		    (rc = packet_prop_bin(p, len, &o, &prop->val)) != 0)
			return rc;
		break;
	}
	*off = o;
	return 1;
}

int
mqtt_prop_next(const struct mqtt_str *raw, size_t *off,
    struct mqtt_prop *prop)
{
	int	rc = packet_prop_read(raw->p, raw->len, off, prop);

	return rc < 0 ? MQTT_E_PROP_LENGTH : rc;
}

int
mqtt_prop_next_user(const struct mqtt_str *raw, size_t *off,
    struct mqtt_prop *prop)
{
	int	rc;

	while ((rc = packet_prop_read(raw->p, raw->len, off, prop)) > 0)
		if (prop->id == MQTT_PROP_USER)
			return 1;
	return 0;
}

int
mqtt_props_decode(const uint8_t *p, size_t len, int ptype,
    struct mqtt_props *out)
{
	const struct packet_propdef	*d;
	struct mqtt_prop		 prop;
	size_t				 off = 0;
	uint64_t			 bit;
	uint8_t				*f;
	int				 rc;

	memset(out, 0, sizeof *out);
	out->raw.p = p;
	out->raw.len = len;
	while ((rc = packet_prop_read(p, len, &off, &prop)) > 0) {
		d = &packet_props[prop.id];
		bit = MQTT_PROP_BIT(prop.id);
		if ((d->allowed & (1u << ptype)) == 0)
			return MQTT_E_PROP_NOT_ALLOWED;
		/* only user properties repeat, and subscription
		 * identifiers of a PUBLISH (one per matching subscription) */
		if ((out->present & bit) && prop.id != MQTT_PROP_USER &&
		    !(prop.id == MQTT_PROP_SUBSCRIPTION_ID &&
		    ptype == MQTT_PUBLISH))
			return MQTT_E_PROP_DUPLICATE;
		if (d->type == PT_STR || d->type == PT_PAIR) {
			if (!mqtt_string_is_valid(prop.str.p, prop.str.len))
				return MQTT_E_UTF8;
		}
		if (d->type == PT_PAIR &&
		    !mqtt_string_is_valid(prop.val.p, prop.val.len))
			return MQTT_E_UTF8;
		if (d->bool01 && prop.num > 1)
			return MQTT_E_PROP_VALUE;
		switch (prop.id) {
		case MQTT_PROP_TOPIC_ALIAS:
			if (prop.num == 0)
				return MQTT_E_TOPIC_ALIAS;
			break;
		case MQTT_PROP_SUBSCRIPTION_ID:
		case MQTT_PROP_RECEIVE_MAXIMUM:
		case MQTT_PROP_MAXIMUM_PACKET_SIZE:
			if (prop.num == 0)
				return MQTT_E_PROP_VALUE;
			break;
		case MQTT_PROP_RESPONSE_TOPIC:
			/* a topic name, no wildcards [MQTT-3.3.2-14] */
			if (!mqtt_topic_is_valid(prop.str.p, prop.str.len))
				return MQTT_E_PROP_VALUE;
			break;
		}
		f = (uint8_t *)out + d->off;
		switch (d->type) {
		case PT_BYTE:
			*f = (uint8_t)prop.num;
			break;
		case PT_U16:
			*(uint16_t *)(void *)f = (uint16_t)prop.num;
			break;
		case PT_U32:
			*(uint32_t *)(void *)f = prop.num;
			break;
		case PT_VARINT:		/* the subscription identifier */
			if (out->nsubid++ == 0)
				out->subid = prop.num;
			break;
		case PT_STR:
		case PT_BIN:
			*(struct mqtt_str *)(void *)f = prop.str;
			break;
		case PT_PAIR:
			out->nuser++;
			break;
		}
		out->present |= bit;
	}
	if (rc < 0)
		return rc;
	/* [MQTT-3.1.2.11.10], 3.2.2.3.18, 3.15.2.2.3 */
	if (mqtt_props_has(out, MQTT_PROP_AUTH_DATA) &&
	    !mqtt_props_has(out, MQTT_PROP_AUTH_METHOD))
		return MQTT_E_PROTOCOL;
	return 0;
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

/* A property length and the properties of a packet of type ptype. */
static int
packet_read_props(struct packet_reader *r, int ptype, struct mqtt_props *pr)
{
	uint32_t	n;
	int		rc;

	rc = packet_varint(r->p, r->len, &r->off, &n);
	if (rc != 0)
		return MQTT_E_VARINT;
	if (n > packet_left(r))
		return MQTT_E_PROP_LENGTH;
	rc = mqtt_props_decode(r->p + r->off, n, ptype, pr);
	r->off += n;
	return rc;
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

/* One level at a time, with no tree: the ACL, the event log's filters
 * and the bridges' topic lines all ask this. */
bool
mqtt_topic_matches(const char *f, const char *t, size_t tlen)
{
	const char	*te = t + tlen, *fe, *le;
	size_t		 flen, llen;

	/* [MQTT-4.7.2-1]: wildcards first do not match "$" topics */
	if (tlen > 0 && t[0] == '$' && (f[0] == '+' || f[0] == '#'))
		return false;
	for (;;) {
		fe = strchr(f, '/');
		flen = fe ? (size_t)(fe - f) : strlen(f);
		le = memchr(t, '/', (size_t)(te - t));
		llen = le ? (size_t)(le - t) : (size_t)(te - t);
		if (flen == 1 && f[0] == '#')
			return true;
		if (!(flen == 1 && f[0] == '+') &&
		    (flen != llen || memcmp(f, t, llen) != 0))
			return false;
		if (fe == NULL)
			return le == NULL;
		if (le == NULL)		/* "a/#" matches "a" */
			return strcmp(fe + 1, "#") == 0;
		f = fe + 1;
		t = le + 1;
	}
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
mqtt_filter_shared(const uint8_t *s, size_t len, struct mqtt_str *group,
    struct mqtt_str *filter)
{
	const uint8_t	*slash;
	size_t		 glen;

	if (len < 7 || memcmp(s, "$share/", 7) != 0)
		return 0;
	slash = memchr(s + 7, '/', len - 7);
	if (slash == NULL)
		return -1;
	glen = (size_t)(slash - (s + 7));
	/* [MQTT-4.8.2-1], [MQTT-4.8.2-2]: a name of at least one character
	 * without wildcards, then '/' and a filter */
	if (glen == 0 || memchr(s + 7, '+', glen) != NULL ||
	    memchr(s + 7, '#', glen) != NULL)
		return -1;
	if (!mqtt_filter_is_valid(slash + 1, len - 7 - glen - 1))
		return -1;
	if (group != NULL) {
		group->p = s + 7;
		group->len = glen;
	}
	if (filter != NULL) {
		filter->p = slash + 1;
		filter->len = len - 7 - glen - 1;
	}
	return 1;
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
	/* A Mosquitto bridge (try_private, on by default there) sets the
	 * top bit of the level; Mosquitto's broker takes it, so do we. */
	c->bridge = (c->level & 0x80) != 0;
	c->level &= 0x7f;
	if (c->proto_name.len == 4 && memcmp(c->proto_name.p, "MQTT", 4) == 0) {
		if (c->level != MQTT_PROTO_311 && c->level != MQTT_PROTO_5)
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
	/* 5.0 allows a password without a user name (3.1.2.9) */
	if (c->level == MQTT_PROTO_311 && c->has_password && !c->has_username)
		return MQTT_E_MALFORMED;	/* [MQTT-3.1.2-22] */
	if (c->level == MQTT_PROTO_5 &&
	    (rc = packet_read_props(r, MQTT_CONNECT, &c->props)) != 0)
		return rc;

	if ((rc = packet_read_str(r, &c->client_id)) != 0)
		return rc;
	if (c->will) {
		if (c->level == MQTT_PROTO_5 && (rc = packet_read_props(r,
		    MQTT_PROPS_WILL, &c->will_props)) != 0)
			return rc;
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
packet_decode_connack(struct packet_reader *r, int level,
    struct mqtt_connack *a)
{
	uint8_t	f;
	int	rc;

	if (packet_read_u8(r, &f) != 0 || packet_read_u8(r, &a->rc) != 0)
		return MQTT_E_MALFORMED;
	if ((f & 0xfe) != 0)		/* [MQTT-3.2.2-1] */
		return MQTT_E_MALFORMED;
	a->session_present = (f & 0x01) != 0;
	if (level == MQTT_PROTO_5) {
		if ((rc = packet_read_props(r, MQTT_CONNACK, &a->props)) != 0)
			return rc;
		if (!mqtt_reason_is_valid(MQTT_CONNACK, a->rc))
			return MQTT_E_REASON;
		if (a->rc != 0 && a->session_present)
			return MQTT_E_PROTOCOL;	/* [MQTT-3.2.2-6] */
	}
	return packet_left(r) == 0 ? 0 : MQTT_E_MALFORMED;
}

static int
packet_decode_publish(struct packet_reader *r, int level, uint8_t flags,
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
	/* 5.0: an empty topic name stands for its topic alias */
	if ((level != MQTT_PROTO_5 || p->topic.len > 0) &&
	    !mqtt_topic_is_valid(p->topic.p, p->topic.len))
		return MQTT_E_TOPIC;	/* [MQTT-3.3.2-2] */
	if (p->qos > 0) {
		if (packet_read_u16(r, &p->id) != 0)
			return MQTT_E_MALFORMED;
		/* [MQTT-2.2.1-3]: a protocol error (0x82), as Mosquitto
		 * says for a PUBLISH (a SUBSCRIBE's 0 is malformed there) */
		if (p->id == 0)
			return MQTT_E_PROTOCOL;
	}
	if (level == MQTT_PROTO_5) {
		if ((rc = packet_read_props(r, MQTT_PUBLISH, &p->props)) != 0)
			return rc;
		/* 3.3.2.3.4: no topic name and no alias */
		if (p->topic.len == 0 &&
		    !mqtt_props_has(&p->props, MQTT_PROP_TOPIC_ALIAS))
			return MQTT_E_PROTOCOL;
	}
	p->payload.p = r->p + r->off;
	p->payload.len = packet_left(r);
	r->off = r->len;
	return 0;
}

static int
packet_decode_ack(struct packet_reader *r, int level, uint8_t type,
    struct mqtt_ack *a)
{
	int	rc;

	if (packet_read_u16(r, &a->id) != 0)
		return MQTT_E_MALFORMED;
	if (a->id == 0)
		return MQTT_E_MALFORMED;
	/* 5.0: reason and properties may be left out (3.4.2.1) */
	if (level == MQTT_PROTO_5 && packet_left(r) > 0) {
		packet_read_u8(r, &a->reason);
		if (packet_left(r) > 0 &&
		    (rc = packet_read_props(r, type, &a->props)) != 0)
			return rc;
		if (!mqtt_reason_is_valid(type, a->reason))
			return MQTT_E_REASON;
	}
	return packet_left(r) == 0 ? 0 : MQTT_E_MALFORMED;
}

/* DISCONNECT and AUTH in 5.0: an optional reason, optional properties. */
static int
packet_decode_reason(struct packet_reader *r, uint8_t type,
    struct mqtt_ack *a)
{
	int	rc;

	if (packet_left(r) > 0) {
		packet_read_u8(r, &a->reason);
		if (packet_left(r) > 0 &&
		    (rc = packet_read_props(r, type, &a->props)) != 0)
			return rc;
		if (!mqtt_reason_is_valid(type, a->reason))
			return MQTT_E_REASON;
	}
	return packet_left(r) == 0 ? 0 : MQTT_E_MALFORMED;
}

/* One SUBSCRIBE options byte (5.0 section 3.8.3.1; 3.1.1: QoS only). */
static int
packet_suboptions(int level, uint8_t o, const struct mqtt_str *f,
    struct mqtt_topic_req *t)
{
	int	shared;

	if (level != MQTT_PROTO_5) {
		if (o > 2)	/* [MQTT-3-8.3-4]: reserved bits */
			return MQTT_E_MALFORMED;
		t->qos = o;
		return 0;
	}
	if ((o & 0xc0) != 0 || (o & 0x03) == 3)	/* [MQTT-3.8.3-5] */
		return MQTT_E_SUBOPTS;
	t->qos = o & 0x03;
	t->no_local = (o & 0x04) != 0;
	t->retain_as_published = (o & 0x08) != 0;
	t->retain_handling = (o >> 4) & 0x03;
	if (t->retain_handling == 3)
		return MQTT_E_PROTOCOL;
	shared = mqtt_filter_shared(f->p, f->len, NULL, NULL);
	if (shared < 0)
		return MQTT_E_FILTER;
	if (shared > 0 && t->no_local)	/* [MQTT-3.8.3-4] */
		return MQTT_E_PROTOCOL;
	return 0;
}

static int
packet_decode_subscribe(struct packet_reader *r, int level, uint8_t type,
    struct mqtt_subscribe *s)
{
	struct mqtt_topic_req	 t;
	size_t			 n = 0, cap = 0, save;
	struct mqtt_str		 f;
	uint8_t			 q = 0;
	bool			 sub = type == MQTT_SUBSCRIBE;
	int			 rc;

	if (packet_read_u16(r, &s->id) != 0)
		return MQTT_E_MALFORMED;
	if (s->id == 0)
		return MQTT_E_MALFORMED;
	if (level == MQTT_PROTO_5 &&
	    (rc = packet_read_props(r, type, &s->props)) != 0)
		return rc;
	if (packet_left(r) == 0)	/* [MQTT-3.8.3-3], [MQTT-3.10.3-2] */
		return MQTT_E_PROTOCOL;
	/* count first, so that a bad packet allocates nothing */
	save = r->off;
	while (packet_left(r) > 0) {
		if ((rc = packet_read_str(r, &f)) != 0)
			return rc;
		if (!mqtt_filter_is_valid(f.p, f.len))
			return MQTT_E_FILTER;
		if (sub) {
			if (packet_read_u8(r, &q) != 0)
				return MQTT_E_MALFORMED;
			if ((rc = packet_suboptions(level, q, &f, &t)) != 0)
				return rc;
		} else if (level == MQTT_PROTO_5 &&
		    mqtt_filter_shared(f.p, f.len, NULL, NULL) < 0)
			return MQTT_E_FILTER;
		cap++;
	}
	r->off = save;
	s->topics = fh_xcalloc(cap, sizeof *s->topics);
	while (n < cap) {
		packet_read_bin(r, &s->topics[n].filter);
		if (sub) {
			packet_read_u8(r, &q);
			packet_suboptions(level, q, &s->topics[n].filter,
			    &s->topics[n]);
		}
		n++;
	}
	s->ntopics = n;
	return 0;
}

static int
packet_decode_suback(struct packet_reader *r, int level, uint8_t type,
    struct mqtt_suback *s)
{
	size_t	i;
	int	rc;

	if (packet_read_u16(r, &s->id) != 0)
		return MQTT_E_MALFORMED;
	if (s->id == 0)
		return MQTT_E_MALFORMED;
	if (level != MQTT_PROTO_5 && type == MQTT_UNSUBACK)
		return packet_left(r) == 0 ? 0 : MQTT_E_MALFORMED;
	if (level == MQTT_PROTO_5 &&
	    (rc = packet_read_props(r, type, &s->props)) != 0)
		return rc;
	if (packet_left(r) == 0)
		return MQTT_E_MALFORMED;
	s->codes = r->p + r->off;
	s->ncodes = packet_left(r);
	for (i = 0; i < s->ncodes; i++) {
		if (level == MQTT_PROTO_5) {
			if (!mqtt_reason_is_valid(type, s->codes[i]))
				return MQTT_E_REASON;
		} else if (s->codes[i] > 2 &&
		    s->codes[i] != MQTT_SUBACK_FAILURE)
			return MQTT_E_MALFORMED;
	}
	r->off = r->len;
	return 0;
}

/* The flags each type must carry (section 2.2.2); -1: any. */
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
	/* AUTH is reserved before 5.0 */
	if (type == 0 || (type == MQTT_AUTH && level != MQTT_PROTO_5))
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
		rc = packet_decode_connack(&r, level, &pkt->u.connack);
		break;
	case MQTT_PUBLISH:
		rc = packet_decode_publish(&r, level, flags, &pkt->u.publish);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		rc = packet_decode_ack(&r, level, type, &pkt->u.ack);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		rc = packet_decode_subscribe(&r, level, type,
		    &pkt->u.subscribe);
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		rc = packet_decode_suback(&r, level, type, &pkt->u.suback);
		break;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		if (level == MQTT_PROTO_5)
			rc = packet_decode_reason(&r, type, &pkt->u.ack);
		else
			rc = len == 0 ? 0 : MQTT_E_MALFORMED;
		break;
	default:	/* PINGREQ, PINGRESP */
		rc = len == 0 ? 0 : MQTT_E_MALFORMED;
		break;
	}
	if (rc != 0) {
		if (type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE)
			free(pkt->u.subscribe.topics);
		memset(&pkt->u, 0, sizeof pkt->u);
	}
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
packet_put_u32(struct packet_writer *w, uint32_t v)
{
	uint8_t	b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
	    (uint8_t)(v >> 8), (uint8_t)v };

	packet_put(w, b, 4);
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

size_t
mqtt_varint_size(uint32_t v)
{
	if (v < 128)
		return 1;
	if (v < 16384)
		return 2;
	if (v < 2097152)
		return 3;
	return 4;
}

static void
packet_put_varint(struct packet_writer *w, uint32_t v)
{
	uint8_t	vb[4];

	packet_put(w, vb, mqtt_varint_encode(vb, v));
}

/* A property length and the property bytes. */
static void
packet_put_props(struct packet_writer *w, const uint8_t *p, size_t len)
{
	packet_put_varint(w, (uint32_t)len);
	packet_put(w, p, len);
}

static size_t
packet_props_size(size_t len)
{
	return mqtt_varint_size((uint32_t)len) + len;
}

static void
packet_put_fixed(struct packet_writer *w, uint8_t type, uint8_t flags,
    size_t remaining)
{
	packet_put_u8(w, (uint8_t)(type << 4 | (flags & 0x0f)));
	packet_put_varint(w, (uint32_t)remaining);
}

/* One property; an unknown identifier writes nothing. */
static void
packet_put_prop(struct packet_writer *w, const struct mqtt_prop *p)
{
	const struct packet_propdef *d = packet_propdef(p->id);

	if (d == NULL)
		return;
	packet_put_u8(w, p->id);
	switch (d->type) {
	case PT_BYTE:
		packet_put_u8(w, (uint8_t)p->num);
		break;
	case PT_U16:
		packet_put_u16(w, (uint16_t)p->num);
		break;
	case PT_U32:
		packet_put_u32(w, p->num);
		break;
	case PT_VARINT:
		packet_put_varint(w, p->num);
		break;
	case PT_STR:
	case PT_BIN:
		packet_put_str(w, p->str.p, p->str.len);
		break;
	case PT_PAIR:
		packet_put_str(w, p->str.p, p->str.len);
		packet_put_str(w, p->val.p, p->val.len);
		break;
	}
}

size_t
mqtt_props_write(uint8_t *out, size_t cap, const struct mqtt_prop *list,
    size_t n)
{
	struct packet_writer	w = { out, cap, 0 };
	size_t			i;

	for (i = 0; i < n; i++)
		packet_put_prop(&w, &list[i]);
	return w.n;
}

size_t
mqtt_props_encode(uint8_t *out, size_t cap, const struct mqtt_props *p)
{
	struct packet_writer		 w = { out, cap, 0 };
	const struct packet_propdef	*d;
	struct mqtt_prop		 prop;
	const uint8_t			*f;
	size_t				 off = 0;
	unsigned			 id;

	for (id = 1; id < PACKET_NELEM(packet_props); id++) {
		if ((d = packet_propdef(id)) == NULL || id == MQTT_PROP_USER ||
		    !mqtt_props_has(p, id))
			continue;
		memset(&prop, 0, sizeof prop);
		prop.id = (uint8_t)id;
		f = (const uint8_t *)p + d->off;
		switch (d->type) {
		case PT_BYTE:
			prop.num = *f;
			break;
		case PT_U16:
			prop.num = *(const uint16_t *)(const void *)f;
			break;
		case PT_U32:
		case PT_VARINT:
			prop.num = *(const uint32_t *)(const void *)f;
			break;
		default:
			prop.str = *(const struct mqtt_str *)(const void *)f;
			break;
		}
		packet_put_prop(&w, &prop);
	}
	if (p->raw.p != NULL)
		while (mqtt_prop_next_user(&p->raw, &off, &prop) > 0)
			packet_put_prop(&w, &prop);
	return w.n;
}

size_t
mqtt_props_filter(uint8_t *out, size_t cap, const struct mqtt_str *raw,
    uint64_t drop)
{
	struct packet_writer	w = { out, cap, 0 };
	struct mqtt_prop	prop;
	size_t			off = 0, start;

	for (;;) {
		start = off;
		if (packet_prop_read(raw->p, raw->len, &off, &prop) <= 0)
			break;
		if ((drop & MQTT_PROP_BIT(prop.id)) == 0)
			packet_put(&w, raw->p + start, off - start);
	}
	return w.n;
}

size_t
mqtt_encode_connect(uint8_t *out, size_t cap, const struct mqtt_connect *c)
{
	struct packet_writer	w = { out, cap, 0 };
	size_t			rl;
	uint8_t			flags = 0;
	bool			v31 = c->level == MQTT_PROTO_31;
	bool			v5 = c->level == MQTT_PROTO_5;

	rl = 2 + (v31 ? 6 : 4) + 1 + 1 + 2 + 2 + c->client_id.len;
	if (v5)
		rl += packet_props_size(c->props.raw.len);
	if (c->will) {
		rl += 2 + c->will_topic.len + 2 + c->will_payload.len;
		if (v5)
			rl += packet_props_size(c->will_props.raw.len);
	}
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
	packet_put_u8(&w, (uint8_t)(c->level | (c->bridge ? 0x80 : 0)));
	packet_put_u8(&w, flags);
	packet_put_u16(&w, c->keepalive);
	if (v5)
		packet_put_props(&w, c->props.raw.p, c->props.raw.len);
	packet_put_str(&w, c->client_id.p, c->client_id.len);
	if (c->will) {
		if (v5)
			packet_put_props(&w, c->will_props.raw.p,
			    c->will_props.raw.len);
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
mqtt_encode_connack5(uint8_t *out, size_t cap, bool session_present,
    uint8_t reason, const uint8_t *props, size_t plen)
{
	struct packet_writer	w = { out, cap, 0 };

	packet_put_fixed(&w, MQTT_CONNACK, 0, 2 + packet_props_size(plen));
	packet_put_u8(&w, session_present ? 1 : 0);
	packet_put_u8(&w, reason);
	packet_put_props(&w, props, plen);
	return w.n;
}

static size_t
packet_publish_head(uint8_t *out, size_t cap, bool dup, uint8_t qos,
    bool retain, const uint8_t *topic, size_t topic_len, uint16_t id,
    bool v5, const uint8_t *props, size_t plen, size_t payload_len)
{
	struct packet_writer	w = { out, cap, 0 };
	size_t			rl;
	uint8_t			flags;

	rl = 2 + topic_len + (qos > 0 ? 2 : 0) + payload_len;
	if (v5)
		rl += packet_props_size(plen);
	flags = (uint8_t)((dup ? 0x08 : 0) | qos << 1 | (retain ? 1 : 0));
	packet_put_fixed(&w, MQTT_PUBLISH, flags, rl);
	packet_put_str(&w, topic, topic_len);
	if (qos > 0)
		packet_put_u16(&w, id);
	if (v5)
		packet_put_props(&w, props, plen);
	return w.n;
}

size_t
mqtt_encode_publish_head(uint8_t *out, size_t cap, bool dup, uint8_t qos,
    bool retain, const uint8_t *topic, size_t topic_len, uint16_t id,
    size_t payload_len)
{
	return packet_publish_head(out, cap, dup, qos, retain, topic,
	    topic_len, id, false, NULL, 0, payload_len);
}

size_t
mqtt_encode_publish_head5(uint8_t *out, size_t cap, bool dup, uint8_t qos,
    bool retain, const uint8_t *topic, size_t topic_len, uint16_t id,
    const uint8_t *props, size_t plen, size_t payload_len)
{
	return packet_publish_head(out, cap, dup, qos, retain, topic,
	    topic_len, id, true, props, plen, payload_len);
}

size_t
mqtt_encode_publish(uint8_t *out, size_t cap, int level,
    const struct mqtt_publish *p)
{
	struct packet_writer	w = { out, cap, 0 };

	w.n = packet_publish_head(out, cap, p->dup, p->qos, p->retain,
	    p->topic.p, p->topic.len, p->id, level == MQTT_PROTO_5,
	    p->props.raw.p, p->props.raw.len, p->payload.len);
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
mqtt_encode_ack5(uint8_t *out, size_t cap, uint8_t type, uint16_t id,
    uint8_t reason, const uint8_t *props, size_t plen)
{
	struct packet_writer	w = { out, cap, 0 };
	size_t			rl = 2;

	if (plen > 0)
		rl += 1 + packet_props_size(plen);
	else if (reason != 0)
		rl += 1;
	packet_put_fixed(&w, type, type == MQTT_PUBREL ? 0x02 : 0, rl);
	packet_put_u16(&w, id);
	if (rl > 2)
		packet_put_u8(&w, reason);
	if (plen > 0)
		packet_put_props(&w, props, plen);
	return w.n;
}

size_t
mqtt_encode_subscribe(uint8_t *out, size_t cap, int level, uint8_t type,
    const struct mqtt_subscribe *s)
{
	struct packet_writer	 w = { out, cap, 0 };
	const struct mqtt_topic_req *t;
	size_t			 rl = 2, i;
	bool			 sub = type == MQTT_SUBSCRIBE;
	bool			 v5 = level == MQTT_PROTO_5;
	uint8_t			 o;

	if (v5)
		rl += packet_props_size(s->props.raw.len);
	for (i = 0; i < s->ntopics; i++)
		rl += 2 + s->topics[i].filter.len + (sub ? 1 : 0);
	packet_put_fixed(&w, type, 0x02, rl);
	packet_put_u16(&w, s->id);
	if (v5)
		packet_put_props(&w, s->props.raw.p, s->props.raw.len);
	for (i = 0; i < s->ntopics; i++) {
		t = &s->topics[i];
		packet_put_str(&w, t->filter.p, t->filter.len);
		if (!sub)
			continue;
		o = t->qos;
		if (v5)
			o |= (uint8_t)((t->no_local ? 0x04 : 0) |
			    (t->retain_as_published ? 0x08 : 0) |
			    (t->retain_handling & 0x03) << 4);
		packet_put_u8(&w, o);
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
mqtt_encode_suback5(uint8_t *out, size_t cap, uint8_t type, uint16_t id,
    const uint8_t *props, size_t plen, const uint8_t *codes, size_t ncodes)
{
	struct packet_writer	w = { out, cap, 0 };

	packet_put_fixed(&w, type, 0, 2 + packet_props_size(plen) + ncodes);
	packet_put_u16(&w, id);
	packet_put_props(&w, props, plen);
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

size_t
mqtt_encode_reason(uint8_t *out, size_t cap, uint8_t type, uint8_t reason,
    const uint8_t *props, size_t plen)
{
	struct packet_writer	w = { out, cap, 0 };
	size_t			rl = 0;

	if (plen > 0)
		rl = 1 + packet_props_size(plen);
	else if (reason != 0)
		rl = 1;
	packet_put_fixed(&w, type, 0, rl);
	if (rl > 0)
		packet_put_u8(&w, reason);
	if (plen > 0)
		packet_put_props(&w, props, plen);
	return w.n;
}

size_t
mqtt_encode(uint8_t *out, size_t cap, int level,
    const struct mqtt_packet *pkt)
{
	const struct mqtt_ack		*a = &pkt->u.ack;
	const struct mqtt_suback	*s = &pkt->u.suback;
	const struct mqtt_connack	*k = &pkt->u.connack;
	bool				 v5 = level == MQTT_PROTO_5;

	switch (pkt->type) {
	case MQTT_CONNECT:
		return mqtt_encode_connect(out, cap, &pkt->u.connect);
	case MQTT_CONNACK:
		if (v5)
			return mqtt_encode_connack5(out, cap,
			    k->session_present, k->rc, k->props.raw.p,
			    k->props.raw.len);
		return mqtt_encode_connack(out, cap, k->session_present,
		    k->rc);
	case MQTT_PUBLISH:
		return mqtt_encode_publish(out, cap, level, &pkt->u.publish);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		if (v5)
			return mqtt_encode_ack5(out, cap, pkt->type, a->id,
			    a->reason, a->props.raw.p, a->props.raw.len);
		return mqtt_encode_ack(out, cap, pkt->type, a->id);
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return mqtt_encode_subscribe(out, cap, level, pkt->type,
		    &pkt->u.subscribe);
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		if (v5)
			return mqtt_encode_suback5(out, cap, pkt->type, s->id,
			    s->props.raw.p, s->props.raw.len, s->codes,
			    s->ncodes);
		if (pkt->type == MQTT_UNSUBACK)
			return mqtt_encode_ack(out, cap, MQTT_UNSUBACK, s->id);
		return mqtt_encode_suback(out, cap, s->id, s->codes,
		    s->ncodes);
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		if (v5)
			return mqtt_encode_reason(out, cap, pkt->type,
			    a->reason, a->props.raw.p, a->props.raw.len);
		return mqtt_encode_empty(out, cap, pkt->type);
	default:
		return mqtt_encode_empty(out, cap, pkt->type);
	}
}
