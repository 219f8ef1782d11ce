/* Unit tests: the topic tree (wildcards, '$', overlaps) and retained store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sinks/mqtt/topic.h"

static int
matches(const char *filter, const char *topic)
{
	struct topic_tree	 *t = topic_tree_create(NULL);
	struct topic_owner	  o = { 0 }, **vec;
	size_t			  n;

	topic_subscribe(t, filter, strlen(filter), &o, 1);
	n = topic_match(t, topic, strlen(topic), &vec);
	topic_tree_free(t);
	/* the pure matcher used by the ACL agrees with the tree */
	assert_int_equal(topic_matches(filter, topic), n == 1);
	return n == 1;
}

static void
test_wildcards(void **state)
{
	(void)state;
	assert_true(matches("a/b", "a/b"));
	assert_false(matches("a/b", "a/b/c"));
	assert_false(matches("a/b", "a"));
	assert_true(matches("a/+", "a/b"));
	assert_true(matches("a/+", "a/"));
	assert_false(matches("a/+", "a/b/c"));
	assert_false(matches("a/+", "a"));
	assert_true(matches("a/#", "a"));
	assert_true(matches("a/#", "a/b/c"));
	assert_true(matches("a/#", "a/"));
	assert_false(matches("a/#", "ab"));
	assert_true(matches("#", "a/b"));
	assert_true(matches("#", "/"));
	assert_true(matches("+/+", "/"));
	assert_true(matches("/+", "/x"));
	assert_false(matches("+", "/x"));
	assert_true(matches("+/b/#", "x/b"));
	assert_true(matches("a/+/#", "a/b"));
	assert_true(matches("a//b", "a//b"));
	assert_false(matches("a/b", "a//b"));
	/* [MQTT-4.7.2-1] */
	assert_false(matches("#", "$SYS/x"));
	assert_false(matches("+/x", "$SYS/x"));
	assert_true(matches("$SYS/#", "$SYS/x"));
	assert_true(matches("$SYS/+", "$SYS/x"));
	assert_true(matches("a/+", "a/$x"));
	assert_true(matches("a/#", "a/$x"));
}

static void
test_overlap_once_highest_qos(void **state)
{
	struct topic_tree	 *t = topic_tree_create(NULL);
	struct topic_owner	  a = { 0 }, b = { 0 }, **vec;
	size_t			  n;

	(void)state;
	assert_int_equal(topic_subscribe(t, "x/#", 3, &a, 0), 1);
	assert_int_equal(topic_subscribe(t, "x/+", 3, &a, 2), 1);
	assert_int_equal(topic_subscribe(t, "x/y", 3, &a, 1), 1);
	assert_int_equal(topic_subscribe(t, "x/y", 3, &b, 0), 1);
	assert_int_equal(topic_subscribe(t, "x/y", 3, &b, 1), 0);
	assert_int_equal(topic_subscription_count(t), 4);
	n = topic_match(t, "x/y", 3, &vec);
	assert_int_equal(n, 2);
	assert_true((vec[0] == &a && vec[1] == &b) ||
	    (vec[0] == &b && vec[1] == &a));
	assert_int_equal(a.qos, 2);
	assert_int_equal(b.qos, 1);
	n = topic_match(t, "x/y/z", 5, &vec);
	assert_int_equal(n, 1);
	assert_int_equal(a.qos, 0);
	assert_int_equal(topic_unsubscribe(t, "x/+", 3, &a), 0);
	assert_int_equal(topic_unsubscribe(t, "x/+", 3, &a), -1);
	assert_int_equal(topic_unsubscribe(t, "nope", 4, &a), -1);
	n = topic_match(t, "x/y", 3, &vec);
	assert_int_equal(n, 2);
	assert_int_equal(a.qos, 1);
	topic_unsubscribe(t, "x/#", 3, &a);
	topic_unsubscribe(t, "x/y", 3, &a);
	topic_unsubscribe(t, "x/y", 3, &b);
	assert_int_equal(topic_subscription_count(t), 0);
	assert_int_equal(topic_match(t, "x/y", 3, &vec), 0);
	topic_tree_free(t);
}

