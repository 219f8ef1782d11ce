/*
 * Unit tests: the MQTT codec. Golden cases in tests/data/packet/<case>/
 * (input: the packet bytes; expected: the decoded packet as text, or the
 * error). Cases named connect* or before-connect* decode before CONNECT
 * (level 0), *-v31* at level 3, *-v5* at level 5, the rest at level 4.
 * Valid packets are encoded again and must give the same bytes (*-noncanon*:
 * the same packet, shorter bytes) and decode to the same dump; their
 * properties, encoded again from the decoded struct, must decode the same.
 * The 5.0 inputs are made by tests/data/packet/mkv5.py.
 *
 * FH_REGEN=1 writes missing expected files (review them before commit).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/xmalloc.h"
#include "lib/mqtt/packet.h"

static const char *type_names[] = {
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
	"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK",
	"PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"
};

struct dump {
	char	*buf;
	size_t	 len, cap;
};

static void
dump_printf(struct dump *d, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(d->buf + d->len, d->cap - d->len, fmt, ap);
		va_end(ap);
		if ((size_t)n < d->cap - d->len)
			break;
		d->cap = d->cap * 2 + (size_t)n + 64;
		d->buf = fh_xrealloc(d->buf, d->cap);
	}
	d->len += (size_t)n;
}

static void
dump_str(struct dump *d, const char *name, const struct mqtt_str *s,
    bool present)
{
	size_t	i;

	if (!present) {
		dump_printf(d, " %s=-", name);
		return;
	}
	dump_printf(d, " %s=\"", name);
	for (i = 0; i < s->len; i++) {
		if (s->p[i] >= 0x20 && s->p[i] < 0x7f && s->p[i] != '"' &&
		    s->p[i] != '\\')
			dump_printf(d, "%c", s->p[i]);
		else
			dump_printf(d, "\\x%02x", s->p[i]);
	}
	dump_printf(d, "\"");
}

static void
dump_num(struct dump *d, const struct mqtt_props *p, unsigned id,
    uint32_t v)
{
	if (mqtt_props_has(p, id))
		dump_printf(d, " %s=%u", mqtt_prop_name(id), v);
}

static void
dump_pstr(struct dump *d, const struct mqtt_props *p, unsigned id,
    const struct mqtt_str *s)
{
	if (mqtt_props_has(p, id))
		dump_str(d, mqtt_prop_name(id), s, true);
}

/* The decoded struct, field by field, then the user properties in order
 * (and every subscription identifier when there are several). */
