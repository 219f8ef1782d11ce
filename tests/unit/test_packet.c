/*
 * Unit tests: the MQTT codec. Golden cases in tests/data/packet/<case>/
 * (input: the packet bytes; expected: the decoded packet as text, or the
 * error). Cases named connect* or before-connect* decode before CONNECT
 * (level 0), *-v31* at level 3, the rest at level 4. Valid packets are
 * encoded again and must give the same bytes.
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
#include "sinks/mqtt/packet.h"

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
dump_packet(struct dump *d, const struct mqtt_packet *p)
{
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
		break;
	}
	case MQTT_CONNACK:
		dump_printf(d, " session_present=%d rc=%u",
		    p->u.connack.session_present, p->u.connack.rc);
		break;
	case MQTT_PUBLISH:
		dump_printf(d, " dup=%d qos=%u retain=%d id=%u",
		    p->u.publish.dup, p->u.publish.qos, p->u.publish.retain,
		    p->u.publish.id);
		dump_str(d, "topic", &p->u.publish.topic, true);
		dump_str(d, "payload", &p->u.publish.payload, true);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		dump_printf(d, " id=%u", p->u.ack.id);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		dump_printf(d, " id=%u", p->u.subscribe.id);
		for (i = 0; i < p->u.subscribe.ntopics; i++) {
			dump_str(d, "filter", &p->u.subscribe.topics[i].filter,
			    true);
			if (p->type == MQTT_SUBSCRIBE)
				dump_printf(d, " qos=%u",
				    p->u.subscribe.topics[i].qos);
		}
		break;
	case MQTT_SUBACK:
		dump_printf(d, " id=%u codes=", p->u.suback.id);
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

/* Encode p again with the encoders; returns the bytes (NULL: no encoder). */
static uint8_t *
reencode(const struct mqtt_packet *p, size_t *n)
{
	uint8_t	*out;
	size_t	 len = 0;

	switch (p->type) {
	case MQTT_CONNECT:
		len = mqtt_encode_connect(NULL, 0, &p->u.connect);
		out = fh_xmalloc(len);
		mqtt_encode_connect(out, len, &p->u.connect);
		break;
	case MQTT_CONNACK:
		out = fh_xmalloc(4);
		len = mqtt_encode_connack(out, 4,
		    p->u.connack.session_present, p->u.connack.rc);
		break;
	case MQTT_PUBLISH:
		len = mqtt_encode_publish(NULL, 0, &p->u.publish);
		out = fh_xmalloc(len);
		mqtt_encode_publish(out, len, &p->u.publish);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		out = fh_xmalloc(4);
		len = mqtt_encode_ack(out, 4, p->type, p->u.ack.id);
		break;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		len = mqtt_encode_subscribe(NULL, 0, p->type,
		    &p->u.subscribe);
		out = fh_xmalloc(len);
		mqtt_encode_subscribe(out, len, p->type, &p->u.subscribe);
		break;
	case MQTT_SUBACK:
		len = mqtt_encode_suback(NULL, 0, p->u.suback.id,
		    p->u.suback.codes, p->u.suback.ncodes);
		out = fh_xmalloc(len);
		mqtt_encode_suback(out, len, p->u.suback.id,
		    p->u.suback.codes, p->u.suback.ncodes);
		break;
	default:
		out = fh_xmalloc(2);
		len = mqtt_encode_empty(out, 2, p->type);
		break;
	}
	*n = len;
	return out;
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
		int			 level = MQTT_PROTO_311, rc;

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
		ncases++;
		d.cap = 64;
		d.buf = fh_xmalloc(d.cap);
		d.buf[0] = '\0';
		rc = mqtt_decode(in, inlen, level, &pkt, &used);
		if (rc == 0) {
			dump_packet(&d, &pkt);
			enc = reencode(&pkt, &enclen);
			if (enclen != used || memcmp(enc, in, used) != 0) {
				fprintf(stderr, "%s: re-encoding differs\n",
				    de->d_name);
				nfail++;
			}
			free(enc);
			if (used != inlen) {
				fprintf(stderr, "%s: %zu trailing bytes\n",
				    de->d_name, inlen - used);
				nfail++;
			}
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
	assert_true(ncases >= 70);
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
	n = mqtt_encode_publish(NULL, 0, &p);
	buf = fh_xmalloc(n);
	assert_int_equal(mqtt_encode_publish(buf, n, &p), n);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_varint),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_publish_head),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
