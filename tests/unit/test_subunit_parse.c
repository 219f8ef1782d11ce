/*
 * Unit tests: the streaming subunit v2 parser. The golden cases in
 * tests/data/subunit/ were written and summarized by python-subunit
 * (tests/data/subunit/generate.py); each is fed whole, byte by byte and in
 * odd-sized pieces, and must give the same summary every time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "sources/subunit/subunit_parse.h"

#define MAX_FAILING	50	/* as generate.py and the daemon */

static uint8_t *
read_file(const char *path, size_t *len)
{
	FILE	*f = fopen(path, "rb");
	uint8_t	*buf = NULL;
	size_t	 cap = 0, n;

	assert_non_null(f);
	*len = 0;
	for (;;) {
		if (*len == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = fread(buf + *len, 1, cap - *len, f);
		if (n == 0)
			break;
		*len += n;
	}
	fclose(f);
	return buf;
}

static json_t *
summarize(const uint8_t *buf, size_t len, size_t chunk)
{
	struct subunit_parser	*p = subunit_parser_create(MAX_FAILING, 1000);
	size_t			 off, n;
	json_t			*out;

	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		subunit_parser_feed(p, buf + off, n);
	}
	subunit_parser_finish(p);
	out = subunit_summary_json(subunit_parser_summary(p));
	subunit_parser_free(p);
	return out;
}

static void
check_case(const char *name)
{
	const char	*src = getenv("top_srcdir");
	static const size_t chunks[] = { (size_t)-1, 1, 2, 7, 4096 };
	char		 path[1024];
	uint8_t		*input;
	size_t		 len, i;
	json_t		*want, *got;
	json_error_t	 jerr;

	snprintf(path, sizeof path, "%s/tests/data/subunit/%s/input",
	    src ? src : ".", name);
	input = read_file(path, &len);
	snprintf(path, sizeof path, "%s/tests/data/subunit/%s/expected",
	    src ? src : ".", name);
	want = json_load_file(path, 0, &jerr);
	assert_non_null(want);
	for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
		if (chunks[i] == 1 && len > 100000)
			continue;	/* slow under ASan, and 7 covers it */
		got = summarize(input, len, chunks[i]);
		if (!json_equal(want, got)) {
			char *a = json_dumps(want, JSON_SORT_KEYS | JSON_INDENT(1));
			char *b = json_dumps(got, JSON_SORT_KEYS | JSON_INDENT(1));

			print_error("%s (chunk %zu):\nwant %s\ngot %s\n", name,
			    chunks[i], a, b);
			free(a);
			free(b);
			fail();
		}
		json_decref(got);
	}
	json_decref(want);
	free(input);
}

#define GOLDEN(fn, name)			\
static void					\
fn(void **state)				\
{						\
	(void)state;				\
	check_case(name);			\
}

GOLDEN(test_golden_pass, "pass")
GOLDEN(test_golden_fail, "fail")
GOLDEN(test_golden_enumeration, "enumeration")
GOLDEN(test_golden_parallel, "parallel")
GOLDEN(test_golden_big_attachment, "big-attachment")
GOLDEN(test_golden_many_failures, "many-failures")
GOLDEN(test_golden_bad_crc, "bad-crc")
GOLDEN(test_golden_truncated, "truncated")
GOLDEN(test_golden_text_between, "text-between")
GOLDEN(test_golden_not_subunit, "not-subunit")
GOLDEN(test_golden_empty, "empty")
GOLDEN(test_golden_subunit_run, "subunit-run")

/* Build one packet: flags, body; fills in the length and the CRC. */
static size_t
packet(uint8_t *out, uint16_t flags, const uint8_t *body, size_t blen)
{
	size_t		n = 0, total = 1 + 2 + blen + 4, lenlen;
	uint32_t	crc;

	lenlen = total + 1 <= 63 ? 1 : total + 2 <= 16383 ? 2 : 3;
	total += lenlen;
	out[n++] = 0xb3;
	out[n++] = (uint8_t)(flags >> 8);
	out[n++] = (uint8_t)flags;
	if (lenlen == 1)
		out[n++] = (uint8_t)total;
	else if (lenlen == 2) {
		out[n++] = (uint8_t)(0x40 | total >> 8);
		out[n++] = (uint8_t)total;
	} else {
		out[n++] = (uint8_t)(0x80 | total >> 16);
		out[n++] = (uint8_t)(total >> 8);
		out[n++] = (uint8_t)total;
	}
	memcpy(out + n, body, blen);
	n += blen;
	crc = (uint32_t)crc32(0L, out, (uInt)n);
	out[n++] = (uint8_t)(crc >> 24);
	out[n++] = (uint8_t)(crc >> 16);
	out[n++] = (uint8_t)(crc >> 8);
	out[n++] = (uint8_t)crc;
	return n;
}