static void
dump_props(struct dump *d, const char *what, const struct mqtt_props *p)
{
	struct mqtt_prop	prop;
	size_t			off = 0;

	dump_printf(d, " %s{", what);
	dump_num(d, p, MQTT_PROP_PAYLOAD_FORMAT, p->payload_format);
	dump_num(d, p, MQTT_PROP_MESSAGE_EXPIRY, p->message_expiry);
	dump_pstr(d, p, MQTT_PROP_CONTENT_TYPE, &p->content_type);
	dump_pstr(d, p, MQTT_PROP_RESPONSE_TOPIC, &p->response_topic);
	dump_pstr(d, p, MQTT_PROP_CORRELATION_DATA, &p->correlation_data);
	dump_num(d, p, MQTT_PROP_SUBSCRIPTION_ID, p->subid);
	dump_num(d, p, MQTT_PROP_SESSION_EXPIRY, p->session_expiry);
	dump_pstr(d, p, MQTT_PROP_ASSIGNED_CLIENT_ID, &p->assigned_client_id);
	dump_num(d, p, MQTT_PROP_SERVER_KEEPALIVE, p->server_keepalive);
	dump_pstr(d, p, MQTT_PROP_AUTH_METHOD, &p->auth_method);
	dump_pstr(d, p, MQTT_PROP_AUTH_DATA, &p->auth_data);
	dump_num(d, p, MQTT_PROP_REQUEST_PROBLEM_INFO,
	    p->request_problem_info);
	dump_num(d, p, MQTT_PROP_WILL_DELAY, p->will_delay);
	dump_num(d, p, MQTT_PROP_REQUEST_RESPONSE_INFO,
	    p->request_response_info);
	dump_pstr(d, p, MQTT_PROP_RESPONSE_INFO, &p->response_info);
	dump_pstr(d, p, MQTT_PROP_SERVER_REFERENCE, &p->server_reference);
	dump_pstr(d, p, MQTT_PROP_REASON_STRING, &p->reason_string);
	dump_num(d, p, MQTT_PROP_RECEIVE_MAXIMUM, p->receive_maximum);
	dump_num(d, p, MQTT_PROP_TOPIC_ALIAS_MAXIMUM, p->topic_alias_maximum);
	dump_num(d, p, MQTT_PROP_TOPIC_ALIAS, p->topic_alias);
	dump_num(d, p, MQTT_PROP_MAXIMUM_QOS, p->maximum_qos);
	dump_num(d, p, MQTT_PROP_RETAIN_AVAILABLE, p->retain_available);
	dump_num(d, p, MQTT_PROP_MAXIMUM_PACKET_SIZE, p->maximum_packet_size);
	dump_num(d, p, MQTT_PROP_WILDCARD_AVAILABLE, p->wildcard_available);
	dump_num(d, p, MQTT_PROP_SUBID_AVAILABLE, p->subid_available);
	dump_num(d, p, MQTT_PROP_SHARED_AVAILABLE, p->shared_available);
	if (p->nsubid > 1) {
		dump_printf(d, " subids=");
		while (mqtt_prop_next(&p->raw, &off, &prop) > 0)
			if (prop.id == MQTT_PROP_SUBSCRIPTION_ID)
				dump_printf(d, "%u,", prop.num);
		off = 0;
	}
	if (p->nuser > 0) {
		dump_printf(d, " user=%u", p->nuser);
		while (mqtt_prop_next_user(&p->raw, &off, &prop) > 0) {
			dump_str(d, "k", &prop.str, true);
			dump_str(d, "v", &prop.val, true);
		}
	}
	dump_printf(d, " }");
}

static void
dump_packet(struct dump *d, const struct mqtt_packet *p, int level)
{
	bool	v5 = level == MQTT_PROTO_5;
	size_t	i;

	dump_printf(d, "%s", type_names[p->type & 15]);
	switch (p->type) {
	case MQTT_CONNECT: {
		const struct mqtt_connect *c = &p->u.connect;

		dump_str(d, "proto", &c->proto_name, true);
		dump_printf(d, " level=%u clean=%d will=%d will_qos=%u "
		    "will_retain=%d keepalive=%u", c->level, c->clean, c->will,
		    c->will_qos, c->will_retain, c->keepalive);
		dump_str(d, "client_id", &c->client_id, true);
		dump_str(d, "will_topic", &c->will_topic, c->will);
		dump_str(d, "will_payload", &c->will_payload, c->will);
		dump_str(d, "username", &c->username, c->has_username);
		dump_str(d, "password", &c->password, c->has_password);
		if (c->level == MQTT_PROTO_5) {
			dump_props(d, "props", &c->props);
			if (c->will)
				dump_props(d, "will_props", &c->will_props);
		}
		break;
	}
	case MQTT_CONNACK:
		dump_printf(d, " session_present=%d rc=%u",
		    p->u.connack.session_present, p->u.connack.rc);
		if (v5)
			dump_props(d, "props", &p->u.connack.props);
		break;
	case MQTT_PUBLISH:
		dump_printf(d, " dup=%d qos=%u retain=%d id=%u",
		    p->u.publish.dup, p->u.publish.qos, p->u.publish.retain,
		    p->u.publish.id);
		dump_str(d, "topic", &p->u.publish.topic, true);
		dump_str(d, "payload", &p->u.publish.payload, true);
		if (v5)
			dump_props(d, "props", &p->u.publish.props);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		dump_printf(d, " id=%u", p->u.ack.id);
		if (v5) {
			dump_printf(d, " reason=0x%02x", p->u.ack.reason);
			dump_props(d, "props", &p->u.ack.props);
		}
		break;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		if (v5) {
			dump_printf(d, " reason=0x%02x", p->u.ack.reason);
			dump_props(d, "props", &p->u.ack.props);
		}
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		dump_printf(d, " id=%u", p->u.subscribe.id);
		if (v5)
			dump_props(d, "props", &p->u.subscribe.props);
		for (i = 0; i < p->u.subscribe.ntopics; i++) {
			const struct mqtt_topic_req *t =
			    &p->u.subscribe.topics[i];

			dump_str(d, "filter", &t->filter, true);
			if (p->type != MQTT_SUBSCRIBE)
				continue;
			dump_printf(d, " qos=%u", t->qos);
			if (v5)
				dump_printf(d, " nl=%d rap=%d rh=%u",
				    t->no_local, t->retain_as_published,
				    t->retain_handling);
		}
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		dump_printf(d, " id=%u", p->u.suback.id);
		if (v5)
			dump_props(d, "props", &p->u.suback.props);
		if (p->type == MQTT_UNSUBACK && !v5)
			break;
		dump_printf(d, " codes=");
		for (i = 0; i < p->u.suback.ncodes; i++)
			dump_printf(d, "%s%u", i ? "," : "",
			    p->u.suback.codes[i]);
		break;
	}
	dump_printf(d, "\n");
}

