/* Unit tests: the RFC 6455 frame codec, with golden vectors. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/event.h"
#include "lib/ws/ws_frame.h"

static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* Build a masked client frame. */
static size_t
frame(uint8_t *out, bool fin, uint8_t op, const void *p, size_t len)
{
	size_t	hl = ws_frame_write_header(out, fin, op, len, key);

	memcpy(out + hl, p, len);
	ws_frame_mask(out + hl, len, key, 0);
	return hl + len;
}

/*
 * Decode buf fed in pieces of `step` bytes (0: all at once) and render
 * what came out as text: "binary HEX", "text HEX", "ping HEX",
 * "pong HEX", "close CODE HEX", "error CODE", one per line; data of one
 * message run is merged.
 */
static char *
render(const uint8_t *buf, size_t len, size_t step, uint64_t max_frame,
    uint64_t max_message)
{
	struct ws_decoder	d;
	struct ws_decoded	r;
	static char		out[1 << 19];
	uint8_t			data[64];
	size_t			pos = 0, end, n, i, o = 0;
	int			last_data = -1;

	ws_decoder_init(&d, max_frame, max_message);
	out[0] = '\0';
	while (pos < len) {
		end = step == 0 || len - pos < step ? len : pos + step;
		for (;;) {
			n = ws_decoder_feed(&d, buf + pos, end - pos, data,
			    sizeof data, &r);
			pos += n;
			if (r.data_len > 0) {
				if (last_data != r.data_opcode) {
					o += (size_t)snprintf(out + o,
					    sizeof out - o, "%s%s ",
					    last_data >= 0 ? "\n" : "",
					    r.data_opcode == WS_OP_TEXT ?
					    "text" : "binary");
					last_data = r.data_opcode;
				}
				for (i = 0; i < r.data_len; i++)
					o += (size_t)snprintf(out + o,
					    sizeof out - o, "%02x", data[i]);
			}
			if (r.ev != WS_EV_NONE) {
				if (last_data >= 0)
					o += (size_t)snprintf(out + o,
					    sizeof out - o, "\n");
				last_data = -1;
				if (r.ev == WS_EV_ERROR) {
					o += (size_t)snprintf(out + o,
					    sizeof out - o, "error %u\n",
					    r.close_code);
					return out;
				}
				o += (size_t)snprintf(out + o, sizeof out - o,
				    "%s", r.ev == WS_EV_PING ? "ping " :
				    r.ev == WS_EV_PONG ? "pong " : "close ");
				if (r.ev == WS_EV_CLOSE)
					o += (size_t)snprintf(out + o,
					    sizeof out - o, "%u ",
					    r.close_code);
				for (i = 0; i < r.ctl_len; i++)
					o += (size_t)snprintf(out + o,
					    sizeof out - o, "%02x", r.ctl[i]);
				o += (size_t)snprintf(out + o, sizeof out - o,
				    "\n");
				if (r.ev == WS_EV_CLOSE)
					return out;
			}
			if (pos == end && r.ev == WS_EV_NONE)
				break;
			if (n == 0 && r.ev == WS_EV_NONE && r.data_len == 0)
				break;
		}
		if (pos < end)
			break;
	}
	if (last_data >= 0)
		o += (size_t)snprintf(out + o, sizeof out - o, "\n");
	return out;
}

static void
check_all_steps(const uint8_t *buf, size_t len, const char *want)
{
	static const size_t steps[] = { 0, 1, 2, 3, 5, 7, 13, 64 };
	size_t	i;

	for (i = 0; i < sizeof steps / sizeof steps[0]; i++)
		assert_string_equal(render(buf, len, steps[i], 0, 0), want);
}

static void
test_accept_key(void **state)
{
	char	out[29];

	(void)state;
	/* RFC 6455 1.3 */
	ws_frame_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void
test_write_header_rfc(void **state)
{
	uint8_t	h[WS_HEADER_MAX];
	static const uint8_t hello[] = { 0x81, 0x05 };
	static const uint8_t b256[] = { 0x82, 0x7e, 0x01, 0x00 };
	static const uint8_t b64k[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0 };
	static const uint8_t masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d };
	static const uint8_t frag1[] = { 0x01, 0x03 };
	static const uint8_t frag2[] = { 0x80, 0x02 };

	(void)state;
	/* RFC 6455 5.7 examples. */
	assert_int_equal(ws_frame_write_header(h, true, WS_OP_TEXT, 5, NULL),
	    2);
	assert_memory_equal(h, hello, 2);
	assert_int_equal(ws_frame_write_header(h, true, WS_OP_BINARY, 256,
	    NULL), 4);
	assert_memory_equal(h, b256, 4);
	assert_int_equal(ws_frame_write_header(h, true, WS_OP_BINARY, 65536,
	    NULL), 10);
	assert_memory_equal(h, b64k, 10);
	assert_int_equal(ws_frame_write_header(h, true, WS_OP_TEXT, 5, key),
	    6);
	assert_memory_equal(h, masked, 6);
	ws_frame_write_header(h, false, WS_OP_TEXT, 3, NULL);
	assert_memory_equal(h, frag1, 2);
	ws_frame_write_header(h, true, WS_OP_CONT, 2, NULL);
	assert_memory_equal(h, frag2, 2);
}

