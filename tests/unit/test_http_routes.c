/* Unit tests: the gateway's HTTP route registry (gateway/http.c) with a
 * real gateway and a socket pair: exact and prefix routes, HEAD, 404,
 * 405, decoding, replies, a stream and its bound. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gateway/conf.h"
#include "gateway/gateway.h"
#include "gateway/http.h"

struct fix {
	struct event_base	*base;
	struct fh_conf		*conf;
	struct fh_gateway	*gw;
	char			 seen[256];
	struct fh_http_stream	*stream;
	int			 gone;
};

static struct fix	*fx;

static int
setup(void **state)
{
	static const char conf[] = "[broker]\n";
	struct fix	*f = calloc(1, sizeof *f);
	char		*err = NULL;

	f->base = event_base_new();
	f->conf = fh_conf_parse("t.conf", conf, sizeof conf - 1, &err);
	assert_non_null(f->conf);
	f->gw = fh_gateway_create(f->base, f->conf, &err);
	assert_non_null(f->gw);
	fx = f;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*f = *state;

	fh_gateway_free(f->gw);
	fh_conf_free(f->conf);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* Dispatch "METHOD TARGET" with headers; the answer as the peer reads
 * it (a bounded number of loop turns). The gateway's own pages and the
 * handlers below answer at once. */
static char *
request(struct fix *f, const char *method, const char *target,
    const char *hname, const char *hvalue, bool *taken, int *peer)
{
	struct fh_http_head	 h;
	struct bufferevent	*bev;
	const char		*names[1] = { hname }, *values[1] = { hvalue };
	size_t			 nl[1], vl[1], len = 0;
	char			*s = calloc(1, 65536);
	ssize_t			 n;
	int			 sv[2], i;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sv), 0);
	bev = bufferevent_socket_new(f->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	memset(&h, 0, sizeof h);
	h.listener = "web";
	h.peer = "127.0.0.1:1";
	h.method = method;
	h.method_len = strlen(method);
	h.target = target;
	h.target_len = strlen(target);
	if (hname != NULL) {
		nl[0] = strlen(hname);
		vl[0] = strlen(hvalue);
		h.nheaders = 1;
		h.names = names;
		h.name_lens = nl;
		h.values = values;
		h.value_lens = vl;
	}
	fh_http_dispatch(f->gw, &h, bev, taken);
	for (i = 0; i < 20; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		while ((n = read(sv[1], s + len, 65535 - len)) > 0)
			len += (size_t)n;
	}
	s[len] = '\0';
	if (!*taken)
		bufferevent_free(bev);
	if (peer != NULL)
		*peer = sv[1];
	else
		close(sv[1]);
	return s;
}

static void
page_echo(struct fh_http_request *req, struct fh_http_response *resp,
    void *arg)
{
	const char	*n, *v;
	size_t		 i;

	(void)arg;
	evbuffer_add_printf(fh_http_body(resp), "%s|%s|%s|", fh_http_path(req),
	    fh_http_subpath(req), fh_http_method(req));
	for (i = 0; fh_http_query_at(req, i, &n, &v); i++)
		evbuffer_add_printf(fh_http_body(resp), "%s=%s;", n, v);
	if (fh_http_header(req, "x-test") != NULL)
		evbuffer_add_printf(fh_http_body(resp), "h=%s",
		    fh_http_header(req, "X-TEST"));
	fh_http_add_header(resp, "X-Mine", "1");
	fh_http_reply(resp, 200, "text/plain", NULL, 0);
}

static void
page_silent(struct fh_http_request *req, struct fh_http_response *resp,
    void *arg)
{
	(void)req;
	(void)resp;
	(void)arg;
}