static uint8_t *
read_file(const char *path, size_t *len)
{
	FILE	*f = fopen(path, "rb");
	uint8_t	*buf;
	long	 n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = fh_xmalloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	return buf;
}

/* Encode p again with the encoders. */
static uint8_t *
reencode(const struct mqtt_packet *p, int level, size_t *n)
{
	uint8_t	*out;
	size_t	 len;

	len = mqtt_encode(NULL, 0, level, p);
	out = fh_xmalloc(len);
	assert_int_equal(mqtt_encode(out, len, level, p), len);
	*n = len;
	return out;
}

/* The property blocks of a packet, with the type each is checked as. */
static size_t
packet_props_of(struct mqtt_packet *p, struct mqtt_props **v, int *ptype)
{
	size_t	n = 0;

	switch (p->type) {
	case MQTT_CONNECT:
		v[n] = &p->u.connect.props;
		ptype[n++] = MQTT_CONNECT;
		if (p->u.connect.will) {
			v[n] = &p->u.connect.will_props;
			ptype[n++] = MQTT_PROPS_WILL;
		}
		break;
	case MQTT_CONNACK:
		v[n] = &p->u.connack.props;
		ptype[n++] = p->type;
		break;
	case MQTT_PUBLISH:
		v[n] = &p->u.publish.props;
		ptype[n++] = p->type;
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		v[n] = &p->u.subscribe.props;
		ptype[n++] = p->type;
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		v[n] = &p->u.suback.props;
		ptype[n++] = p->type;
		break;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
		break;
	default:
		v[n] = &p->u.ack.props;
		ptype[n++] = p->type;
		break;
	}
	return n;
}

/*
 * Each property block encoded again from the struct (mqtt_props_encode)
 * must decode to the same struct and user properties. Returns 0 if so.
 */
