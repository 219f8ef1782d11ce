/* Unit tests: the ansible callback body parser, plus its golden cases in
 * tests/data/ansible/<case>/{input,expected}. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sources/ansible/ansible_parse.h"

static int
parse(const char *body, struct ansible_event **evs, size_t *n,
    struct ansible_parse_error *err)
{
	return ansible_parse((const uint8_t *)body, strlen(body), "ansible",
	    evs, n, err);
}

static char *
dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

#define TASK_OK \
	"{\"ansible_type\":\"task\",\"status\":\"OK\",\"host\":\"ctl\"," \
	"\"ansible_host\":\"web1\",\"session\":\"s-1\"," \
	"\"playbook_name\":\"site\",\"playbook_id\":\"p-1\"," \
	"\"ansible_task\":\"TASK: ping\",\"ansible_result\":{\"ping\":\"pong\"}}"

static void
test_task_topic_and_order(void **state)
{
	struct ansible_parse_error	 err;
	struct ansible_event		*evs;
	size_t				 n;
	char				*s;

	(void)state;
	assert_int_equal(parse(TASK_OK, &evs, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(evs[0].topic, "ansible/playbook/p-1/task/web1/OK");
	s = dump(evs[0].payload);
	/* The original plugin's key order; ansible_result stays an object. */
	assert_string_equal(s, "{\"status\":\"OK\",\"host\":\"ctl\","
	    "\"ansible_host\":\"web1\",\"session\":\"s-1\","
	    "\"ansible_type\":\"task\",\"playbook_name\":\"site\","
	    "\"playbook_id\":\"p-1\",\"ansible_task\":\"TASK: ping\","
	    "\"ansible_result\":{\"ping\":\"pong\"}}");
	free(s);
	ansible_events_free(evs, n);
}

static void
test_start_defaults_status(void **state)
{
	struct ansible_parse_error	 err;
	struct ansible_event		*evs;
	size_t				 n;
	char				*s;

	(void)state;
	assert_int_equal(parse("{\"ansible_type\":\"start\",\"host\":\"c\","
	    "\"session\":\"s\",\"playbook_name\":\"n\",\"playbook_id\":\"u\"}",
	    &evs, &n, &err), 0);
	assert_string_equal(evs[0].topic, "ansible/playbook/u/action/start");
	s = dump(evs[0].payload);
	assert_string_equal(s, "{\"status\":\"OK\",\"host\":\"c\","
	    "\"session\":\"s\",\"playbook_name\":\"n\",\"playbook_id\":\"u\","
	    "\"ansible_type\":\"start\"}");
	free(s);
	ansible_events_free(evs, n);
}

static void
test_base_topic(void **state)
{
	struct ansible_parse_error	 err;
	struct ansible_event		*evs;
	size_t				 n;
	const char			*b = "{\"ansible_type\":\"finish\","
	    "\"status\":\"FAILED\",\"playbook_id\":\"u\",\"playbook_name\":\"n\"}";

	(void)state;
	assert_int_equal(ansible_parse((const uint8_t *)b, strlen(b),
	    "site/ansible", &evs, &n, &err), 0);
	assert_string_equal(evs[0].topic,
	    "site/ansible/playbook/u/action/finish/FAILED");
	ansible_events_free(evs, n);
}

/* A bad event anywhere rejects the whole batch and names the field. */
static void
test_batch_all_or_nothing(void **state)
{
	struct ansible_parse_error	 err;
	struct ansible_event		*evs = (void *)1;
	size_t				 n = 7;

	(void)state;
	assert_int_equal(parse("[" TASK_OK "," TASK_OK ",{\"ansible_type\":"
	    "\"stats\",\"host\":\"c\",\"ansible_host\":\"h\",\"playbook_id\":"
	    "\"u\",\"playbook_name\":\"n\",\"stats\":{\"ok\":1,\"changed\":0,"
	    "\"unreachable\":0,\"failures\":-1,\"skipped\":0}}]",
	    &evs, &n, &err), -1);
	assert_null(evs);
	assert_int_equal(n, 0);
	assert_string_equal(err.field, "[2].stats.failures");
}

struct bad_case {
	const char	*body;
	const char	*field;
	const char	*message;	/* substring */
};

