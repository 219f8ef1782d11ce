/* Unit tests: the event log's filters, times, $replay/ form and base64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sinks/log/filter.h"

#define T2026	INT64_C(1796256000000000)	/* 2026-12-03T00:00:00Z */

static void
test_filter_valid(void **state)
{
	(void)state;
	assert_true(filter_is_valid("#"));
	assert_true(filter_is_valid("+"));
	assert_true(filter_is_valid("a/+/b/#"));
	assert_true(filter_is_valid("+/+"));
	assert_true(filter_is_valid("/"));
	assert_true(filter_is_valid("$SYS/#"));
	assert_false(filter_is_valid(""));
	assert_false(filter_is_valid("a/#/b"));
	assert_false(filter_is_valid("a#"));
	assert_false(filter_is_valid("a+/b"));
	assert_false(filter_is_valid("a/b+"));
	assert_false(filter_is_valid("\xff"));
}

static void
test_filter_matches(void **state)
{
	(void)state;
	assert_true(filter_matches("#", "a/b"));
	assert_true(filter_matches("a/#", "a"));
	assert_true(filter_matches("a/#", "a/b/c"));
	assert_true(filter_matches("a/+", "a/b"));
	assert_true(filter_matches("a/+", "a/"));
	assert_true(filter_matches("+/+", "/x"));
	assert_true(filter_matches("gerrit/+/x", "gerrit/p/x"));
	assert_false(filter_matches("a/+", "a/b/c"));
	assert_false(filter_matches("a/b", "a/bc"));
	assert_false(filter_matches("a/bc", "a/b"));
	assert_false(filter_matches("a/+/c", "a/b"));
	/* $-topics are never matched by a leading wildcard */
	assert_false(filter_matches("#", "$SYS/x"));
	assert_false(filter_matches("+/x", "$SYS/x"));
	assert_true(filter_matches("$SYS/#", "$SYS/x"));
	assert_true(filter_matches("$replay/+", "$replay/done"));
}

