/*
 * Unit tests: Launchpad mail -> events, and the golden cases in
 * tests/data/launchpad/<case>/{input,expected}. FH_GOLDEN_UPDATE=1
 * rewrites the expected files (review the diff before committing).
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
#include <jansson.h>

#include "sources/launchpad/lp_parse.h"

static const struct lp_parse_opts opts = { "launchpad", 256 * 1024 };

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
	buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static json_t *
parse(const char *mail, int *kind)
{
	json_t	*ev;

	*kind = lp_parse_mail((const uint8_t *)mail, strlen(mail), &opts,
	    &ev);
	return ev;
}

static const char *
str(json_t *ev, size_t i, const char *key)
{
	json_t	*p = json_object_get(json_array_get(ev, i), "payload");

	return json_string_value(json_object_get(p, key));
}

static const char *
topic(json_t *ev, size_t i)
{
	return json_string_value(json_object_get(json_array_get(ev, i),
	    "topic"));
}

#define LP_HDR "X-Generated-By: Launchpad (canonical.com)\r\n" \
	"X-Launchpad-Notification-Type: bug\r\n"

static void
test_bug_minimal(void **state)
{
	int	 kind;
	json_t	*ev, *p;

	(void)state;
	ev = parse(LP_HDR "X-Launchpad-Bug: product=qemu; status=New; "
	    "importance=Undecided; assignee=None;\r\n"
	    "X-Launchpad-Bug-Commenters: cuser2\r\n"
	    "X-Launchpad-Bug-Reporter: Chen Zhang (cuser2)\r\n"
	    "Subject: [Bug 1827772] [NEW] [RFC] dma buf\r\n\r\nhello=\r\n",
	    &kind);
	assert_int_equal(kind, LP_MAIL_BUG);
	assert_int_equal(json_array_size(ev), 1);
	assert_string_equal(topic(ev, 0), "launchpad/qemu/bug/1827772");
	assert_string_equal(str(ev, 0, "project"), "qemu");
	assert_string_equal(str(ev, 0, "assignee"), "None");
	assert_string_equal(str(ev, 0, "bug-number"), "1827772");
	assert_string_equal(str(ev, 0, "body"), "hello=\n");
	p = json_object_get(json_array_get(ev, 0), "payload");
	assert_true(json_is_null(json_object_get(p, "bug-modifier")));
	assert_null(json_object_get(p, "tags"));
	assert_int_equal(json_array_size(json_object_get(p, "commenters")),
	    1);
	/* lpmqtt's key order */
	assert_string_equal(json_object_iter_key(json_object_iter(p)),
	    "event-type");
	json_decref(ev);
}

static void
test_one_event_per_task(void **state)
{
	int	kind;
	json_t	*ev;

	(void)state;
	ev = parse(LP_HDR "X-Launchpad-Bug: product=nova; status=New;\r\n"
	    "X-Launchpad-Bug: product=glance; status=Invalid;\r\n"
	    "X-Launchpad-Bug: distribution=ubuntu; sourcepackage=nova;\r\n"
	    "Subject: [Bug 7] x\r\n\r\n", &kind);
	assert_int_equal(json_array_size(ev), 3);
	assert_string_equal(topic(ev, 0), "launchpad/nova/bug/7");
	assert_string_equal(topic(ev, 1), "launchpad/glance/bug/7");
	assert_string_equal(str(ev, 1, "status"), "Invalid");
	assert_string_equal(topic(ev, 2), "launchpad/ubuntu/bug/7");
	assert_null(str(ev, 2, "project"));
	json_decref(ev);
}

static void
test_topic_truncation(void **state)
{
	json_t	*p;
	char	*t;

	(void)state;
	p = json_pack("{s:s,s:s,s:s}", "project", "tempest", "event-type",
	    "bug", "bug-number", "124321");
	t = lp_parse_topic("launchpad", p);
	assert_string_equal(t, "launchpad/tempest/bug/124321");
	free(t);
	json_object_del(p, "event-type");
	t = lp_parse_topic("launchpad", p);
	assert_string_equal(t, "launchpad/tempest");
	free(t);
	json_object_set_new(p, "event-type", json_string("bug"));
	json_object_del(p, "bug-number");
	t = lp_parse_topic("launchpad", p);
	assert_string_equal(t, "launchpad/tempest/bug");
	free(t);
	json_object_del(p, "project");
	t = lp_parse_topic("launchpad", p);
	assert_string_equal(t, "launchpad");
	free(t);
	/* no wildcards or separators from a header into a topic level */
	json_object_set_new(p, "project", json_string("a/b+c#"));
	t = lp_parse_topic("lp", p);
	assert_string_equal(t, "lp/a_b_c_/bug");
	free(t);
	json_decref(p);
}