/* Many siblings: the sorted child array finds each one. */
static void
test_many(void **state)
{
	struct topic_tree	 *t = topic_tree_create(NULL);
	struct topic_owner	 *o, **vec;
	char			  buf[32];
	int			  i, len;

	(void)state;
	o = calloc(1000, sizeof *o);
	for (i = 0; i < 1000; i++) {
		len = snprintf(buf, sizeof buf, "p/%d/q", (i * 7919) % 1000);
		topic_subscribe(t, buf, (size_t)len, &o[i], 0);
	}
	for (i = 0; i < 1000; i++) {
		len = snprintf(buf, sizeof buf, "p/%d/q", (i * 7919) % 1000);
		assert_int_equal(topic_match(t, buf, (size_t)len, &vec), 1);
		assert_ptr_equal(vec[0], &o[i]);
	}
	for (i = 0; i < 1000; i += 2) {
		len = snprintf(buf, sizeof buf, "p/%d/q", (i * 7919) % 1000);
		assert_int_equal(topic_unsubscribe(t, buf, (size_t)len,
		    &o[i]), 0);
	}
	for (i = 0; i < 1000; i++) {
		len = snprintf(buf, sizeof buf, "p/%d/q", (i * 7919) % 1000);
		assert_int_equal(topic_match(t, buf, (size_t)len, &vec),
		    i % 2);
	}
	topic_tree_free(t);
	free(o);
}

static int	freed;

static void
count_free(void *msg)
{
	(void)msg;
	freed++;
}

static void
collect(void *msg, void *arg)
{
	char	*out = arg;

	strcat(out, msg);
	strcat(out, ",");
}

static char *
retained(struct topic_tree *t, const char *filter)
{
	static char	out[256];

	out[0] = '\0';
	topic_retain_match(t, filter, strlen(filter), collect, out);
	return out;
}

static void
test_retain(void **state)
{
	struct topic_tree	*t = topic_tree_create(count_free);

	(void)state;
	freed = 0;
	topic_retain_set(t, "a", 1, "A");
	topic_retain_set(t, "a/b", 3, "AB");
	topic_retain_set(t, "a/c/d", 5, "ACD");
	topic_retain_set(t, "$SYS/x", 6, "SYS");
	topic_retain_set(t, "/z", 2, "Z");
	assert_int_equal(topic_retain_count(t), 5);
	assert_string_equal(retained(t, "#"), "Z,A,AB,ACD,");
	assert_string_equal(retained(t, "a/#"), "A,AB,ACD,");
	assert_string_equal(retained(t, "a/+"), "AB,");
	assert_string_equal(retained(t, "+"), "A,");
	assert_string_equal(retained(t, "+/+"), "Z,AB,");
	assert_string_equal(retained(t, "a/+/d"), "ACD,");
	assert_string_equal(retained(t, "$SYS/#"), "SYS,");
	assert_string_equal(retained(t, "+/x"), "");
	assert_string_equal(retained(t, "a/b"), "AB,");
	assert_string_equal(retained(t, "nope/#"), "");
	/* replace and clear */
	topic_retain_set(t, "a/b", 3, "AB2");
	assert_int_equal(freed, 1);
	assert_string_equal(retained(t, "a/b"), "AB2,");
	topic_retain_set(t, "a/b", 3, NULL);
	assert_int_equal(freed, 2);
	assert_string_equal(retained(t, "a/#"), "A,ACD,");
	topic_retain_set(t, "never/set", 9, NULL);
	assert_int_equal(topic_retain_count(t), 4);
	topic_tree_free(t);
	assert_int_equal(freed, 6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_overlap_once_highest_qos),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_retain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
