/*
 * Unit tests: Mosquitto password files ($6$ and $7$, made by the real
 * mosquitto_passwd, in tests/data/auth/passwd) and ACL files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/xmalloc.h"
#include "sinks/mqtt/auth.h"

static struct mqtt_auth *
load(const char *pw, const char *acl)
{
	const char		*src = getenv("top_srcdir");
	char			*p = NULL, *a = NULL, *err = NULL;
	struct mqtt_auth	*auth;

	if (pw)
		p = fh_xasprintf("%s/tests/data/auth/%s", src ? src : "..", pw);
	if (acl)
		a = fh_xasprintf("%s/tests/data/auth/%s", src ? src : "..",
		    acl);
	auth = mqtt_auth_load(p, a, &err);
	if (auth == NULL)
		fail_msg("%s", err);
	free(p);
	free(a);
	return auth;
}

static int
check(struct mqtt_auth *a, const char *user, const char *pw)
{
	return mqtt_auth_check_password(a, user, (const uint8_t *)pw,
	    strlen(pw));
}

static void
test_passwords(void **state)
{
	struct mqtt_auth	*a = load("passwd", NULL);

	(void)state;
	assert_true(mqtt_auth_has_passwords(a));
	assert_false(mqtt_auth_has_acl(a));
	assert_int_equal(mqtt_auth_user_count(a), 3);
	assert_int_equal(check(a, "alice", "secret"), 0);	/* $7$ 101 */
	assert_int_equal(check(a, "alice", "secreT"), -1);
	assert_int_equal(check(a, "alice", ""), -1);
	assert_int_equal(check(a, "bob", "p@ss w\xc3\xb6rd"), 0);	/* $6$ */
	assert_int_equal(check(a, "bob", "p@ss word"), -1);
	assert_int_equal(check(a, "carol", "c"), 0);	/* $7$ 1000 */
	assert_int_equal(check(a, "dave", "secret"), -1);
	assert_int_equal(check(a, "", ""), -1);
	mqtt_auth_free(a);
}

static void
test_password_errors(void **state)
{
	static const struct {
		const char	*text;
		const char	*want;
	} cases[] = {
		{ "alice\n", "f:1: expected user:hash" },
		{ "\n# c\n:$6$abc$def\n", "f:3: expected user:hash" },
		{ "alice:plain\n", "f:1: user 'alice': not a mosquitto_passwd" },
		{ "a:$6$!!!!$xx\n", "f:1: user 'a'" },
		{ "a:$7$0$c2FsdA==$xx\n", "f:1: user 'a'" },
		{ "a:$7$x$c2FsdA==$xx\n", "f:1: user 'a'" },
		{ "a:$6$c2FsdA==$c2hvcnQ=\n", "f:1: user 'a'" },	/* short */
		{ "b:$6$KW2GtNFAY2+Hr2B+$X9/C0tC76rm4XRIJhQWzMwMsNX5Q6BpzV3NC"
		  "XxjIlCNjdRht7qksXjfEbwiaVv4sqeu1QwzKVBrtJAGWCOxt/w==\n"
		  "b:$6$KW2GtNFAY2+Hr2B+$X9/C0tC76rm4XRIJhQWzMwMsNX5Q6BpzV3NC"
		  "XxjIlCNjdRht7qksXjfEbwiaVv4sqeu1QwzKVBrtJAGWCOxt/w==\n",
		  "f:2: duplicate user 'b'" },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mqtt_auth	*a = mqtt_auth_create();
		char			*err = NULL;

		assert_int_equal(mqtt_auth_parse_passwords(a, "f",
		    cases[i].text, strlen(cases[i].text), &err), -1);
		assert_non_null(err);
		if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
			fail_msg("case %zu: %s", i, err);
		free(err);
		mqtt_auth_free(a);
	}
}

#define R	MQTT_ACL_READ
#define W	MQTT_ACL_WRITE