static void
test_bug_number_fallback(void **state)
{
	int	kind;
	json_t	*ev;

	(void)state;
	ev = parse(LP_HDR "Subject: [Qemu-devel] [Bug 42] Re: x\r\n\r\n",
	    &kind);
	assert_string_equal(str(ev, 0, "bug-number"), "42");
	json_decref(ev);
	ev = parse(LP_HDR "Subject: no number\r\n"
	    "Reply-To: Bug 99 <99@bugs.launchpad.net>\r\n\r\n", &kind);
	assert_string_equal(str(ev, 0, "bug-number"), "99");
	assert_string_equal(topic(ev, 0), "launchpad");
	json_decref(ev);
}

static void
test_reserved_keys(void **state)
{
	int	kind;
	json_t	*ev;

	(void)state;
	ev = parse(LP_HDR "X-Launchpad-Bug: product=x; event-type=evil; "
	    "body=evil; =novalue; noequals;\r\nSubject: [Bug 1] y\r\n\r\nB",
	    &kind);
	assert_string_equal(str(ev, 0, "event-type"), "bug");
	assert_string_equal(str(ev, 0, "body"), "B");
	json_decref(ev);
}

static void
test_foreign_and_other(void **state)
{
	int	kind;
	json_t	*ev;

	(void)state;
	ev = parse("From: a@b\r\nSubject: hi\r\n\r\nbody", &kind);
	assert_int_equal(kind, LP_MAIL_FOREIGN);
	assert_int_equal(json_array_size(ev), 0);
	json_decref(ev);
	ev = parse("", &kind);
	assert_int_equal(kind, LP_MAIL_FOREIGN);
	json_decref(ev);
	ev = parse("X-Generated-By: Launchpad\r\n"
	    "X-Launchpad-Notification-Type: code-review\r\n"
	    "x-launchpad-project: nova\r\n\r\nmp", &kind);
	assert_int_equal(kind, LP_MAIL_OTHER);
	assert_string_equal(topic(ev, 0), "launchpad");
	assert_string_equal(str(ev, 0, "X-Launchpad-Notification-Type"),
	    "code-review");
	assert_string_equal(str(ev, 0, "x-launchpad-project"), "nova");
	json_decref(ev);
}

static void
test_body_truncated_on_char(void **state)
{
	struct lp_parse_opts	 o = { "launchpad", 5 };
	json_t			*ev;
	const char		*m = LP_HDR "\r\nabcd\xc3\xa9xyz";

	(void)state;
	lp_parse_mail((const uint8_t *)m, strlen(m), &o, &ev);
	assert_string_equal(str(ev, 0, "body"), "abcd");
	assert_true(json_is_true(json_object_get(json_object_get(
	    json_array_get(ev, 0), "payload"), "body-truncated")));
	json_decref(ev);
}

static void
test_golden(void **state)
{
	const char	*src = getenv("top_srcdir");
	char		 dir[2048], path[4400];
	DIR		*d;
	struct dirent	*de;
	int		 cases = 0, failed = 0;

	(void)state;
	snprintf(dir, sizeof dir, "%s/tests/data/launchpad",
	    src != NULL ? src : ".");
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		char	*in, *want, *got;
		size_t	 inlen, wantlen;
		json_t	*ev;
		FILE	*f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s/input", dir, de->d_name);
		if ((in = slurp(path, &inlen)) == NULL)
			continue;
		lp_parse_mail((const uint8_t *)in, inlen, &opts, &ev);
		got = json_dumps(ev, JSON_INDENT(2));
		json_decref(ev);
		snprintf(path, sizeof path, "%s/%s/expected", dir,
		    de->d_name);
		if (getenv("FH_GOLDEN_UPDATE") != NULL &&
		    (f = fopen(path, "w")) != NULL) {
			fprintf(f, "%s\n", got);
			fclose(f);
		}
		want = slurp(path, &wantlen);
		if (want == NULL || wantlen != strlen(got) + 1 ||
		    memcmp(want, got, wantlen - 1) != 0) {
			fprintf(stderr, "golden case %s differs\n",
			    de->d_name);
			failed++;
		}
		cases++;
		free(want);
		free(got);
		free(in);
	}
	closedir(d);
	assert_true(cases >= 10);
	assert_int_equal(failed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bug_minimal),
		cmocka_unit_test(test_one_event_per_task),
		cmocka_unit_test(test_topic_truncation),
		cmocka_unit_test(test_bug_number_fallback),
		cmocka_unit_test(test_reserved_keys),
		cmocka_unit_test(test_foreign_and_other),
		cmocka_unit_test(test_body_truncated_on_char),
		cmocka_unit_test(test_golden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
