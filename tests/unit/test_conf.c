/* Unit tests: the INI parser, schema tables and value parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/conf.h"

struct sample {
	char	*host;
	int	 port;
	bool	 on;
	size_t	 size;
	long	 ms;
	int	 qos;
};

static const struct fh_conf_var sample_vars[] = {
	FH_CONF_STR_REQ("host", struct sample, host),
	FH_CONF_INT("port", struct sample, port, "29418"),
	FH_CONF_BOOL("on", struct sample, on, "false"),
	FH_CONF_SIZE("size", struct sample, size, "1M"),
	FH_CONF_DURATION("wait", struct sample, ms, "30s"),
	FH_CONF_QOS("qos", struct sample, qos, "0"),
	FH_CONF_END
};

static const char *const sample_modes[] = { "off", "on", "auto", NULL };

struct bounded {
	int	 mode;
	int	 count;
};

static const struct fh_conf_var bounded_vars[] = {
	FH_CONF_ENUM("mode", struct bounded, mode, sample_modes, "auto"),
	FH_CONF_INT_RANGE("count", struct bounded, count, "4", 1, 256),
	FH_CONF_END
};

static struct fh_conf *
parse(const char *text, char **err)
{
	*err = NULL;
	return fh_conf_parse("t.conf", text, strlen(text), err);
}

static void
test_apply_defaults_and_values(void **state)
{
	struct sample		 s = { 0 };
	char			*err;
	struct fh_conf		*c;
	const struct fh_section	*sec;

	(void)state;
	c = parse("[source g]\nhost = example.org ; comment\non = yes\n"
	    "size = 2k\nwait = 5m\nqos = 2\n", &err);
	assert_non_null(c);
	sec = fh_conf_find(c, "source");
	assert_non_null(sec);
	assert_string_equal(fh_section_name(sec), "g");
	assert_int_equal(fh_conf_apply(sec, sample_vars, &s, &err), 0);
	assert_string_equal(s.host, "example.org");
	assert_int_equal(s.port, 29418);
	assert_true(s.on);
	assert_int_equal(s.size, 2048);
	assert_int_equal(s.ms, 300000);
	assert_int_equal(s.qos, 2);
	assert_null(fh_conf_unclaimed(c));
	fh_conf_clear(sample_vars, &s);
	fh_conf_free(c);
}

static void
expect_apply_error(const char *text, const char *want)
{
	struct sample	 s = { 0 };
	char		*err = NULL;
	struct fh_conf	*c = parse(text, &err);

	assert_non_null(c);
	assert_int_equal(fh_conf_apply(fh_conf_find(c, NULL), sample_vars, &s,
	    &err), -1);
	assert_non_null(err);
	if (strstr(err, want) == NULL)
		fail_msg("got '%s', want '%s'", err, want);
	free(err);
	fh_conf_clear(sample_vars, &s);
	fh_conf_free(c);
}

static void
test_apply_errors(void **state)
{
	(void)state;
	expect_apply_error("[s]\nhost=x\nbogus=1\n",
	    "t.conf:3: unknown key 'bogus' in [s]");
	expect_apply_error("[s]\nport=1\n",
	    "t.conf:1: missing required key 'host'");
	expect_apply_error("[s]\nhost=x\nport=12ab\n",
	    "t.conf:3: bad value '12ab' for 'port'");
	expect_apply_error("[s]\nhost=x\nqos=3\n", "t.conf:3: bad value '3'");
	expect_apply_error("[s]\nhost=x\non=maybe\n", "bad value 'maybe'");
	expect_apply_error("[s]\nhost=x\nsize=1T\n", "bad value '1T'");
	expect_apply_error("[s]\nhost=\n", "'host' must not be empty");
	/* A repeated key is refused by the schema, at its second line. */
	expect_apply_error("[s]\nhost=x\nport=1\nport=2\n",
	    "t.conf:4: duplicate key 'port'");
}

/* Keys that may repeat come back in file order, and are claimed. */
static void
test_repeated_keys(void **state)
{
	struct sample		 s = { 0 };
	char			*err;
	struct fh_conf		*c;
	const struct fh_section	*sec;
	int			 line = 0;

	(void)state;
	c = parse("[b]\nhost = h\ntopic = a out\ntopic = b in\n", &err);
	assert_non_null(c);
	sec = fh_conf_find(c, "b");
	assert_string_equal(fh_section_get_nth(sec, "topic", 0, &line),
	    "a out");
	assert_int_equal(line, 3);
	assert_string_equal(fh_section_get_nth(sec, "topic", 1, &line),
	    "b in");
	assert_int_equal(line, 4);
	assert_null(fh_section_get_nth(sec, "topic", 2, NULL));
	assert_int_equal(fh_conf_apply(sec, sample_vars, &s, &err), 0);
	fh_conf_clear(sample_vars, &s);
	fh_conf_free(c);
}

