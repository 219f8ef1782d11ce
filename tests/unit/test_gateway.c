/* Unit tests: the gateway's seams (default config, section ownership). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "gateway/conf.h"
#include "gateway/gateway.h"
#include "gateway/module.h"
#include "gateway/secret.h"

static struct fh_conf *
parse(const char *text, char **err)
{
	*err = NULL;
	return fh_conf_parse("t.conf", text, strlen(text), err);
}

/* The default is assembled from every module's snippet and configures. */
static void
test_default_config(void **state)
{
	struct event_base	*base = event_base_new();
	struct fh_conf		*conf;
	struct fh_gateway	*gw;
	const struct fh_section	*sec;
	char			*def, *err;
	int			 listeners = 0;

	(void)state;
	def = fh_gateway_default_config();
	assert_non_null(strstr(def, "[gateway]\n"));
	conf = parse(def, &err);
	assert_non_null(conf);
	assert_non_null(fh_conf_find(conf, "broker"));
	for (sec = NULL; (sec = fh_conf_next(conf, sec, "listener")) != NULL;)
		listeners++;
	assert_int_equal(listeners, 2);
	sec = fh_conf_find(conf, "source");
	assert_non_null(sec);
	assert_string_equal(fh_section_name(sec), "ansible");
	gw = fh_gateway_create(base, conf, &err);
	assert_non_null(gw);
	fh_gateway_free(gw);
	fh_conf_free(conf);
	free(def);
	event_base_free(base);
}

/* Every section type a sink declares is accepted; others are not. */
static void
test_section_owners(void **state)
{
	struct event_base	*base = event_base_new();
	struct fh_conf		*conf;
	struct fh_gateway	*gw;
	char			*err;
	size_t			 i, j;

	(void)state;
	for (i = 0; fh_sinks[i] != NULL; i++)
		for (j = 0; fh_sinks[i]->sections &&
		    fh_sinks[i]->sections[j]; j++)
			assert_string_not_equal(fh_sinks[i]->sections[j],
			    "gateway");
	conf = parse("[broker]\n[nosuch thing]\nkey = 1\n", &err);
	assert_non_null(conf);
	gw = fh_gateway_create(base, conf, &err);
	assert_null(gw);
	assert_non_null(strstr(err, "t.conf:2: unknown section "
	    "[nosuch thing]"));
	free(err);
	fh_conf_free(conf);
	event_base_free(base);
}

static char *
secret_file(const char *content, size_t len)
{
	char	*path = strdup("/tmp/fh-test-secret-XXXXXX");
	int	 fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

static void
expect_secret(const char *content, size_t len, size_t max, const char *want,
    const char *why_want)
{
	char	*path = secret_file(content, len), *out = NULL, *why = NULL;
	int	 rc = fh_secret_read(path, max, &out, &why);

	if (want != NULL) {
		assert_int_equal(rc, 0);
		assert_string_equal(out, want);
	} else {
		assert_int_equal(rc, -1);
		assert_null(out);
		assert_non_null(strstr(why, why_want));
	}
	fh_secret_free(out);
	free(why);
	unlink(path);
	free(path);
}

/* The first line without trailing blanks; limits and bad files. */
static void
test_secret_read(void **state)
{
	char	*out = NULL, *why = NULL;

	(void)state;
	expect_secret("s3cret\n", 7, 0, "s3cret", NULL);
	expect_secret("s3cret \t\r\nsecond line\n", 22, 0, "s3cret", NULL);
	expect_secret("", 0, 0, "", NULL);
	expect_secret("12345678", 8, 8, "12345678", NULL);
	expect_secret("123456789", 9, 8, NULL, "is larger than 8 bytes");
	expect_secret("12345678\nmore", 13, 8, "12345678", NULL);
	expect_secret("a\0b\n", 4, 0, NULL, "contains a NUL byte");
	assert_int_equal(fh_secret_read("/nonexistent/secret", 0, &out, &why),
	    -1);
	assert_null(out);
	assert_non_null(strstr(why, "No such file"));
	free(why);
	fh_secret_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_config),
		cmocka_unit_test(test_section_owners),
		cmocka_unit_test(test_secret_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