static const struct subunit_summary *
parse_all(struct subunit_parser *p, const uint8_t *buf, size_t len)
{
	subunit_parser_feed(p, buf, len);
	subunit_parser_finish(p);
	return subunit_parser_summary(p);
}

/* The README's example: b3 2901 0c 03666f6f 08555f1b. */
static void
test_readme_example(void **state)
{
	static const uint8_t pkt[] = { 0xb3, 0x29, 0x01, 0x0c, 0x03, 'f',
	    'o', 'o', 0x08, 0x55, 0x5f, 0x1b };
	struct subunit_parser		*p = subunit_parser_create(5, 10);
	const struct subunit_summary	*s;

	(void)state;
	s = parse_all(p, pkt, sizeof pkt);
	assert_int_equal(s->packets, 1);
	assert_int_equal(s->status[SUBUNIT_EXISTS], 1);
	assert_int_equal(s->corrupt, 0);
	assert_int_equal(s->bytes, sizeof pkt);
	subunit_parser_free(p);
}

static void
test_bad_packets(void **state)
{
	uint8_t				 buf[256], body[64];
	struct subunit_parser		*p;
	const struct subunit_summary	*s;
	size_t				 n;

	(void)state;
	/* version 1 with a good CRC: rejected, the next packet is read */
	body[0] = 3, memcpy(body + 1, "foo", 3);
	n = packet(buf, 0x1903, body, 4);
	n += packet(buf + n, 0x2903, body, 4);
	p = subunit_parser_create(5, 10);
	s = parse_all(p, buf, n);
	assert_int_equal(s->corrupt, 1);
	assert_string_equal(s->error, "unsupported version");
	assert_int_equal(s->error_offset, 0);
	assert_int_equal(s->packets, 1);
	assert_int_equal(s->status[SUBUNIT_SUCCESS], 1);
	subunit_parser_free(p);

	/* a test id with a NUL, then one claiming more than the packet */
	body[0] = 3, memcpy(body + 1, "a\0b", 3);
	n = packet(buf, 0x2803, body, 4);
	body[0] = 9, memcpy(body + 1, "abc", 3);
	n += packet(buf + n, 0x2803, body, 4);
	p = subunit_parser_create(5, 10);
	s = parse_all(p, buf, n);
	assert_int_equal(s->corrupt, 2);
	assert_string_equal(s->error, "string contains a NUL byte");
	assert_int_equal(s->packets, 0);
	subunit_parser_free(p);

	/* invalid UTF-8 in a tag; file content longer than the packet */
	body[0] = 1, body[1] = 2, body[2] = 0xc3, body[3] = 0x28;
	n = packet(buf, 0x2083, body, 4);
	body[0] = 1, body[1] = 'f', body[2] = 40, body[3] = 'x';
	n += packet(buf + n, 0x2043, body, 4);
	p = subunit_parser_create(5, 10);
	s = parse_all(p, buf, n);
	assert_int_equal(s->corrupt, 2);
	assert_string_equal(s->error, "string is not valid UTF-8");
	subunit_parser_free(p);

	/* a 4-byte length and a length shorter than the header */
	memcpy(buf, "\xb3\x29\x01\xc0\x00\x00\x10" "\xb3\x29\x01\x05", 11);
	p = subunit_parser_create(5, 10);
	s = parse_all(p, buf, 11);
	assert_int_equal(s->corrupt, 2);
	assert_string_equal(s->error, "packet length longer than 3 bytes");
	subunit_parser_free(p);
}

static void
test_empty_strings_and_tags(void **state)
{
	uint8_t				 buf[256], body[64];
	struct subunit_parser		*p;
	const struct subunit_summary	*s;
	size_t				 n, b = 0;

	(void)state;
	/* timestamp, empty test id, 2 empty tags, empty MIME, empty file
	 * name with 0 bytes, empty route code, 3 trailing bytes */
	memcpy(body, "\x00\x00\x00\x10\x45\x00", 6), b = 6;	/* 16 s, 5 ns */
	body[b++] = 0;				/* id */
	body[b++] = 2, body[b++] = 0, body[b++] = 0;	/* tags */
	body[b++] = 0;				/* mime */
	body[b++] = 0, body[b++] = 0;		/* file name, length */
	body[b++] = 0;				/* route */
	body[b++] = 'x', body[b++] = 'y', body[b++] = 'z';
	n = packet(buf, 0x2000 | SUBUNIT_FLAG_TIMESTAMP | SUBUNIT_FLAG_TEST_ID |
	    SUBUNIT_FLAG_TAGS | SUBUNIT_FLAG_MIME | SUBUNIT_FLAG_FILE |
	    SUBUNIT_FLAG_ROUTE_CODE | SUBUNIT_FAIL, body, b);
	p = subunit_parser_create(5, 10);
	s = parse_all(p, buf, n);
	assert_int_equal(s->corrupt, 0);
	assert_int_equal(s->packets, 1);
	assert_int_equal(s->nfailing, 1);
	assert_string_equal(s->failing[0], "");
	assert_true(s->have_time);
	assert_int_equal(s->start.sec, 16);
	assert_int_equal(s->start.nsec, 0x0500);
	subunit_parser_free(p);
}

