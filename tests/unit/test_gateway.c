/* Unit tests: the gateway's seams (default config, section ownership). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/event.h>

#include "gateway/conf.h"
#include "gateway/connect.h"
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

struct connect_result {
	struct event_base	*base;
	int			 calls;
	int			 fd;
	char			 why[256];
};

static void
connect_cb(int fd, const char *why, void *arg)
{
	struct connect_result	*r = arg;

	r->calls++;
	r->fd = fd;
	snprintf(r->why, sizeof r->why, "%s", why ? why : "");
	event_base_loopexit(r->base, NULL);
}

/* A gateway with no modules configured, for its services. */
static struct fh_gateway *
bare_gateway(struct event_base *base, struct fh_conf **conf)
{
	char	*err;

	*conf = parse("[gateway]\n", &err);
	assert_non_null(*conf);
	return fh_gateway_create(base, *conf, &err);
}

/* A port on 127.0.0.1 that is listening (listen_fd >= 0) or closed. */
static int
loopback_port(int *listen_fd, bool listening)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof sin;
	int			fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	if (listening)
		assert_int_equal(listen(fd, 4), 0);
	else {
		close(fd);
		fd = -1;
	}
	*listen_fd = fd;
	return ntohs(sin.sin_port);
}

/* fh_connect: a socket for a listening port, why for a closed one, once,
 * from the loop; nothing after a cancel. */
static void
test_connect(void **state)
{
	struct event_base	*base = event_base_new();
	struct fh_conf		*conf;
	struct fh_gateway	*gw = bare_gateway(base, &conf);
	struct connect_result	 r = { .base = base, .fd = -2 };
	struct fh_connect	*c;
	struct timeval		 tv = { 0, 200000 };
	int			 lfd, port;

	(void)state;
	assert_non_null(gw);
	port = loopback_port(&lfd, true);
	c = fh_connect_start(gw, "127.0.0.1", port, 5000, connect_cb, &r);
	assert_non_null(c);
	assert_int_equal(r.calls, 0);	/* never from inside start */
	event_base_dispatch(base);
	assert_int_equal(r.calls, 1);
	assert_true(r.fd >= 0);
	close(r.fd);
	close(lfd);

	port = loopback_port(&lfd, false);
	memset(&r, 0, sizeof r);
	r.base = base;
	fh_connect_start(gw, "127.0.0.1", port, 5000, connect_cb, &r);
	event_base_dispatch(base);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.fd, -1);
	assert_string_equal(r.why, "Connection refused");

	memset(&r, 0, sizeof r);
	r.base = base;
	c = fh_connect_start(gw, "127.0.0.1", port, 5000, connect_cb, &r);
	fh_connect_cancel(c);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	assert_int_equal(r.calls, 0);

	fh_gateway_free(gw);
	fh_conf_free(conf);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_config),
		cmocka_unit_test(test_section_owners),
		cmocka_unit_test(test_secret_read),
		cmocka_unit_test(test_connect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