static int
props_roundtrip(const char *name, struct mqtt_packet *pkt)
{
	struct mqtt_props	*v[2], again;
	int			 ptype[2], rc, bad = 0;
	size_t			 n, i, len;
	uint8_t			*buf;
	struct dump		 a = { NULL, 0, 0 }, b = { NULL, 0, 0 };

	n = packet_props_of(pkt, v, ptype);
	for (i = 0; i < n; i++) {
		if (v[i]->nsubid > 1)	/* the struct keeps only the first */
			continue;
		len = mqtt_props_encode(NULL, 0, v[i]);
		buf = fh_xmalloc(len + 1);
		assert_int_equal(mqtt_props_encode(buf, len, v[i]), len);
		rc = mqtt_props_decode(buf, len, ptype[i], &again);
		a.cap = b.cap = 64;
		a.len = b.len = 0;
		a.buf = fh_xmalloc(a.cap);
		b.buf = fh_xmalloc(b.cap);
		dump_props(&a, "", v[i]);
		if (rc == 0)
			dump_props(&b, "", &again);
		if (rc != 0 || a.len != b.len ||
		    memcmp(a.buf, b.buf, a.len) != 0) {
			fprintf(stderr, "%s: props re-encoded differ (%s)\n"
			    "  %.*s\n  %.*s\n", name, mqtt_strerror(rc),
			    (int)a.len, a.buf, (int)b.len, b.buf);
			bad++;
		}
		free(a.buf);
		free(b.buf);
		free(buf);
	}
	return bad;
}

static void
test_golden(void **state)
{
	const char	*src = getenv("top_srcdir");
	char		*dir, *path;
	DIR		*dp;
	struct dirent	*de;
	int		 ncases = 0, nfail = 0;

	(void)state;
	dir = fh_xasprintf("%s/tests/data/packet", src ? src : "..");
	dp = opendir(dir);
	assert_non_null(dp);
	while ((de = readdir(dp)) != NULL) {
		struct mqtt_packet	 pkt;
		struct dump		 d = { NULL, 0, 0 };
		uint8_t			*in, *exp, *enc;
		size_t			 inlen, explen, used = 0, enclen;
		int			 level = MQTT_PROTO_311, plevel, rc;

		if (de->d_name[0] == '.')
			continue;
		path = fh_xasprintf("%s/%s/input", dir, de->d_name);
		in = read_file(path, &inlen);
		free(path);
		if (in == NULL)
			continue;
		if (strncmp(de->d_name, "connect", 7) == 0 ||
		    strncmp(de->d_name, "before-connect", 14) == 0)
			level = 0;
		else if (strstr(de->d_name, "-v31") != NULL)
			level = MQTT_PROTO_31;
		else if (strstr(de->d_name, "-v5") != NULL)
			level = MQTT_PROTO_5;
		ncases++;
		d.cap = 64;
		d.buf = fh_xmalloc(d.cap);
		d.buf[0] = '\0';
		rc = mqtt_decode(in, inlen, level, &pkt, &used);
		if (rc == 0 && pkt.type == MQTT_CONNECT)
			plevel = pkt.u.connect.level;
		else
			plevel = level;
		if (rc == 0) {
			struct mqtt_packet	again;
			struct dump		d2 = { NULL, 0, 0 };
			size_t			used2 = 0;
			bool			canon;

			dump_packet(&d, &pkt, plevel);
			enc = reencode(&pkt, plevel, &enclen);
			canon = strstr(de->d_name, "-noncanon") == NULL;
			if (canon ? enclen != used ||
			    memcmp(enc, in, used) != 0 : enclen >= used) {
				fprintf(stderr, "%s: re-encoding differs\n",
				    de->d_name);
				nfail++;
			}
			d2.cap = 64;
			d2.buf = fh_xmalloc(d2.cap);
			if (mqtt_decode(enc, enclen, level, &again,
			    &used2) != 0)
				nfail++;
			else
				dump_packet(&d2, &again, plevel);
			if (d2.len != d.len || memcmp(d2.buf, d.buf, d.len)) {
				fprintf(stderr, "%s: re-decoded differs\n",
				    de->d_name);
				nfail++;
			}
			mqtt_packet_clear(&again);
			free(d2.buf);
			free(enc);
			if (used != inlen) {
				fprintf(stderr, "%s: %zu trailing bytes\n",
				    de->d_name, inlen - used);
				nfail++;
			}
			if (plevel == MQTT_PROTO_5)
				nfail += props_roundtrip(de->d_name, &pkt);
		} else
			dump_printf(&d, "error: %s\n", mqtt_strerror(rc));
		mqtt_packet_clear(&pkt);
		/* a malformed case must be named so, and the other way */
		if ((strstr(de->d_name, "-err-") != NULL) != (rc != 0)) {
			fprintf(stderr, "%s: decode rc %d\n", de->d_name, rc);
			nfail++;
		}
		path = fh_xasprintf("%s/%s/expected", dir, de->d_name);
		exp = read_file(path, &explen);
		if (exp == NULL && getenv("FH_REGEN") != NULL) {
			FILE *f = fopen(path, "w");

			assert_non_null(f);
			fwrite(d.buf, 1, d.len, f);
			fclose(f);
		} else if (exp == NULL || explen != d.len ||
		    memcmp(exp, d.buf, d.len) != 0) {
			fprintf(stderr, "%s: got   %.*s     want  %.*s\n",
			    de->d_name, (int)d.len, d.buf,
			    exp ? (int)explen : 0, exp ? (char *)exp : "");
			nfail++;
		}
		free(path);
		free(exp);
		free(in);
		free(d.buf);
	}
	closedir(dp);
	free(dir);
	assert_true(ncases >= 170);
	assert_int_equal(nfail, 0);
}

