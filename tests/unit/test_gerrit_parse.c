/* Unit tests: gerrit line parsing, line splitting, fingerprints, URLs,
 * and the golden files in tests/data/gerrit/<case>/{input,expected}. */
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
#include "sources/gerrit/gerrit_parse.h"

static int
parse(const char *line, char **topic, json_t **ev)
{
	return gerrit_parse_line((const uint8_t *)line, strlen(line),
	    "gerrit", topic, ev);
}

static void
expect_topic(const char *line, const char *want)
{
	char	*topic;
	json_t	*ev;

	assert_int_equal(parse(line, &topic, &ev), GERRIT_OK);
	assert_string_equal(topic, want);
	free(topic);
	json_decref(ev);
}

static void
test_topics(void **state)
{
	(void)state;
	expect_topic("{\"type\":\"x\",\"project\":\"a/b\","
	    "\"change\":{\"project\":\"c/d\"}}", "gerrit/a/b/x");
	expect_topic("{\"type\":\"x\",\"change\":{\"project\":\"c/d\"},"
	    "\"refUpdate\":{\"project\":\"e\"}}", "gerrit/c/d/x");
	expect_topic("{\"type\":\"ref-updated\",\"refUpdate\":"
	    "{\"project\":\"e/f\"}}", "gerrit/e/f/ref-updated");
	expect_topic("{\"type\":\"dropped-output\"}",
	    "gerrit//dropped-output");
	/* A non-string project is no project. */
	expect_topic("{\"type\":\"x\",\"project\":7}", "gerrit//x");
	expect_topic("{\"type\":\"x\",\"project\":{\"name\":\"p\"},"
	    "\"change\":{\"project\":\"c\"}}", "gerrit/c/x");
	expect_topic("{\"type\":\"a+b#\",\"project\":\"p#q+\"}",
	    "gerrit/p_q_/a_b_");
	expect_topic("  {\"type\":\"x\"}  \r\n", "gerrit//x");
}

static void
test_errors(void **state)
{
	char	*topic;
	json_t	*ev;

	(void)state;
	assert_int_equal(parse("", &topic, &ev), GERRIT_E_EMPTY);
	assert_int_equal(parse(" \r\n", &topic, &ev), GERRIT_E_EMPTY);
	assert_int_equal(parse("{", &topic, &ev), GERRIT_E_MALFORMED);
	assert_int_equal(parse("{\"type\":\"x\"} trailing", &topic, &ev),
	    GERRIT_E_MALFORMED);
	assert_int_equal(parse("[1]", &topic, &ev), GERRIT_E_NOT_OBJECT);
	assert_int_equal(parse("\"s\"", &topic, &ev), GERRIT_E_NOT_OBJECT);
	assert_int_equal(parse("{}", &topic, &ev), GERRIT_E_NO_TYPE);
	assert_int_equal(parse("{\"type\":\"\"}", &topic, &ev),
	    GERRIT_E_NO_TYPE);
	assert_int_equal(parse("{\"type\":3}", &topic, &ev),
	    GERRIT_E_NO_TYPE);
	assert_null(topic);
	assert_null(ev);
	/* A NUL inside the line is not JSON. */
	assert_int_equal(gerrit_parse_line((const uint8_t *)"{\"type\":\"x\"}"
	    "\0", 13, "gerrit", &topic, &ev), GERRIT_E_MALFORMED);
	assert_string_equal(gerrit_strerror(GERRIT_E_TOO_LARGE),
	    "line too long");
}

static void
test_order_and_numbers_kept(void **state)
{
	const char	*line = "{\"z\":1,\"type\":\"comment-added\","
	    "\"change\":{\"number\":\"123\",\"project\":\"p\"},"
	    "\"patchSet\":{\"number\":4},\"a\":[true,null,-2]}";
	char		*topic, *out;
	json_t		*ev;

	(void)state;
	assert_int_equal(parse(line, &topic, &ev), GERRIT_OK);
	out = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(out, line);
	assert_int_equal(gerrit_event_time(ev), 0);
	free(out);
	free(topic);
	json_decref(ev);
}

static void
test_event_time(void **state)
{
	char	*topic;
	json_t	*ev;

	(void)state;
	assert_int_equal(parse("{\"type\":\"x\",\"eventCreatedOn\":"
	    "1572010525}", &topic, &ev), GERRIT_OK);
	assert_int_equal(gerrit_event_time(ev), 1572010525);
	free(topic);
	json_decref(ev);
	assert_int_equal(parse("{\"type\":\"x\",\"eventCreatedOn\":\"1\"}",
	    &topic, &ev), GERRIT_OK);
	assert_int_equal(gerrit_event_time(ev), 0);
	free(topic);
	json_decref(ev);
}