static void
test_parse_header(void **state)
{
	struct ws_frame_hdr	h;
	static const uint8_t	masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21,
				    0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	static const uint8_t	nonmin16[] = { 0x82, 0xfe, 0x00, 0x05, 1, 2,
				    3, 4 };
	static const uint8_t	nonmin64[] = { 0x82, 0xff, 0, 0, 0, 0, 0, 0,
				    0xff, 0xff };
	static const uint8_t	top[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0,
				    0 };
	uint8_t			payload[5];

	(void)state;
	assert_int_equal(ws_frame_parse_header(masked, 1, &h), 0);
	assert_int_equal(ws_frame_parse_header(masked, 5, &h), 0);
	assert_int_equal(ws_frame_parse_header(masked, sizeof masked, &h), 6);
	assert_true(h.fin);
	assert_true(h.masked);
	assert_int_equal(h.opcode, WS_OP_TEXT);
	assert_int_equal(h.len, 5);
	memcpy(payload, masked + 6, 5);
	ws_frame_mask(payload, 5, h.mask, 0);
	assert_memory_equal(payload, "Hello", 5);
	assert_int_equal(ws_frame_parse_header(nonmin16, 8, &h), -1);
	assert_int_equal(ws_frame_parse_header(nonmin64, 10, &h), 0);
	assert_int_equal(ws_frame_parse_header(top, 10, &h), 0);
}

static void
test_parse_header_lengths(void **state)
{
	static const uint64_t	lens[] = { 0, 1, 125, 126, 127, 65535, 65536,
				    (uint64_t)1 << 40 };
	struct ws_frame_hdr	h;
	uint8_t			buf[WS_HEADER_MAX];
	size_t			i, n;

	(void)state;
	for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		n = ws_frame_write_header(buf, true, WS_OP_BINARY, lens[i],
		    key);
		assert_int_equal(ws_frame_parse_header(buf, n, &h), (int)n);
		assert_true(h.len == lens[i]);
		assert_memory_equal(h.mask, key, 4);
		assert_int_equal(ws_frame_parse_header(buf, n - 1, &h), 0);
	}
}

static void
test_utf8(void **state)
{
	(void)state;
	assert_true(fh_utf8_is_valid((const uint8_t *)"", 0));
	assert_true(fh_utf8_is_valid((const uint8_t *)"plain", 5));
	assert_true(fh_utf8_is_valid((const uint8_t *)"\xc3\xa9t\xc3\xa9", 6));
	assert_true(fh_utf8_is_valid((const uint8_t *)"\xe2\x82\xac", 3));
	assert_true(fh_utf8_is_valid((const uint8_t *)"\xf0\x9f\x98\x80", 4));
	assert_false(fh_utf8_is_valid((const uint8_t *)"\xc0\xaf", 2));
	assert_false(fh_utf8_is_valid((const uint8_t *)"\xe0\x80\xaf", 3));
	assert_false(fh_utf8_is_valid((const uint8_t *)"\xed\xa0\x80", 3));
	assert_false(fh_utf8_is_valid((const uint8_t *)"\xf4\x90\x80\x80", 4));
	assert_false(fh_utf8_is_valid((const uint8_t *)"\xc3", 1));
	assert_false(fh_utf8_is_valid((const uint8_t *)"\xff", 1));
	assert_false(fh_utf8_is_valid((const uint8_t *)"a\x80", 2));
}