static void
test_varint(void **state)
{
	static const uint32_t	vals[] = { 0, 1, 127, 128, 16383, 16384,
	    2097151, 2097152, 268435455 };
	static const size_t	lens[] = { 1, 1, 1, 2, 2, 3, 3, 4, 4 };
	uint8_t			buf[8];
	struct mqtt_fixed	fh;
	size_t			i, n;

	(void)state;
	for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		buf[0] = 0x30;
		n = mqtt_varint_encode(buf + 1, vals[i]);
		assert_int_equal(n, lens[i]);
		assert_int_equal(mqtt_fixed_parse(buf, n + 1, &fh), 0);
		assert_int_equal(fh.remaining, vals[i]);
		assert_int_equal(fh.hdrlen, n + 1);
		assert_int_equal(fh.type, MQTT_PUBLISH);
		/* every shorter prefix asks for more */
		assert_int_equal(mqtt_fixed_parse(buf, n, &fh), 1);
	}
	memcpy(buf, "\x30\xff\xff\xff\xff\x01", 6);
	assert_int_equal(mqtt_fixed_parse(buf, 6, &fh), MQTT_E_MALFORMED);
	assert_int_equal(mqtt_fixed_parse(buf, 5, &fh), MQTT_E_MALFORMED);
	assert_int_equal(mqtt_fixed_parse(buf, 1, &fh), 1);
	assert_int_equal(mqtt_fixed_parse(buf, 0, &fh), 1);
}

static void
test_filters(void **state)
{
	static const char *good[] = { "#", "+", "a", "a/b", "a/+", "+/+",
	    "a/#", "+/#", "/", "//", "a//b", "$SYS/#", "/+", "sport/+/x",
	    NULL };
	static const char *bad[] = { "", "a#", "a/#/b", "#/", "a+", "+a",
	    "a/b+/c", "##", "a/++", NULL };
	size_t	i;

	(void)state;
	for (i = 0; good[i]; i++)
		assert_true(mqtt_filter_is_valid((const uint8_t *)good[i],
		    strlen(good[i])));
	for (i = 0; bad[i]; i++)
		assert_false(mqtt_filter_is_valid((const uint8_t *)bad[i],
		    strlen(bad[i])));
	assert_false(mqtt_filter_is_valid((const uint8_t *)"a\0b", 3));
	assert_true(mqtt_topic_is_valid((const uint8_t *)"a/b", 3));
	assert_false(mqtt_topic_is_valid((const uint8_t *)"a/+", 3));
	assert_false(mqtt_topic_is_valid((const uint8_t *)"#", 1));
	assert_false(mqtt_topic_is_valid((const uint8_t *)"", 0));
}