/* Enums come back as the index of their name, bounded ints in range;
 * anything else names the key and what it takes. */
static void
test_enum_and_range(void **state)
{
	struct bounded	 b;
	struct fh_conf	*c;
	char		*err;
	size_t		 i;
	static const struct {
		const char	*text;
		const char	*want;
	} bad[] = {
		{ "[s]\nmode = maybe\n",
		  "t.conf:2: bad mode 'maybe': expected off, on or auto" },
		{ "[s]\nmode = ON\n", "t.conf:2: bad mode 'ON'" },
		{ "[s]\ncount = 0\n", "t.conf:2: count must be 1..256" },
		{ "[s]\ncount = 257\n", "t.conf:2: count must be 1..256" },
		{ "[s]\ncount = many\n", "t.conf:2: count must be 1..256" },
	};

	(void)state;
	memset(&b, 0, sizeof b);
	assert_int_equal(fh_conf_apply(NULL, bounded_vars, &b, &err), 0);
	assert_int_equal(b.mode, 2);
	assert_int_equal(b.count, 4);
	c = parse("[s]\nmode = off\ncount = 256\n", &err);
	assert_int_equal(fh_conf_apply(fh_conf_find(c, "s"), bounded_vars, &b,
	    &err), 0);
	assert_int_equal(b.mode, 0);
	assert_int_equal(b.count, 256);
	fh_conf_free(c);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		c = parse(bad[i].text, &err);
		assert_non_null(c);
		err = NULL;
		assert_int_equal(fh_conf_apply(fh_conf_find(c, "s"),
		    bounded_vars, &b, &err), -1);
		if (err == NULL || strstr(err, bad[i].want) == NULL)
			fail_msg("%s: got '%s', want '%s'", bad[i].text, err,
			    bad[i].want);
		free(err);
		fh_conf_free(c);
	}
}

/* fh_conf_error points at the key, the section header, or "default". */
static void
test_conf_error(void **state)
{
	struct fh_conf	*c;
	char		*err = NULL;

	(void)state;
	c = parse("[s]\na = 1\nb = 2\n", &err);
	assert_int_equal(fh_conf_error(&err, fh_conf_find(c, "s"), "b",
	    "b is %d too many", 1), -1);
	assert_string_equal(err, "t.conf:3: b is 1 too many");
	free(err);
	fh_conf_error(&err, fh_conf_find(c, "s"), "nope", "whole section");
	assert_string_equal(err, "t.conf:1: whole section");
	free(err);
	fh_conf_error(&err, NULL, "x", "built in");
	assert_string_equal(err, "default: built in");
	free(err);
	fh_conf_free(c);
}

static void
expect_parse_error(const char *text, const char *want)
{
	char		*err = NULL;
	struct fh_conf	*c = parse(text, &err);

	assert_null(c);
	assert_non_null(err);
	if (strstr(err, want) == NULL)
		fail_msg("got '%s', want '%s'", err, want);
	free(err);
}

static void
test_parse_errors(void **state)
{
	(void)state;
	expect_parse_error("x = 1\n", "t.conf:1: key outside of any section");
	expect_parse_error("[a]\n[a]\n", "t.conf:2: duplicate section 'a'");
	expect_parse_error("[a\n", "t.conf:1: malformed section header");
	expect_parse_error("[a]\njunk\n", "t.conf:2: expected 'key = value'");
	expect_parse_error("[a b c]\n", "t.conf:1: bad section name");
}

static void
test_comments_keep_url_fragments(void **state)
{
	char		*err;
	struct fh_conf	*c;

	(void)state;
	c = parse("# top\n[a]\nurl = http://h/p#frag ; c\n", &err);
	assert_non_null(c);
	assert_string_equal(fh_section_get(fh_conf_find(c, "a"), "url"),
	    "http://h/p#frag");
	fh_conf_free(c);
}

static void
want_value(const char *line, const char *want)
{
	char		*err = NULL, *text = NULL;
	struct fh_conf	*c;
	size_t		 n = strlen(line) + 16;

	text = malloc(n);
	assert_non_null(text);
	snprintf(text, n, "[a]\n%s\n", line);
	c = parse(text, &err);
	if (c == NULL)
		fail_msg("%s: %s", line, err);
	if (strcmp(fh_section_get(fh_conf_find(c, "a"), "v"), want) != 0)
		fail_msg("%s: got '%s', want '%s'", line,
		    fh_section_get(fh_conf_find(c, "a"), "v"), want);
	fh_conf_free(c);
	free(text);
}

/* docs/config.md: a value that is exactly '#' is the MQTT wildcard; a
 * '#' or ';' after white space otherwise starts a comment; a '#' inside
 * a word never does. */
