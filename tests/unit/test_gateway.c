/* Unit tests: the gateway's seams (default config, section ownership). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "gateway/conf.h"
#include "gateway/gateway.h"
#include "gateway/module.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_config),
		cmocka_unit_test(test_section_owners),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