static void
test_publish_head(void **state)
{
	uint8_t		buf[64];
	size_t		n;

	(void)state;
	/* the broker shares head + id + payload: same as a whole encode */
	n = mqtt_encode_publish_head(buf, sizeof buf, true, 1, true,
	    (const uint8_t *)"a/b", 3, 0x1234, 5);
	assert_int_equal(n, 2 + 2 + 3 + 2);
	assert_memory_equal(buf, "\x3b\x0c\x00\x03" "a/b" "\x12\x34", n);
	/* too small a buffer: the size needed, nothing past cap */
	memset(buf, 0xee, sizeof buf);
	n = mqtt_encode_publish_head(buf, 3, false, 0, false,
	    (const uint8_t *)"abc", 3, 0, 0);
	assert_int_equal(n, 7);
	assert_int_equal(buf[3], 0xee);
	n = mqtt_encode_connack(buf, sizeof buf, true, 0);
	assert_memory_equal(buf, "\x20\x02\x01\x00", n);
}

/* 2 MiB payload: a 4-byte remaining length both ways. */
static void
test_large(void **state)
{
	size_t			 plen = 2097152, n, used;
	struct mqtt_publish	 p = { 0 };
	struct mqtt_packet	 pkt;
	uint8_t			*buf, *payload;

	(void)state;
	payload = fh_xcalloc(1, plen);
	p.topic.p = (const uint8_t *)"big";
	p.topic.len = 3;
	p.payload.p = payload;
	p.payload.len = plen;
	n = mqtt_encode_publish(NULL, 0, MQTT_PROTO_311, &p);
	buf = fh_xmalloc(n);
	assert_int_equal(mqtt_encode_publish(buf, n, MQTT_PROTO_311, &p), n);
	assert_int_equal(n, 1 + 4 + 5 + plen);
	assert_int_equal(mqtt_decode(buf, n, 4, &pkt, &used), 0);
	assert_int_equal(used, n);
	assert_int_equal(pkt.u.publish.payload.len, plen);
	/* one byte short: malformed as a whole packet */
	assert_int_equal(mqtt_decode(buf, n - 1, 4, &pkt, &used),
	    MQTT_E_MALFORMED);
	free(buf);
	free(payload);
}