static void
test_field_limit(void **state)
{
	size_t				 blen = SUBUNIT_MAX_FIELDS + 10, n;
	uint8_t				*body = calloc(1, blen);
	uint8_t				*buf = calloc(1, blen + 64);
	struct subunit_parser		*p;
	const struct subunit_summary	*s;

	(void)state;
	/* a 65537-byte test id: over the limit, rejected, not a crash */
	body[0] = 0x80 | (SUBUNIT_MAX_FIELDS + 1) >> 16;
	body[1] = (uint8_t)((SUBUNIT_MAX_FIELDS + 1) >> 8);
	body[2] = (uint8_t)(SUBUNIT_MAX_FIELDS + 1);
	memset(body + 3, 'a', SUBUNIT_MAX_FIELDS + 1);
	n = packet(buf, 0x2803, body, SUBUNIT_MAX_FIELDS + 4);
	p = subunit_parser_create(5, 10);
	s = parse_all(p, buf, n);
	assert_int_equal(s->corrupt, 1);
	assert_string_equal(s->error, "strings exceed the 64 KiB limit");
	assert_int_equal(s->bytes, n);
	subunit_parser_free(p);
	free(body);
	free(buf);
}

static void
test_failing_ids_bounded(void **state)
{
	size_t				 idlen = 5000, n = 0, i;
	uint8_t				*body = malloc(idlen + 2);
	uint8_t				*buf = malloc(5 * (idlen + 64));
	struct subunit_parser		*p = subunit_parser_create(50, 10);
	const struct subunit_summary	*s;

	(void)state;
	/* five failures with 5000-byte ids: three fit in 16 KiB */
	body[0] = 0x40 | (uint8_t)(idlen >> 8);
	body[1] = (uint8_t)idlen;
	for (i = 0; i < 5; i++) {
		memset(body + 2, 'a' + (int)i, idlen);
		n += packet(buf + n, 0x2800 | SUBUNIT_FAIL, body, idlen + 2);
	}
	s = parse_all(p, buf, n);
	assert_int_equal(s->status[SUBUNIT_FAIL], 5);
	assert_int_equal(s->nfailing, 3);
	assert_int_equal(s->failing_omitted, 2);
	assert_int_equal(s->failing[2][0], 'c');
	subunit_parser_free(p);
	free(body);
	free(buf);
}

static void
test_gives_up(void **state)
{
	uint8_t			 junk[4096];
	struct subunit_parser	*p = subunit_parser_create(5, 10);
	size_t			 i;

	(void)state;
	/* 10-byte packets with bad CRCs, one after the other */
	for (i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)(i * 37);
	for (i = 0; i + 10 <= sizeof junk; i += 10)
		memcpy(junk + i, "\xb3\x20\x00\x0a", 4);
	assert_int_equal(subunit_parser_feed(p, junk, sizeof junk),
	    SUBUNIT_E_STOPPED);
	assert_true(subunit_parser_summary(p)->stopped);
	assert_int_equal(subunit_parser_summary(p)->corrupt, 10);
	assert_int_equal(subunit_parser_feed(p, junk, 1), SUBUNIT_E_STOPPED);
	subunit_parser_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_pass),
		cmocka_unit_test(test_golden_fail),
		cmocka_unit_test(test_golden_enumeration),
		cmocka_unit_test(test_golden_parallel),
		cmocka_unit_test(test_golden_big_attachment),
		cmocka_unit_test(test_golden_many_failures),
		cmocka_unit_test(test_golden_bad_crc),
		cmocka_unit_test(test_golden_truncated),
		cmocka_unit_test(test_golden_text_between),
		cmocka_unit_test(test_golden_not_subunit),
		cmocka_unit_test(test_golden_empty),
		cmocka_unit_test(test_golden_subunit_run),
		cmocka_unit_test(test_readme_example),
		cmocka_unit_test(test_bad_packets),
		cmocka_unit_test(test_empty_strings_and_tags),
		cmocka_unit_test(test_field_limit),
		cmocka_unit_test(test_failing_ids_bounded),
		cmocka_unit_test(test_gives_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