static void
test_close_parse(void **state)
{
	uint16_t	code;

	(void)state;
	assert_int_equal(ws_frame_close_parse(NULL, 0, &code), 0);
	assert_int_equal(code, WS_CLOSE_NO_STATUS);
	assert_int_equal(ws_frame_close_parse((const uint8_t *)"\x03", 1,
	    &code), WS_CLOSE_PROTOCOL);
	assert_int_equal(ws_frame_close_parse((const uint8_t *)"\x03\xe8ok",
	    4, &code), 0);
	assert_int_equal(code, 1000);
	assert_int_equal(ws_frame_close_parse((const uint8_t *)"\x03\xed", 2,
	    &code), WS_CLOSE_PROTOCOL);		/* 1005 is never sent */
	assert_int_equal(ws_frame_close_parse((const uint8_t *)"\x03\xe8\xff",
	    3, &code), WS_CLOSE_BAD_DATA);
	assert_int_equal(ws_frame_close_parse((const uint8_t *)"\x0f\xa0", 2,
	    &code), 0);				/* 4000: private use */
	assert_int_equal(ws_frame_close_parse((const uint8_t *)"\x13\x88", 2,
	    &code), WS_CLOSE_PROTOCOL);		/* 5000 */
}

static void
test_decode_stream(void **state)
{
	uint8_t	buf[4096];
	size_t	n = 0;

	(void)state;
	/* A fragmented binary message with a ping in the middle, then two
	 * MQTT packets in one frame. */
	n += frame(buf + n, false, WS_OP_BINARY, "\x10\x0c", 2);
	n += frame(buf + n, true, WS_OP_PING, "hi", 2);
	n += frame(buf + n, false, WS_OP_CONT, "\x00\x04MQTT", 6);
	n += frame(buf + n, true, WS_OP_CONT, "\x04\x02\x00\x3c\x00\x00", 6);
	n += frame(buf + n, true, WS_OP_BINARY, "\xc0\x00\xc0\x00", 4);
	n += frame(buf + n, true, WS_OP_PONG, "", 0);
	n += frame(buf + n, true, WS_OP_BINARY, "", 0);
	n += frame(buf + n, true, WS_OP_CLOSE, "\x03\xe8" "bye", 5);
	n += frame(buf + n, true, WS_OP_BINARY, "x", 1);	/* ignored */
	check_all_steps(buf, n, "binary 100c\nping 6869\n"
	    "binary 00044d5154540402003c0000c000c000\npong \n"
	    "close 1000 03e8627965\n");
}

/* Feed all of p[0..len) to d, one byte at a time; is d idle after? */
static bool
idle_after(struct ws_decoder *d, const uint8_t *p, size_t len)
{
	struct ws_decoded	r;
	uint8_t			data[64];
	size_t			pos = 0, n = 1;

	while (pos < len && n > 0)	/* a failed decoder takes nothing */
		pos += n = ws_decoder_feed(d, p + pos, 1, data, sizeof data,
		    &r);
	return ws_decoder_idle(d);
}

/* Idle (so a connection may park, sinks/mqtt/transport.c) only between
 * messages with nothing half read. */
static void
test_decoder_idle(void **state)
{
	struct ws_decoder	d;
	uint8_t			buf[64];
	size_t			n;

	(void)state;
	ws_decoder_init(&d, 0, 0);
	assert_true(ws_decoder_idle(&d));
	n = frame(buf, true, WS_OP_BINARY, "\xc0\x00", 2);
	assert_false(idle_after(&d, buf, 1));		/* half a header */
	assert_false(idle_after(&d, buf + 1, 6));	/* half the payload */
	assert_true(idle_after(&d, buf + 7, n - 7));
	n = frame(buf, false, WS_OP_BINARY, "\xc0", 1);
	assert_false(idle_after(&d, buf, n));		/* message open */
	n = frame(buf, true, WS_OP_PING, "hi", 2);
	assert_false(idle_after(&d, buf, n));		/* still open */
	n = frame(buf, true, WS_OP_CONT, "\x00", 1);
	assert_true(idle_after(&d, buf, n));
	n = frame(buf, true, WS_OP_CLOSE, "\x03\xe8", 2);
	assert_false(idle_after(&d, buf, n));		/* closed */
	ws_decoder_init(&d, 0, 0);
	buf[0] = 0x82;
	buf[1] = 0x01;					/* not masked */
	assert_false(idle_after(&d, buf, 2));
}