static void
test_time(void **state)
{
	char	buf[FILTER_TIME_MAX];
	int64_t	t;

	(void)state;
	assert_int_equal(filter_time_parse("2026-12-03T00:00:00Z", 0, &t), 0);
	assert_int_equal(t, T2026);
	assert_int_equal(filter_time_parse("2026-12-03t01:30:00+01:30", 0,
	    &t), 0);
	assert_int_equal(t, T2026);
	assert_int_equal(filter_time_parse("2026-12-02T23:00:00.5-01:00", 0,
	    &t), 0);
	assert_int_equal(t, T2026 + 500000);
	assert_int_equal(filter_time_parse("1970-01-01T00:00:00Z", 0, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(filter_time_parse("2024-02-29T00:00:00Z", 0, &t), 0);
	/* durations before now */
	assert_int_equal(filter_time_parse("1h", T2026, &t), 0);
	assert_int_equal(t, T2026 - INT64_C(3600000000));
	assert_int_equal(filter_time_parse("90s", T2026, &t), 0);
	assert_int_equal(t, T2026 - 90000000);
	/* bad */
	assert_int_equal(filter_time_parse("", 0, &t), -1);
	assert_int_equal(filter_time_parse("60", 0, &t), -1);
	assert_int_equal(filter_time_parse("1y", 0, &t), -1);
	assert_int_equal(filter_time_parse("2026-12-03", 0, &t), -1);
	assert_int_equal(filter_time_parse("2026-12-03T00:00:00", 0, &t), -1);
	assert_int_equal(filter_time_parse("2026-13-03T00:00:00Z", 0, &t), -1);
	assert_int_equal(filter_time_parse("2026-02-29T00:00:00Z", 0, &t), -1);
	assert_int_equal(filter_time_parse("2026-12-03T24:00:00Z", 0, &t), -1);
	assert_int_equal(filter_time_parse("2026-12-03T00:00:00.Z", 0, &t),
	    -1);
	assert_int_equal(filter_time_parse("2026-12-03T00:00:00Zx", 0, &t),
	    -1);
	assert_int_equal(filter_time_parse("2026-12-03T00:00:00+1:00", 0, &t),
	    -1);
	filter_time_format(T2026 + 123456, buf);
	assert_string_equal(buf, "2026-12-03T00:00:00.123456Z");
	filter_time_format(-1, buf);
	assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
}

static void
test_seq(void **state)
{
	uint64_t	s;

	(void)state;
	assert_int_equal(filter_seq_parse("0", &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(filter_seq_parse("123456789012345678", &s), 0);
	assert_true(s == UINT64_C(123456789012345678));
	assert_int_equal(filter_seq_parse("", &s), -1);
	assert_int_equal(filter_seq_parse("-1", &s), -1);
	assert_int_equal(filter_seq_parse("+1", &s), -1);
	assert_int_equal(filter_seq_parse("1 ", &s), -1);
	assert_int_equal(filter_seq_parse("1234567890123456789", &s), -1);
}

static void
test_replay_form(void **state)
{
	struct filter_replay	r;
	const char		*why;

	(void)state;
	assert_int_equal(filter_replay_parse("$replay/seq/12345/gerrit/#", 0,
	    &r, &why), 0);
	assert_true(r.by_seq);
	assert_true(r.after_seq == 12345);
	assert_string_equal(r.filter, "gerrit/#");
	assert_int_equal(filter_replay_parse(
	    "$replay/2026-12-03T00:00:00Z/+/change/#", 0, &r, &why), 0);
	assert_false(r.by_seq);
	assert_int_equal(r.since_us, T2026);
	assert_string_equal(r.filter, "+/change/#");
	assert_int_equal(filter_replay_parse("$replay/1h/#", T2026, &r, &why),
	    0);
	assert_int_equal(r.since_us, T2026 - INT64_C(3600000000));
	assert_string_equal(r.filter, "#");
	/* the filter may itself hold "seq" or a time-like level */
	assert_int_equal(filter_replay_parse("$replay/seq/0/seq/1", 0, &r,
	    &why), 0);
	assert_string_equal(r.filter, "seq/1");

	assert_int_equal(filter_replay_parse("$replay/", 0, &r, &why), -1);
	assert_int_equal(filter_replay_parse("$replay/1h", 0, &r, &why), -1);
	assert_int_equal(filter_replay_parse("$replay/1h/", 0, &r, &why), -1);
	assert_int_equal(filter_replay_parse("$replay/seq/x/a", 0, &r, &why),
	    -1);
	assert_int_equal(filter_replay_parse("$replay/seq/1", 0, &r, &why),
	    -1);
	assert_int_equal(filter_replay_parse("$replay/seq//a", 0, &r, &why),
	    -1);
	assert_int_equal(filter_replay_parse("$replay/now/a", 0, &r, &why),
	    -1);
	assert_int_equal(filter_replay_parse("$replay/1h/a/#/b", 0, &r, &why),
	    -1);
	assert_int_equal(filter_replay_parse("$replayx/1h/a", 0, &r, &why),
	    -1);
	assert_non_null(why);
}

static void
test_base64(void **state)
{
	static const struct {
		const char	*in, *out;
	} v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
	};
	char	out[16];
	uint8_t	dec[16];
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		filter_base64((const uint8_t *)v[i].in, strlen(v[i].in), out);
		assert_string_equal(out, v[i].out);
		assert_int_equal(filter_unbase64(v[i].out, strlen(v[i].out),
		    dec), (long)strlen(v[i].in));
		assert_memory_equal(dec, v[i].in, strlen(v[i].in));
	}
	assert_int_equal(filter_unbase64("Zg=", 3, dec), -1);
	assert_int_equal(filter_unbase64("Z===", 4, dec), -1);
	assert_int_equal(filter_unbase64("Zg=a", 4, dec), -1);
	assert_int_equal(filter_unbase64("Zg==Zg==", 8, dec), -1);
	assert_int_equal(filter_unbase64("Zm9v!A==", 8, dec), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_valid),
		cmocka_unit_test(test_filter_matches),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_seq),
		cmocka_unit_test(test_replay_form),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