static void
test_routes(void **state)
{
	struct fix	*f = *state;
	bool		 taken;
	char		*s;

	assert_int_equal(fh_gateway_http_route(f->gw, "/a", FH_HTTP_GET,
	    page_echo, NULL), 0);
	assert_int_equal(fh_gateway_http_route(f->gw, "/s/*", FH_HTTP_GET,
	    page_echo, NULL), 0);
	assert_int_equal(fh_gateway_http_route(f->gw, "/s/deep/*",
	    FH_HTTP_GET, page_echo, NULL), 0);
	assert_int_equal(fh_gateway_http_route(f->gw, "/q", FH_HTTP_GET,
	    page_silent, NULL), 0);
	assert_int_equal(fh_gateway_http_route(f->gw, "nope", FH_HTTP_GET,
	    page_echo, NULL), -1);

	s = request(f, "GET", "/a?x=1&y=a%20b&x=2", "X-Test", "yes", &taken,
	    NULL);
	assert_false(taken);
	assert_non_null(strstr(s, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(s, "X-Mine: 1\r\n"));
	assert_non_null(strstr(s, "\r\n\r\n/a||GET|x=1;y=a b;x=2;h=yes"));
	free(s);
	/* prefixes: the longest wins, the rest is the subpath */
	s = request(f, "GET", "/s/deep/x%2Fy", NULL, NULL, &taken, NULL);
	assert_non_null(strstr(s, "\r\n\r\n/s/deep/x/y|x/y|GET|"));
	free(s);
	s = request(f, "GET", "/s/", NULL, NULL, &taken, NULL);
	assert_non_null(strstr(s, "\r\n\r\n/s/||GET|"));
	free(s);
	/* HEAD: the headers with the length, no body */
	s = request(f, "HEAD", "/a", NULL, NULL, &taken, NULL);
	/* "/a||HEAD|" */
	assert_non_null(strstr(s, "Content-Length: 9\r\n"));
	assert_non_null(strstr(s, "\r\n\r\n"));
	assert_string_equal(strstr(s, "\r\n\r\n"), "\r\n\r\n");
	free(s);
	s = request(f, "POST", "/a", NULL, NULL, &taken, NULL);
	assert_non_null(strstr(s, "HTTP/1.1 405 "));
	assert_non_null(strstr(s, "Allow: GET, HEAD\r\n"));
	free(s);
	s = request(f, "GET", "/b", NULL, NULL, &taken, NULL);
	assert_non_null(strstr(s, "HTTP/1.1 404 "));
	free(s);
	s = request(f, "GET", "/a/", NULL, NULL, &taken, NULL);
	assert_non_null(strstr(s, "HTTP/1.1 404 "));
	free(s);
	s = request(f, "GET", "/a?x=%zz", NULL, NULL, &taken, NULL);
	assert_non_null(strstr(s, "HTTP/1.1 400 "));
	free(s);
	s = request(f, "GET", "/%00", NULL, NULL, &taken, NULL);
	assert_non_null(strstr(s, "HTTP/1.1 400 "));
	free(s);
	s = request(f, "GET", "/q", NULL, NULL, &taken, NULL);
	assert_non_null(strstr(s, "HTTP/1.1 500 "));
	free(s);
	/* the gateway's own pages are routes too */
	s = request(f, "GET", "/healthz", NULL, NULL, &taken, NULL);
	assert_non_null(strstr(s, "\"listener\":\"web\""));
	free(s);
	s = request(f, "GET", "/metrics", NULL, NULL, &taken, NULL);
	assert_non_null(strstr(s, "firehose_http_requests "));
	free(s);
	fh_gateway_http_unroute(f->gw, "/a");
	s = request(f, "GET", "/a", NULL, NULL, &taken, NULL);
	assert_non_null(strstr(s, "HTTP/1.1 404 "));
	free(s);
}

static void
stream_gone(struct fh_http_stream *s, void *arg)
{
	(void)s;
	(void)arg;
	fx->gone++;
	fx->stream = NULL;
}

static const struct fh_http_stream_cbs stream_cbs = { stream_gone, NULL };

static void
page_stream(struct fh_http_request *req, struct fh_http_response *resp,
    void *arg)
{
	(void)req;
	(void)arg;
	fx->stream = fh_http_stream_start(resp, "text/event-stream",
	    &stream_cbs, NULL);
	if (fx->stream != NULL)
		fh_http_stream_set_max(fx->stream, 100);
}

static void
test_stream(void **state)
{
	struct fix	*f = *state;
	char		 big[300], buf[1024];
	bool		 taken;
	char		*s;
	int		 peer, i;
	ssize_t		 n, got = 0;

	memset(big, 'x', sizeof big);
	fh_gateway_http_route(f->gw, "/st", FH_HTTP_GET, page_stream, NULL);
	s = request(f, "HEAD", "/st", NULL, NULL, &taken, NULL);
	assert_false(taken);
	assert_null(f->stream);
	assert_non_null(strstr(s, "text/event-stream"));
	free(s);
	s = request(f, "GET", "/st", NULL, NULL, &taken, &peer);
	assert_true(taken);
	assert_non_null(f->stream);
	assert_non_null(strstr(s, "HTTP/1.1 200 OK\r\n"));
	assert_null(strstr(s, "Content-Length"));
	free(s);
	/* empty: one item bigger than the bound goes; then nothing more */
	assert_int_equal(fh_http_stream_pending(f->stream), 0);
	assert_int_equal(fh_http_stream_write(f->stream, big, sizeof big), 0);
	assert_int_equal(fh_http_stream_write(f->stream, big, 1), -1);
	assert_int_equal(fh_http_stream_pending(f->stream), sizeof big);
	for (i = 0; i < 20 && got < (ssize_t)sizeof big; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		while ((n = read(peer, buf, sizeof buf)) > 0)
			got += n;
	}
	assert_int_equal(got, sizeof big);
	assert_int_equal(fh_http_stream_write(f->stream, big, 50), 0);
	/* the peer leaves: gone() runs once */
	close(peer);
	for (i = 0; i < 20 && f->gone == 0; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(f->gone, 1);
	assert_null(f->stream);
}

static void
test_stream_closed_at_stop(void **state)
{
	struct fix	*f = *state;
	bool		 taken;
	char		*s;
	int		 peer;

	fh_gateway_http_route(f->gw, "/st", FH_HTTP_GET, page_stream, NULL);
	s = request(f, "GET", "/st", NULL, NULL, &taken, &peer);
	free(s);
	assert_true(taken);
	assert_non_null(f->stream);
	fh_gateway_stop(f->gw);
	assert_int_equal(f->gone, 1);
	assert_null(f->stream);
	close(peer);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_closed_at_stop,
		    setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);	/* as firehosed does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