static void
test_hash_values(void **state)
{
	char		*err = NULL;
	struct fh_conf	*c;

	(void)state;
	want_value("v = #", "#");
	want_value("v=#", "#");
	want_value("v = #   ", "#");
	want_value("v = # ; every topic", "#");
	want_value("v = #\t# every topic", "#");
	want_value("v = # every topic", "");
	want_value("v = #, a/b", "");
	want_value("v =", "");
	want_value("v = ; nothing", "");
	want_value("v = a/#,b/# # two", "a/#,b/#");
	want_value("v = a/# ; two", "a/#");
	want_value("v = x #y", "x");
	want_value("v = http://h/p#frag", "http://h/p#frag");
	/* full-line comments, also indented, and one that holds '= #' */
	c = parse("# v = #\n  ; x = #\n\t# [b]\n[a]\n# v = 1\nv = 2\n",
	    &err);
	assert_non_null(c);
	assert_string_equal(fh_section_get(fh_conf_find(c, "a"), "v"), "2");
	assert_null(fh_conf_next(c, fh_conf_find(c, "a"), NULL));
	fh_conf_free(c);
}

/* Every error of the file, one a line; not the keys under a bad
 * header; and every bad key of a section. */
static void
test_all_errors_reported(void **state)
{
	struct sample	 s = { 0 };
	char		*err = NULL;
	struct fh_conf	*c;
	int		 i, n;

	(void)state;
	c = parse("x = 1\n[a]\njunk\n[b\ny = 2\n[c]\n[a]\n", &err);
	assert_null(c);
	assert_non_null(err);
	assert_string_equal(err, "t.conf:1: key outside of any section 'x'\n"
	    "t.conf:3: expected 'key = value'\n"
	    "t.conf:4: malformed section header\n"
	    "t.conf:7: duplicate section 'a'");
	free(err);

	c = parse("[s]\nbogus = 1\nport = 12ab\nqos = 3\n", &err);
	assert_non_null(c);
	assert_int_equal(fh_conf_apply(fh_conf_find(c, "s"), sample_vars, &s,
	    &err), -1);
	assert_string_equal(err, "t.conf:2: unknown key 'bogus' in [s]\n"
	    "t.conf:3: bad value '12ab' for 'port': expected an integer\n"
	    "t.conf:4: bad value '3' for 'qos': expected 0, 1 or 2\n"
	    "t.conf:1: missing required key 'host' in [s]");
	free(err);
	fh_conf_clear(sample_vars, &s);
	fh_conf_free(c);

	/* bounded: a file of junk does not give a million lines */
	{
		char	 big[200 * 5 + 8];

		strcpy(big, "[a]\n");
		for (i = 0; i < 200; i++)
			strcat(big, "junk\n");
		c = parse(big, &err);
		assert_null(c);
		for (n = 1, i = 0; err[i] != '\0'; i++)
			n += err[i] == '\n';
		assert_int_equal(n, 51);	/* 50 and the note */
		assert_non_null(strstr(err, "(more errors not shown)"));
		free(err);
	}
}

static void
test_value_parsers(void **state)
{
	size_t	 sz;
	long	 ms;
	char	*host;
	int	 port;
	bool	 b;

	(void)state;
	assert_int_equal(fh_parse_size("1G", &sz), 0);
	assert_int_equal(sz, 1024UL * 1024 * 1024);
	assert_int_equal(fh_parse_size("-1", &sz), -1);
	assert_int_equal(fh_parse_duration("1500ms", &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(fh_parse_duration("2h", &ms), 0);
	assert_int_equal(ms, 7200000);
	assert_int_equal(fh_parse_duration("10", &ms), 0);
	assert_int_equal(ms, 10000);
	assert_int_equal(fh_parse_duration("s", &ms), -1);
	/* Found by fuzz_conf: a bare number times 1000 wrapped around. */
	assert_int_equal(fh_parse_duration("184467447073705161", &ms), -1);
	assert_int_equal(fh_parse_duration("9223372036854776s", &ms), -1);
	assert_int_equal(fh_parse_duration("9223372036854775ms", &ms), 0);
	assert_int_equal(fh_parse_size("17179869184G", &sz), -1);
	assert_int_equal(fh_parse_bool("Off", &b), 0);
	assert_false(b);
	assert_int_equal(fh_parse_hostport("[::1]:8883", &host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 8883);
	free(host);
	assert_int_equal(fh_parse_hostport("0.0.0.0:1883", &host, &port), 0);
	assert_string_equal(host, "0.0.0.0");
	free(host);
	assert_int_equal(fh_parse_hostport("::1:8883", &host, &port), -1);
	assert_int_equal(fh_parse_hostport("h:70000", &host, &port), -1);
	assert_int_equal(fh_parse_hostport("h", &host, &port), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply_defaults_and_values),
		cmocka_unit_test(test_apply_errors),
		cmocka_unit_test(test_repeated_keys),
		cmocka_unit_test(test_enum_and_range),
		cmocka_unit_test(test_conf_error),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_comments_keep_url_fragments),
		cmocka_unit_test(test_hash_values),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_value_parsers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