/* The 5.0 encoders the broker and a client use, byte for byte. */
static void
test_v5_encoders(void **state)
{
	static const uint8_t	 codes[] = { 0x00, 0x87 };
	struct mqtt_prop	 list[] = {
		{ .id = MQTT_PROP_REASON_STRING,
		  .str = { (const uint8_t *)"no", 2 } },
		{ .id = MQTT_PROP_USER, .str = { (const uint8_t *)"k", 1 },
		  .val = { (const uint8_t *)"v", 1 } },
	};
	uint8_t			 props[64], buf[128];
	size_t			 plen, n;

	(void)state;
	plen = mqtt_props_write(props, sizeof props, list, 2);
	assert_int_equal(plen, 5 + 7);
	assert_memory_equal(props, "\x1f\x00\x02no\x26\x00\x01k\x00\x01v",
	    plen);

	n = mqtt_encode_connack5(buf, sizeof buf, false, 0x87, props, plen);
	assert_int_equal(n, 2 + 2 + 1 + plen);
	assert_memory_equal(buf, "\x20\x0f\x00\x87\x0c", 5);
	assert_memory_equal(buf + 5, props, plen);
	n = mqtt_encode_connack5(buf, sizeof buf, true, 0, NULL, 0);
	assert_memory_equal(buf, "\x20\x03\x01\x00\x00", n);

	/* PUBACK: 2, 3 or more bytes of remaining length */
	n = mqtt_encode_ack5(buf, sizeof buf, MQTT_PUBACK, 5, 0, NULL, 0);
	assert_memory_equal(buf, "\x40\x02\x00\x05", n);
	n = mqtt_encode_ack5(buf, sizeof buf, MQTT_PUBREC, 5, 0x87, NULL, 0);
	assert_memory_equal(buf, "\x50\x03\x00\x05\x87", n);
	n = mqtt_encode_ack5(buf, sizeof buf, MQTT_PUBREL, 5, 0, props, 5);
	assert_memory_equal(buf, "\x62\x09\x00\x05\x00\x05\x1f\x00\x02no", n);

	n = mqtt_encode_suback5(buf, sizeof buf, MQTT_SUBACK, 9, NULL, 0,
	    codes, 2);
	assert_memory_equal(buf, "\x90\x05\x00\x09\x00\x00\x87", n);
	n = mqtt_encode_suback5(buf, sizeof buf, MQTT_UNSUBACK, 9, NULL, 0,
	    codes, 1);
	assert_memory_equal(buf, "\xb0\x04\x00\x09\x00\x00", n);

	n = mqtt_encode_reason(buf, sizeof buf, MQTT_DISCONNECT, 0, NULL, 0);
	assert_memory_equal(buf, "\xe0\x00", n);
	n = mqtt_encode_reason(buf, sizeof buf, MQTT_DISCONNECT, 0x8e, NULL,
	    0);
	assert_memory_equal(buf, "\xe0\x01\x8e", n);
	n = mqtt_encode_reason(buf, sizeof buf, MQTT_AUTH, 0x18, props, 5);
	assert_memory_equal(buf, "\xf0\x07\x18\x05\x1f\x00\x02no", n);

	/* the head carries the properties; the payload follows */
	n = mqtt_encode_publish_head5(buf, sizeof buf, false, 1, false,
	    (const uint8_t *)"t", 1, 3, (const uint8_t *)"\x23\x00\x01", 3,
	    2);
	assert_int_equal(n, 2 + 3 + 2 + 4);
	assert_memory_equal(buf, "\x32\x0b\x00\x01t\x00\x03\x03\x23\x00\x01",
	    n);
	/* too small a buffer: the size needed, nothing past cap */
	memset(buf, 0xee, sizeof buf);
	assert_int_equal(mqtt_encode_reason(buf, 2, MQTT_AUTH, 0x18, props,
	    5), 9);
	assert_int_equal(buf[2], 0xee);
}

/* Forwarding: drop the per-hop properties, keep the rest in order. */
static void
test_props_filter(void **state)
{
	static const uint8_t	raw[] = "\x26\x00\x01" "a\x00\x01" "1"
	    "\x23\x00\x07" "\x0b\x05" "\x02\x00\x00\x00\x3c"
	    "\x26\x00\x01" "b\x00\x01" "2";
	struct mqtt_str		r = { raw, sizeof raw - 1 };
	struct mqtt_props	p;
	struct mqtt_prop	prop;
	uint8_t			out[64];
	size_t			n, off = 0;

	(void)state;
	/* a PUBLISH to a client: subscription id allowed */
	assert_int_equal(mqtt_props_decode(raw, sizeof raw - 1, MQTT_PUBLISH,
	    &p), 0);
	assert_int_equal(p.nuser, 2);
	assert_int_equal(p.topic_alias, 7);
	assert_int_equal(p.subid, 5);
	assert_int_equal(p.message_expiry, 60);
	n = mqtt_props_filter(out, sizeof out, &r,
	    MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS) |
	    MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID) |
	    MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY));
	assert_int_equal(n, 14);
	assert_memory_equal(out, "\x26\x00\x01" "a\x00\x01" "1"
	    "\x26\x00\x01" "b\x00\x01" "2", n);
	/* user properties in order, the rest skipped */
	assert_int_equal(mqtt_prop_next_user(&r, &off, &prop), 1);
	assert_memory_equal(prop.str.p, "a", 1);
	assert_int_equal(mqtt_prop_next_user(&r, &off, &prop), 1);
	assert_memory_equal(prop.val.p, "2", 1);
	assert_int_equal(mqtt_prop_next_user(&r, &off, &prop), 0);
	/* the same bytes are not a SUBSCRIBE's nor a will's */
	assert_int_equal(mqtt_props_decode(raw, sizeof raw - 1,
	    MQTT_SUBSCRIBE, &p), MQTT_E_PROP_NOT_ALLOWED);
	assert_int_equal(mqtt_props_decode(raw, sizeof raw - 1,
	    MQTT_PROPS_WILL, &p), MQTT_E_PROP_NOT_ALLOWED);
	assert_string_equal(mqtt_prop_name(MQTT_PROP_TOPIC_ALIAS),
	    "topic-alias");
}