static const struct bad_case bad_cases[] = {
	{ "", "body", "invalid JSON" },
	{ "{\"a\":1,\"a\":2}", "body", "duplicate" },
	{ "42", "body", "must be an event object or an array" },
	{ "[1]", "[0]", "must be an object" },
	{ "{}", "ansible_type", "missing" },
	{ "{\"ansible_type\":7}", "ansible_type", "must be a string" },
	{ "{\"ansible_type\":\"play\"}", "ansible_type", "not one of" },
	{ "{\"ansible_type\":\"start\",\"bogus\":1}", "bogus",
	    "unknown field" },
	{ "{\"ansible_type\":\"start\",\"ansible_task\":\"x\"}",
	    "ansible_task", "unknown field in a start event" },
	{ "{\"ansible_type\":\"start\",\"host\":\"c\",\"session\":\"s\","
	    "\"playbook_name\":\"n\"}", "playbook_id", "missing" },
	{ "{\"ansible_type\":\"start\",\"playbook_id\":\"a/b\"}",
	    "playbook_id", "'/'" },
	{ "{\"ansible_type\":\"start\",\"playbook_id\":\"a#\"}",
	    "playbook_id", "'+' or '#'" },
	{ "{\"ansible_type\":\"start\",\"playbook_id\":\"\"}",
	    "playbook_id", "empty" },
	{ "{\"ansible_type\":\"start\",\"status\":\"FAILED\"}",
	    "status", "not a status of a start event" },
	{ "{\"ansible_type\":\"task\",\"status\":\"CHANGED\"}",
	    "status", "not a status" },
	{ "{\"ansible_type\":\"finish\",\"status\":\"SKIPPED\"}",
	    "status", "not a status" },
	{ "{\"ansible_type\":\"task\",\"ansible_result\":\"{}\"}",
	    "ansible_result", "must be an object, not a string" },
	{ "{\"ansible_type\":\"task\",\"ignore_errors\":1}",
	    "ignore_errors", "must be a boolean" },
	{ "{\"ansible_type\":\"task\",\"host\":null}", "host",
	    "must be a string, not null" },
	{ "{\"ansible_type\":\"stats\",\"stats\":[]}", "stats",
	    "must be an object" },
	{ "{\"ansible_type\":\"stats\",\"stats\":{\"ok\":1.5}}", "stats.ok",
	    "non-negative integer" },
	{ "{\"ansible_type\":\"stats\",\"stats\":{\"ok\":1}}",
	    "stats.changed", "missing" },
	{ "[{\"ansible_type\":\"stats\",\"ansible_host\":\"h/1\"}]",
	    "[0].ansible_host", "'/'" },
};

static void
test_bad_fields(void **state)
{
	struct ansible_parse_error	 err;
	struct ansible_event		*evs;
	size_t				 i, n;

	(void)state;
	for (i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		memset(&err, 0, sizeof err);
		if (parse(bad_cases[i].body, &evs, &n, &err) != -1)
			fail_msg("case %zu accepted: %s", i, bad_cases[i].body);
		if (strcmp(err.field, bad_cases[i].field) != 0 ||
		    strstr(err.message, bad_cases[i].message) == NULL)
			fail_msg("case %zu %s: got %s: %s", i,
			    bad_cases[i].body, err.field, err.message);
	}
}

static void
test_empty_array(void **state)
{
	struct ansible_parse_error	 err;
	struct ansible_event		*evs;
	size_t				 n = 9;

	(void)state;
	assert_int_equal(parse("[]", &evs, &n, &err), 0);
	assert_int_equal(n, 0);
	ansible_events_free(evs, n);
}

static char *
slurp(const char *path, size_t *len)
{
	FILE	*f = fopen(path, "rb");
	char	*buf;
	long	 sz;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)sz + 1);
	assert_non_null(buf);
	*len = fread(buf, 1, (size_t)sz, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

/* Each golden case: input is a POST body; expected is one line per event,
 * "topic payload" (as mosquitto_sub -v prints it), or "error FIELD: MSG". */
static void
test_golden(void **state)
{
	struct ansible_parse_error	 err;
	struct ansible_event		*evs;
	struct dirent			*de;
	const char			*src = getenv("top_srcdir");
	char				 dir[2048], path[4400];
	char				*in, *want, *got, *s, *line;
	size_t				 inlen, wantlen, i, n, cases = 0;
	DIR				*d;

	(void)state;
	snprintf(dir, sizeof dir, "%s/tests/data/ansible", src ? src : ".");
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s/input", dir, de->d_name);
		in = slurp(path, &inlen);
		assert_non_null(in);
		snprintf(path, sizeof path, "%s/%s/expected", dir,
		    de->d_name);
		want = slurp(path, &wantlen);
		assert_non_null(want);
		got = strdup("");
		if (ansible_parse((uint8_t *)in, inlen, "ansible", &evs, &n,
		    &err) != 0) {
			free(got);
			if (asprintf(&got, "error %s: %s\n", err.field,
			    err.message) < 0)
				fail();
		} else {
			for (i = 0; i < n; i++) {
				s = dump(evs[i].payload);
				line = got;
				if (asprintf(&got, "%s%s %s\n", line,
				    evs[i].topic, s) < 0)
					fail();
				free(line);
				free(s);
			}
			ansible_events_free(evs, n);
		}
		if (strcmp(got, want) != 0)
			fail_msg("golden %s:\n--- want\n%s--- got\n%s",
			    de->d_name, want, got);
		free(got);
		free(want);
		free(in);
		cases++;
	}
	closedir(d);
	assert_true(cases >= 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_task_topic_and_order),
		cmocka_unit_test(test_start_defaults_status),
		cmocka_unit_test(test_base_topic),
		cmocka_unit_test(test_batch_all_or_nothing),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_empty_array),
		cmocka_unit_test(test_golden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