static void
test_acl(void **state)
{
	struct mqtt_auth	*a = load(NULL, "acl");

	(void)state;
	assert_true(mqtt_auth_has_acl(a));
	/* anonymous: the rules before the first user line */
	assert_true(mqtt_auth_acl_check(a, NULL, "c", "public/x", R));
	assert_false(mqtt_auth_acl_check(a, NULL, "c", "public/x", W));
	assert_true(mqtt_auth_acl_check(a, NULL, "c", "$SYS/broker/uptime",
	    R));
	assert_false(mqtt_auth_acl_check(a, NULL, "c", "alice/x", R));
	/* patterns with %c apply to anonymous clients too, %u does not */
	assert_true(mqtt_auth_acl_check(a, NULL, "c1", "clients/c1", R));
	assert_false(mqtt_auth_acl_check(a, NULL, "c1", "clients/c2", R));
	assert_false(mqtt_auth_acl_check(a, NULL, "c1", "users//x", R));
	/* alice */
	assert_true(mqtt_auth_acl_check(a, "alice", "c", "alice/x", W));
	assert_true(mqtt_auth_acl_check(a, "alice", "c", "alice", R));
	assert_false(mqtt_auth_acl_check(a, "alice", "c", "alice/secret", R));
	assert_true(mqtt_auth_acl_check(a, "alice", "c", "shared/1/in", W));
	assert_false(mqtt_auth_acl_check(a, "alice", "c", "shared/1/in", R));
	assert_false(mqtt_auth_acl_check(a, "alice", "c", "public/x", R));
	assert_true(mqtt_auth_acl_check(a, "alice", "c", "users/alice/a", W));
	assert_false(mqtt_auth_acl_check(a, "alice", "c", "users/bob/a", W));
	/* bob: '#', but not $SYS */
	assert_true(mqtt_auth_acl_check(a, "bob", "c", "alice/x", W));
	assert_false(mqtt_auth_acl_check(a, "bob", "c", "$SYS/x", R));
	/* unknown user: patterns only */
	assert_false(mqtt_auth_acl_check(a, "eve", "c", "public/x", R));
	assert_true(mqtt_auth_acl_check(a, "eve", "c", "users/eve", W));
	/* a name with a wildcard never widens a pattern */
	assert_false(mqtt_auth_acl_check(a, "+", "c", "users/x/y", W));
	assert_false(mqtt_auth_acl_check(a, "e/v", "c", "users/e/v", W));
	mqtt_auth_free(a);
}

/* SUBSCRIBE: may a filter ever be granted anything? */
static void
test_acl_filter(void **state)
{
	struct mqtt_auth	*a = load(NULL, "acl");

	(void)state;
	/* anonymous: public/# and $SYS/# only (and clients/<id>) */
	assert_true(mqtt_auth_acl_filter_possible(a, NULL, "c", "public/x"));
	assert_true(mqtt_auth_acl_filter_possible(a, NULL, "c", "public"));
	assert_true(mqtt_auth_acl_filter_possible(a, NULL, "c", "+/x"));
	assert_true(mqtt_auth_acl_filter_possible(a, NULL, "c", "#"));
	assert_true(mqtt_auth_acl_filter_possible(a, NULL, "c", "$SYS/+"));
	assert_false(mqtt_auth_acl_filter_possible(a, NULL, "c", "private/#"));
	assert_false(mqtt_auth_acl_filter_possible(a, NULL, "c", "alice/x"));
	assert_true(mqtt_auth_acl_filter_possible(a, NULL, "c1", "clients/c1"));
	assert_false(mqtt_auth_acl_filter_possible(a, NULL, "c1",
	    "clients/c2"));
	/* '$' topics are not reached through a leading wildcard rule */
	assert_false(mqtt_auth_acl_filter_possible(a, "bob", "c", "$SYS/#"));
	assert_true(mqtt_auth_acl_filter_possible(a, "bob", "c", "x/y"));
	/* alice: alice/# but not alice/secret; write-only shared/+/in */
	assert_true(mqtt_auth_acl_filter_possible(a, "alice", "c", "alice/#"));
	assert_false(mqtt_auth_acl_filter_possible(a, "alice", "c",
	    "alice/secret"));
	assert_true(mqtt_auth_acl_filter_possible(a, "alice", "c",
	    "alice/+"));
	assert_false(mqtt_auth_acl_filter_possible(a, "alice", "c",
	    "shared/1/in"));
	assert_true(mqtt_auth_acl_filter_possible(a, "alice", "c",
	    "users/alice"));
	assert_false(mqtt_auth_acl_filter_possible(a, "alice", "c",
	    "users/bob/#"));
	/* users/alice/x/y is hers */
	assert_true(mqtt_auth_acl_filter_possible(a, "alice", "c",
	    "users/+/x/y"));
	mqtt_auth_free(a);
	/* no ACL: everything */
	a = mqtt_auth_create();
	assert_true(mqtt_auth_acl_filter_possible(a, NULL, "c", "x"));
	mqtt_auth_free(a);
}

static void
test_acl_errors(void **state)
{
	struct mqtt_auth	*a = mqtt_auth_create();
	char			*err = NULL;
	const char		*t1 = "topic read a\nbogus x\n";
	const char		*t2 = "\n\ntopic\n";
	const char		*t3 = "topic sometimes a/b\n";

	(void)state;
	assert_int_equal(mqtt_auth_parse_acl(a, "f", t1, strlen(t1), &err),
	    -1);
	assert_string_equal(err, "f:2: unknown ACL keyword 'bogus': "
	    "expected topic, user or pattern");
	free(err);
	assert_int_equal(mqtt_auth_parse_acl(a, "f", t2, strlen(t2), &err),
	    -1);
	assert_string_equal(err, "f:3: 'topic' needs an argument");
	free(err);
	/* an unknown access word is an error, as in Mosquitto */
	assert_int_equal(mqtt_auth_parse_acl(a, "f", t3, strlen(t3), &err),
	    -1);
	free(err);
	mqtt_auth_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_passwords),
		cmocka_unit_test(test_password_errors),
		cmocka_unit_test(test_acl),
		cmocka_unit_test(test_acl_filter),
		cmocka_unit_test(test_acl_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