static void
test_err_reason(void **state)
{
	(void)state;
	assert_int_equal(mqtt_err_reason(MQTT_E_MALFORMED), 0x81);
	assert_int_equal(mqtt_err_reason(MQTT_E_UTF8), 0x81);
	assert_int_equal(mqtt_err_reason(MQTT_E_VARINT), 0x81);
	assert_int_equal(mqtt_err_reason(MQTT_E_PROP_LENGTH), 0x81);
	assert_int_equal(mqtt_err_reason(MQTT_E_PROP_UNKNOWN), 0x81);
	assert_int_equal(mqtt_err_reason(MQTT_E_PROP_NOT_ALLOWED), 0x81);
	assert_int_equal(mqtt_err_reason(MQTT_E_SUBOPTS), 0x81);
	assert_int_equal(mqtt_err_reason(MQTT_E_PROTOCOL), 0x82);
	assert_int_equal(mqtt_err_reason(MQTT_E_PROP_DUPLICATE), 0x82);
	assert_int_equal(mqtt_err_reason(MQTT_E_PROP_VALUE), 0x82);
	assert_int_equal(mqtt_err_reason(MQTT_E_REASON), 0x82);
	assert_int_equal(mqtt_err_reason(MQTT_E_TOPIC_ALIAS), 0x94);
	assert_int_equal(mqtt_err_reason(MQTT_E_TOO_LARGE), 0x95);
	assert_int_equal(mqtt_err_reason(MQTT_E_TOPIC), 0x81);
	assert_int_equal(mqtt_err_reason(MQTT_E_FILTER), 0x81);
	assert_true(mqtt_reason_is_valid(MQTT_PUBACK, 0x10));
	assert_false(mqtt_reason_is_valid(MQTT_PUBACK, 0x92));
	assert_true(mqtt_reason_is_valid(MQTT_DISCONNECT, 0x8e));
	assert_false(mqtt_reason_is_valid(MQTT_DISCONNECT, 0x01));
}

static void
test_shared(void **state)
{
	struct mqtt_str	g, f;

	(void)state;
	assert_int_equal(mqtt_filter_shared((const uint8_t *)"$share/g/a/#",
	    12, &g, &f), 1);
	assert_int_equal(g.len, 1);
	assert_memory_equal(g.p, "g", 1);
	assert_int_equal(f.len, 3);
	assert_memory_equal(f.p, "a/#", 3);
	assert_int_equal(mqtt_filter_shared((const uint8_t *)"a/b", 3, &g,
	    &f), 0);
	assert_int_equal(mqtt_filter_shared((const uint8_t *)"$share/g", 8,
	    &g, &f), -1);
	assert_int_equal(mqtt_filter_shared((const uint8_t *)"$share/g/", 9,
	    &g, &f), -1);
	assert_int_equal(mqtt_filter_shared((const uint8_t *)"$share/#/a",
	    10, &g, &f), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_varint),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_publish_head),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_v5_encoders),
		cmocka_unit_test(test_props_filter),
		cmocka_unit_test(test_err_reason),
		cmocka_unit_test(test_shared),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