static void
test_fingerprint(void **state)
{
	json_t	*a, *b, *c;

	(void)state;
	a = json_loads("{\"type\":\"x\",\"n\":1,\"o\":{\"k\":\"v\",\"l\":2}}",
	    0, NULL);
	b = json_loads("{\"o\":{\"l\":2,\"k\":\"v\"},\"n\":1,\"type\":\"x\"}",
	    0, NULL);
	c = json_loads("{\"type\":\"x\",\"n\":2,\"o\":{\"k\":\"v\",\"l\":2}}",
	    0, NULL);
	assert_true(gerrit_fingerprint(a) == gerrit_fingerprint(b));
	assert_true(gerrit_fingerprint(a) != gerrit_fingerprint(c));
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

/* Line splitter: collect what the callback sees. */
struct seen {
	char	lines[16][64];
	int	errs[16];
	int	n;
};

static void
seen_cb(const uint8_t *line, size_t len, int err, void *arg)
{
	struct seen	*s = arg;

	assert_true(s->n < 16);
	if (len > 63)
		len = 63;
	memcpy(s->lines[s->n], line, len);
	s->lines[s->n][len] = '\0';
	s->errs[s->n++] = err;
}

static void
feed(struct gerrit_lines *l, const char *p, struct seen *s)
{
	gerrit_lines_feed(l, (const uint8_t *)p, strlen(p), seen_cb, s);
}

static void
test_lines(void **state)
{
	struct gerrit_lines	l;
	struct seen		s;

	(void)state;
	memset(&s, 0, sizeof s);
	gerrit_lines_init(&l, 8);
	feed(&l, "ab\ncd", &s);
	assert_int_equal(s.n, 1);
	feed(&l, "e\n\nfg", &s);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.lines[0], "ab");
	assert_string_equal(s.lines[1], "cde");
	assert_string_equal(s.lines[2], "");
	/* 8 bytes fit, 9 do not; reported once, the rest skipped. */
	feed(&l, "hijkl", &s);		/* "fghijkl": 7 */
	feed(&l, "m", &s);		/* 8 */
	assert_int_equal(s.n, 3);
	feed(&l, "nopq", &s);		/* too long */
	assert_int_equal(s.n, 4);
	assert_int_equal(s.errs[3], GERRIT_E_TOO_LARGE);
	assert_string_equal(s.lines[3], "fghijklmnopq");
	feed(&l, "rstuvwxyz", &s);
	assert_int_equal(s.n, 4);
	feed(&l, "still\nok\n12345678\n123456789\nlast", &s);
	assert_int_equal(s.n, 7);
	assert_string_equal(s.lines[4], "ok");
	assert_int_equal(s.errs[4], 0);
	assert_string_equal(s.lines[5], "12345678");
	assert_int_equal(s.errs[6], GERRIT_E_TOO_LARGE);
	gerrit_lines_finish(&l, seen_cb, &s);
	assert_int_equal(s.n, 8);
	assert_string_equal(s.lines[7], "last");
	gerrit_lines_finish(&l, seen_cb, &s);
	assert_int_equal(s.n, 8);
	gerrit_lines_free(&l);
}

static void
test_lines_big(void **state)
{
	struct gerrit_lines	 l;
	struct seen		 s;
	size_t			 big = 1024 * 1024, i;
	char			*buf = fh_xmalloc(big + 1);

	(void)state;
	memset(&s, 0, sizeof s);
	gerrit_lines_init(&l, 16 * 1024 * 1024);
	memset(buf, 'x', big);
	buf[big] = '\n';
	for (i = 0; i <= big; i += 4096)
		gerrit_lines_feed(&l, (uint8_t *)buf + i,
		    big + 1 - i < 4096 ? big + 1 - i : 4096, seen_cb, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.errs[0], 0);
	gerrit_lines_free(&l);
	free(buf);
}

static void
test_events_log_url(void **state)
{
	char	*u;

	(void)state;
	u = gerrit_events_log_url("https://r.example/a/plugins/events-log/"
	    "events/", 1572010525, 1572014125);
	assert_string_equal(u, "https://r.example/a/plugins/events-log/"
	    "events/?t1=2019-10-25%2013%3A35%3A25;t2=2019-10-25%2014%3A35%3A25");
	free(u);
	u = gerrit_events_log_url("http://h/e?x=1", 0, 86400);
	assert_string_equal(u, "http://h/e?x=1&t1=1970-01-01%2000%3A00%3A00;"
	    "t2=1970-01-02%2000%3A00%3A00");
	free(u);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE	*f = fopen(path, "rb");
	char	*buf;
	long	 n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = fh_xmalloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void
test_golden(void **state)
{
	const char	*top = getenv("top_srcdir");
	char		*dir, *path, *input, *expected, *got, *topic, *out;
	struct dirent	*de;
	DIR		*d;
	json_t		*ev;
	size_t		 ilen, elen;
	int		 rc, ncases = 0;

	(void)state;
	dir = fh_xasprintf("%s/tests/data/gerrit", top ? top : "..");
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		path = fh_xasprintf("%s/%s/input", dir, de->d_name);
		input = slurp(path, &ilen);
		free(path);
		path = fh_xasprintf("%s/%s/expected", dir, de->d_name);
		expected = slurp(path, &elen);
		free(path);
		if (input == NULL || expected == NULL)
			fail_msg("case %s: missing input or expected",
			    de->d_name);
		rc = gerrit_parse_line((uint8_t *)input, ilen, "gerrit",
		    &topic, &ev);
		if (rc == GERRIT_OK) {
			out = json_dumps(ev, JSON_COMPACT |
			    JSON_PRESERVE_ORDER);
			got = fh_xasprintf("%s\n%s\n", topic, out);
			free(out);
			free(topic);
			json_decref(ev);
		} else
			got = fh_xasprintf("error: %s\n", gerrit_strerror(rc));
		if (strcmp(got, expected) != 0)
			fail_msg("case %s:\n got: %s\nwant: %s", de->d_name,
			    got, expected);
		free(got);
		free(input);
		free(expected);
		ncases++;
	}
	closedir(d);
	free(dir);
	assert_true(ncases >= 20);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topics),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_order_and_numbers_kept),
		cmocka_unit_test(test_event_time),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_lines_big),
		cmocka_unit_test(test_events_log_url),
		cmocka_unit_test(test_golden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
