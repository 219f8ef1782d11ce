/* Unit tests: push-subunit job arguments -> topic and payload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sources/subunit/subunit_job.h"

/* The Jenkins/Zuul v2 era client's argument (puppet-log_processor). */
static const char check_job[] =
    "{\"source_url\": \"http://logs.example.org/34/451234/3/check/"
    "gate-nova-python27/5a3f2c1/testrepository.subunit\", \"retry\": false,"
    " \"event\": {\"fields\": {\"filename\": \"testrepository.subunit\","
    " \"build_name\": \"gate-nova-python27\", \"build_status\": \"FAILURE\","
    " \"build_node\": \"ubuntu-xenial-1\", \"project\": \"openstack/nova\","
    " \"voting\": 1, \"build_uuid\": \"5a3f2c1d\", \"build_queue\": \"check\","
    " \"build_ref\": \"refs/zuul/master/Z1\", \"build_change\": \"451234\","
    " \"build_patchset\": \"3\"}, \"tags\": [\"testrepository.subunit\"]}}";

static struct subunit_job_info
parse_ok(const char *json)
{
	struct subunit_job_info	info;
	char			*err = NULL;

	if (subunit_job_parse((const uint8_t *)json, strlen(json), &info,
	    &err) != 0)
		fail_msg("%s: %s", json, err);
	return info;
}

static void
check_topic(const char *json, const char *want)
{
	struct subunit_job_info	info = parse_ok(json);
	char			*t = subunit_job_topic("gearman-subunit", "w1",
				    &info);

	assert_non_null(t);
	assert_string_equal(t, want);
	free(t);
	subunit_job_clear(&info);
}

static void
test_topics(void **state)
{
	(void)state;
	check_topic(check_job, "gearman-subunit/w1/openstack/nova/451234");
	/* Zuul v3 sends numbers */
	check_topic("{\"source_url\": \"http://x/y\", \"event\": {\"fields\":"
	    " {\"project\": \"openstack/nova\", \"build_change\": 77}}}",
	    "gearman-subunit/w1/openstack/nova/77");
	/* periodic and post builds: no change, the queue instead */
	check_topic("{\"source_url\": \"http://x/y\", \"event\": {\"fields\":"
	    " {\"project\": \"openstack/nova\", \"build_queue\": \"periodic\","
	    " \"build_change\": null}}}",
	    "gearman-subunit/w1/openstack/nova/periodic");
	check_topic("{\"source_url\": \"http://x/y\", \"event\": {\"fields\":"
	    " {\"project\": \"openstack/nova\", \"build_queue\": \"post\","
	    " \"build_newrev\": \"abc\", \"build_ref\": \"refs/heads/master\"}}}",
	    "gearman-subunit/w1/openstack/nova/post");
	/* no queue either: the short ref */
	check_topic("{\"source_url\": \"http://x/y\", \"event\": {\"@fields\":"
	    " {\"project\": \"openstack/nova\", \"build_ref\": "
	    "\"refs/tags/17.0.0\"}}}",
	    "gearman-subunit/w1/openstack/nova/17.0.0");
	/* nothing at all: no change level */
	check_topic("{\"source_url\": \"http://x/y\", \"event\": {\"fields\":"
	    " {\"project\": \"nova\", \"build_change\": \"\"}}}",
	    "gearman-subunit/w1/nova");
	/* wildcards cannot get into a topic */
	check_topic("{\"source_url\": \"http://x/y\", \"event\": {\"fields\":"
	    " {\"project\": \"a+b/#\", \"build_change\": \"1+\"}}}",
	    "gearman-subunit/w1/a_b/_/1_");
}

static void
test_bad_jobs(void **state)
{
	static const char *const bad[] = {
		"", "not json", "[1]", "{}",
		"{\"source_url\": \"u\", \"event\": {}}",
		"{\"source_url\": \"u\", \"event\": {\"fields\": []}}",
		"{\"source_url\": \"u\", \"event\": {\"fields\": {}}}",
		"{\"source_url\": \"u\", \"event\": {\"fields\": "
		    "{\"project\": 3}}}",
		"{\"source_url\": \"u\", \"event\": {\"fields\": "
		    "{\"project\": \"a\\u0000b\"}}}",
		"{\"event\": {\"fields\": {\"project\": \"p\"}}}",
		"{\"source_url\": 1, \"event\": {\"fields\": {\"project\": "
		    "\"p\"}}}",
		NULL
	};
	struct subunit_job_info	info;
	char			*err;
	size_t			 i;

	(void)state;
	for (i = 0; bad[i] != NULL; i++) {
		err = NULL;
		assert_int_equal(subunit_job_parse((const uint8_t *)bad[i],
		    strlen(bad[i]), &info, &err), -1);
		assert_non_null(err);
		assert_null(info.fields);
		free(err);
	}
}

static void
test_aborted_and_payload(void **state)
{
	struct subunit_job_info	info;
	json_t			*p, *summary = json_pack("{s:i}", "total", 3);
	const char		*key;
	json_t			*v;
	size_t			 i = 0;
	static const char *const order[] = { "build_uuid", "source_url",
	    "status", "error", "fetched_url", "summary", "filename" };

	(void)state;
	/* ABORTED needs no source_url and is flagged */
	info = parse_ok("{\"event\": {\"fields\": {\"project\": \"p\","
	    " \"build_status\": \"ABORTED\"}}}");
	assert_true(info.aborted);
	p = subunit_job_payload(&info, "failed", "build aborted", NULL, NULL);
	assert_true(json_is_null(json_object_get(p, "build_uuid")));
	assert_true(json_is_null(json_object_get(p, "source_url")));
	assert_string_equal(json_string_value(json_object_get(p, "status")),
	    "failed");
	assert_string_equal(json_string_value(json_object_get(p, "error")),
	    "build aborted");
	assert_string_equal(json_string_value(json_object_get(p,
	    "build_status")), "ABORTED");
	json_decref(p);
	subunit_job_clear(&info);

	info = parse_ok(check_job);
	assert_false(info.aborted);
	p = subunit_job_payload(&info, "failed", "HTTP 404",
	    "http://x/y.gz", summary);
	/* the original three keys first, then ours, then the build's */
	json_object_foreach(p, key, v) {
		if (i < sizeof order / sizeof order[0])
			assert_string_equal(key, order[i]);
		i++;
	}
	assert_int_equal(json_object_size(p), 6 + 11 - 1);
	assert_string_equal(json_string_value(json_object_get(p,
	    "build_uuid")), "5a3f2c1d");
	assert_string_equal(json_string_value(json_object_get(p,
	    "build_name")), "gate-nova-python27");
	assert_int_equal(json_integer_value(json_object_get(p, "voting")), 1);
	json_decref(p);
	subunit_job_clear(&info);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topics),
		cmocka_unit_test(test_bad_jobs),
		cmocka_unit_test(test_aborted_and_payload),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