static void
test_decode_errors(void **state)
{
	uint8_t	buf[512], big[300];
	size_t	n;

	(void)state;
	/* Unmasked (RFC example): clients must mask. */
	check_all_steps((const uint8_t *)"\x81\x05Hello", 7, "error 1002\n");
	/* RSV bits without an extension. */
	n = frame(buf, true, WS_OP_BINARY, "a", 1);
	buf[0] |= 0x40;
	check_all_steps(buf, n, "error 1002\n");
	/* Reserved opcodes. */
	n = frame(buf, true, 0x3, "a", 1);
	check_all_steps(buf, n, "error 1002\n");
	n = frame(buf, true, 0xb, "a", 1);
	check_all_steps(buf, n, "error 1002\n");
	/* Continuation with nothing to continue. */
	n = frame(buf, true, WS_OP_CONT, "a", 1);
	check_all_steps(buf, n, "error 1002\n");
	/* A new message inside a fragmented one. */
	n = frame(buf, false, WS_OP_BINARY, "a", 1);
	n += frame(buf + n, true, WS_OP_BINARY, "b", 1);
	check_all_steps(buf, n, "binary 61\nerror 1002\n");
	/* Fragmented control frame; control frame over 125 bytes. */
	n = frame(buf, false, WS_OP_PING, "a", 1);
	check_all_steps(buf, n, "error 1002\n");
	memset(big, 'x', sizeof big);
	n = frame(buf, true, WS_OP_PING, big, 126);
	check_all_steps(buf, n, "error 1002\n");
	/* Close: one byte, bad code, bad UTF-8 reason. */
	n = frame(buf, true, WS_OP_CLOSE, "\x03", 1);
	check_all_steps(buf, n, "error 1002\n");
	n = frame(buf, true, WS_OP_CLOSE, "\x03\xee", 2);
	check_all_steps(buf, n, "error 1002\n");
	n = frame(buf, true, WS_OP_CLOSE, "\x03\xe8\xc3\x28", 4);
	check_all_steps(buf, n, "error 1007\n");
	/* Text frames are decoded (the session refuses them). */
	n = frame(buf, true, WS_OP_TEXT, "Hello", 5);
	check_all_steps(buf, n, "text 48656c6c6f\n");
}

static void
test_decode_limits(void **state)
{
	uint8_t	buf[512], big[200];
	size_t	n;

	(void)state;
	memset(big, 'x', sizeof big);
	n = frame(buf, true, WS_OP_BINARY, big, 100);
	assert_string_equal(render(buf, n, 0, 100, 0), render(buf, n, 0, 0,
	    0));
	assert_string_equal(render(buf, n, 0, 99, 0), "error 1009\n");
	/* Frames within the limit, message over it. */
	n = frame(buf, false, WS_OP_BINARY, big, 60);
	n += frame(buf + n, true, WS_OP_CONT, big, 60);
	assert_string_equal(render(buf, n, 1, 64, 100), "binary "
	    "787878787878787878787878787878787878787878787878787878787878"
	    "787878787878787878787878787878787878787878787878787878787878"
	    "\nerror 1009\n");
	assert_string_equal(render(buf, n, 0, 64, 120), render(buf, n, 0, 0,
	    0));
}

/* tests/data/ws_frame/CASE/{input,expected} */
static void
test_golden(void **state)
{
	const char	*src = getenv("top_srcdir");
	char		 dir[1024], path[1400], *want;
	uint8_t		*in;
	struct dirent	*de;
	DIR		*d;
	FILE		*f;
	long		 len, wlen;
	int		 cases = 0;

	(void)state;
	snprintf(dir, sizeof dir, "%s/tests/data/ws_frame", src ? src : ".");
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s/input", dir, de->d_name);
		assert_non_null(f = fopen(path, "rb"));
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		rewind(f);
		in = malloc((size_t)len + 1);
		assert_int_equal(fread(in, 1, (size_t)len, f), (size_t)len);
		fclose(f);
		snprintf(path, sizeof path, "%s/%s/expected", dir, de->d_name);
		assert_non_null(f = fopen(path, "rb"));
		fseek(f, 0, SEEK_END);
		wlen = ftell(f);
		rewind(f);
		want = calloc(1, (size_t)wlen + 1);
		assert_int_equal(fread(want, 1, (size_t)wlen, f), (size_t)wlen);
		fclose(f);
		print_message("golden %s\n", de->d_name);
		check_all_steps(in, (size_t)len, want);
		free(in);
		free(want);
		cases++;
	}
	closedir(d);
	assert_true(cases >= 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accept_key),
		cmocka_unit_test(test_write_header_rfc),
		cmocka_unit_test(test_parse_header),
		cmocka_unit_test(test_parse_header_lengths),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_close_parse),
		cmocka_unit_test(test_decode_stream),
		cmocka_unit_test(test_decoder_idle),
		cmocka_unit_test(test_decode_errors),
		cmocka_unit_test(test_decode_limits),
		cmocka_unit_test(test_golden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
