/* Unit tests: the Gearman packet codec, with gearmand PROTOCOL's bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sources/subunit/gearman_proto.h"

#define ARG(s)	{ (const uint8_t *)(s), sizeof(s) - 1 }

/* From gearmand's PROTOCOL: CAN_DO reverse. */
static const uint8_t can_do_reverse[] = {
	0x00, 'R', 'E', 'Q', 0, 0, 0, 1, 0, 0, 0, 7,
	'r', 'e', 'v', 'e', 'r', 's', 'e'
};
/* JOB_ASSIGN H:lap:1 reverse test. */
static const uint8_t job_assign[] = {
	0x00, 'R', 'E', 'S', 0, 0, 0, 0x0b, 0, 0, 0, 0x14,
	'H', ':', 'l', 'a', 'p', ':', '1', 0, 'r', 'e', 'v', 'e', 'r', 's',
	'e', 0, 't', 'e', 's', 't'
};
/* WORK_COMPLETE H:lap:1 tset. */
static const uint8_t work_complete[] = {
	0x00, 'R', 'E', 'Q', 0, 0, 0, 0x0d, 0, 0, 0, 0x0c,
	'H', ':', 'l', 'a', 'p', ':', '1', 0, 't', 's', 'e', 't'
};

static void
test_encode_protocol_examples(void **state)
{
	uint8_t			 out[64];
	struct gearman_arg	 a1[] = { ARG("reverse") };
	struct gearman_arg	 a2[] = { ARG("H:lap:1"), ARG("reverse"),
				    ARG("test") };
	struct gearman_arg	 a3[] = { ARG("H:lap:1"), ARG("tset") };

	(void)state;
	assert_int_equal(gearman_encode(out, sizeof out, GEARMAN_REQ,
	    GEARMAN_CAN_DO, a1, 1), sizeof can_do_reverse);
	assert_memory_equal(out, can_do_reverse, sizeof can_do_reverse);
	assert_int_equal(gearman_encode(out, sizeof out, GEARMAN_RES,
	    GEARMAN_JOB_ASSIGN, a2, 3), sizeof job_assign);
	assert_memory_equal(out, job_assign, sizeof job_assign);
	assert_int_equal(gearman_encode(out, sizeof out, GEARMAN_REQ,
	    GEARMAN_WORK_COMPLETE, a3, 2), sizeof work_complete);
	assert_memory_equal(out, work_complete, sizeof work_complete);
	/* too small: the size comes back, nothing is written */
	memset(out, 0xaa, sizeof out);
	assert_int_equal(gearman_encode(out, 10, GEARMAN_REQ,
	    GEARMAN_CAN_DO, a1, 1), sizeof can_do_reverse);
	assert_int_equal(out[0], 0xaa);
	/* no arguments: a bare header */
	assert_int_equal(gearman_encode(out, sizeof out, GEARMAN_REQ,
	    GEARMAN_GRAB_JOB_UNIQ, NULL, 0), GEARMAN_HEADER_LEN);
	assert_memory_equal(out, "\0REQ\0\0\0\x1e\0\0\0\0", 12);
}

static void
test_parse_and_split(void **state)
{
	struct gearman_packet	pkt;
	struct gearman_arg	args[4];
	size_t			i;

	(void)state;
	assert_int_equal(gearman_parse(job_assign, sizeof job_assign, 1024,
	    &pkt), sizeof job_assign);
	assert_int_equal(pkt.magic, GEARMAN_RES);
	assert_int_equal(pkt.type, GEARMAN_JOB_ASSIGN);
	assert_int_equal(pkt.size, 0x14);
	assert_int_equal(gearman_type_nargs(pkt.type), 3);
	assert_string_equal(gearman_type_name(pkt.type), "JOB_ASSIGN");
	assert_int_equal(gearman_split(&pkt, args, 3), 0);
	assert_int_equal(args[0].len, 7);
	assert_memory_equal(args[0].p, "H:lap:1", 7);
	assert_memory_equal(args[1].p, "reverse", 7);
	assert_int_equal(args[2].len, 4);
	assert_memory_equal(args[2].p, "test", 4);
	/* one argument more than there are NULs: an error */
	assert_int_equal(gearman_split(&pkt, args, 4), GEARMAN_E_ARGS);
	/* the last argument keeps its NULs */
	assert_int_equal(gearman_split(&pkt, args, 2), 0);
	assert_int_equal(args[1].len, 12);
	/* every proper prefix wants more */
	for (i = 0; i < sizeof job_assign; i++)
		assert_int_equal(gearman_parse(job_assign, i, 1024, &pkt), 0);
	/* with trailing bytes only the first packet is taken */
	{
		uint8_t two[sizeof can_do_reverse * 2];

		memcpy(two, can_do_reverse, sizeof can_do_reverse);
		memcpy(two + sizeof can_do_reverse, can_do_reverse,
		    sizeof can_do_reverse);
		assert_int_equal(gearman_parse(two, sizeof two, 1024, &pkt),
		    sizeof can_do_reverse);
		assert_int_equal(pkt.magic, GEARMAN_REQ);
	}
}

