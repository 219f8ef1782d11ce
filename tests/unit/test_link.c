/* Unit tests: a bridge's topic matching (MQTT 4.7 rules). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/mqtt/packet.h"
#include "sinks/bridge/link.h"

static bool
match(const char *f, const char *t)
{
	return mqtt_topic_matches(f, t, strlen(t));
}

static void
test_topic_match(void **state)
{
	(void)state;
	assert_true(match("a/b", "a/b"));
	assert_false(match("a/b", "a/bc"));
	assert_false(match("a/b", "a"));
	assert_false(match("a", "a/b"));
	assert_true(match("#", "a/b/c"));
	assert_true(match("a/#", "a"));		/* the parent level too */
	assert_true(match("a/#", "a/b/c"));
	assert_false(match("a/#", "ab"));
	assert_true(match("a/+/c", "a/b/c"));
	assert_true(match("a/+", "a/"));	/* an empty level */
	assert_false(match("a/+", "a/b/c"));
	assert_true(match("+/+", "/x"));
	assert_true(match("gerrit/#", "gerrit/change-merged"));
	/* wildcards first never match "$" topics [MQTT-4.7.2-1] */
	assert_false(match("#", "$SYS/broker/uptime"));
	assert_false(match("+/broker/#", "$SYS/broker/uptime"));
	assert_true(match("$SYS/#", "$SYS/broker/uptime"));
	/* the topic is bounded by its length, not a NUL */
	assert_true(mqtt_topic_matches("a/b", "a/b/c", 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topic_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