static void
test_parse_errors(void **state)
{
	struct gearman_packet	pkt;
	uint8_t			buf[16];

	(void)state;
	/* the text admin protocol, or garbage: fails on the first byte */
	assert_int_equal(gearman_parse((const uint8_t *)"s", 1, 1024, &pkt),
	    GEARMAN_E_MAGIC);
	assert_int_equal(gearman_parse((const uint8_t *)"\0RE", 3, 1024,
	    &pkt), 0);
	assert_int_equal(gearman_parse((const uint8_t *)"\0REX", 4, 1024,
	    &pkt), GEARMAN_E_MAGIC);
	assert_int_equal(gearman_parse((const uint8_t *)"\0RX", 3, 1024,
	    &pkt), GEARMAN_E_MAGIC);
	/* a size over the limit fails as soon as the header is in */
	memcpy(buf, "\0RES\0\0\0\x0b\0\x10\0\0", 12);
	assert_int_equal(gearman_parse(buf, 12, 1024, &pkt),
	    GEARMAN_E_TOO_LARGE);
	assert_int_equal(gearman_parse(buf, 12, 0x100000, &pkt), 0);
	/* zero-size packets */
	memcpy(buf, "\0RES\0\0\0\x0a\0\0\0\0", 12);
	assert_int_equal(gearman_parse(buf, 12, 0, &pkt), 12);
	assert_int_equal(pkt.type, GEARMAN_NO_JOB);
	assert_int_equal(gearman_split(&pkt, NULL, 0), 0);
	assert_int_equal(gearman_type_nargs(pkt.type), 0);
	assert_int_equal(gearman_type_nargs(5), -1);
	assert_int_equal(gearman_type_nargs(0xffffffffu), -1);
	assert_string_equal(gearman_type_name(99), "UNKNOWN");
}

static void
test_roundtrip_all_types(void **state)
{
	struct gearman_arg	args[GEARMAN_MAX_ARGS], got[GEARMAN_MAX_ARGS];
	struct gearman_packet	pkt;
	uint8_t			out[256];
	const char		*words[] = { "H:host:42", "push-subunit",
				    "uniq", "3", "4" };
	uint32_t		type;
	int			n, i;
	size_t			len;

	(void)state;
	for (type = 0; type < 64; type++) {
		if ((n = gearman_type_nargs(type)) < 0)
			continue;
		for (i = 0; i < n; i++) {
			args[i].p = (const uint8_t *)words[i];
			args[i].len = strlen(words[i]);
		}
		len = gearman_encode(out, sizeof out, GEARMAN_REQ, type,
		    args, (size_t)n);
		assert_int_equal(gearman_parse(out, len, 1024, &pkt),
		    (ssize_t)len);
		assert_int_equal(pkt.type, type);
		assert_int_equal(gearman_split(&pkt, got, (size_t)n), 0);
		for (i = 0; i < n; i++) {
			assert_int_equal(got[i].len, args[i].len);
			assert_memory_equal(got[i].p, args[i].p, args[i].len);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_protocol_examples),
		cmocka_unit_test(test_parse_and_split),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_roundtrip_all_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
