/* Unit tests: HTTP head parser, WebSocket upgrade check, /metrics text,
 * query-string decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/buffer.h>

#include "gateway/http.h"
#include "sinks/mqtt/http.h"

#define UPGRADE_HEAD \
	"GET /mqtt HTTP/1.1\r\nHost: localhost\r\n" \
	"Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" \
	"Sec-WebSocket-Version: 13\r\n"

static int
parse(const char *s, struct http_request *r)
{
	return http_request_parse((const uint8_t *)s, strlen(s), r);
}

static void
test_parse_ok(void **state)
{
	struct http_request	 r;
	const char		*s = "GET /metrics?x=1 HTTP/1.1\r\n"
	    "Host:  example  \r\nX-Empty:\r\nAccept: */*\r\n\r\nbody";

	(void)state;
	assert_int_equal(parse(s, &r), (int)(strlen(s) - 4));
	assert_true(http_str_eq(&r.method, "GET"));
	assert_true(http_str_eq(&r.target, "/metrics?x=1"));
	assert_int_equal(r.minor, 1);
	assert_int_equal(r.nheaders, 3);
	assert_true(http_str_eq(http_header_get(&r, "host"), "example"));
	assert_true(http_str_eq(http_header_get(&r, "X-EMPTY"), ""));
	assert_null(http_header_get(&r, "Upgrade"));
}

static void
test_parse_incomplete_and_bad(void **state)
{
	struct http_request	r;
	char			*big;

	(void)state;
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n", &r),
	    HTTP_PARSE_MORE);
	assert_int_equal(parse("", &r), HTTP_PARSE_MORE);
	assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n", &r), HTTP_PARSE_BAD);
	assert_int_equal(parse("GET  / HTTP/1.1\r\n\r\n", &r), HTTP_PARSE_BAD);
	assert_int_equal(parse("GET /\r\n\r\n", &r), HTTP_PARSE_BAD);
	assert_int_equal(parse("GET / HTTP/1.1\r\nNo colon\r\n\r\n", &r),
	    HTTP_PARSE_BAD);
	assert_int_equal(parse("GET / HTTP/1.1\r\n folded: x\r\n\r\n", &r),
	    HTTP_PARSE_BAD);
	assert_int_equal(parse("GET / HTTP/1.1\nHost: x\r\n\r\n", &r),
	    HTTP_PARSE_BAD);
	assert_int_equal(parse("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", &r),
	    HTTP_PARSE_BAD);
	assert_int_equal(parse("\x16\x03\x01\x02\x01\r\n\r\n", &r),
	    HTTP_PARSE_BAD);
	big = malloc(HTTP_HEAD_MAX + 100);
	memset(big, 'a', HTTP_HEAD_MAX + 99);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	big[HTTP_HEAD_MAX + 99] = '\0';
	assert_int_equal(parse(big, &r), HTTP_PARSE_TOO_LARGE);
	free(big);
}

static void
test_tokens(void **state)
{
	struct http_request	r;

	(void)state;
	assert_true(parse("GET / HTTP/1.1\r\nConnection: keep-alive\r\n"
	    "Connection:  ,Upgrade , x\r\n\r\n", &r) > 0);
	assert_true(http_header_has_token(&r, "connection", "upgrade"));
	assert_true(http_header_has_token(&r, "connection", "KEEP-ALIVE"));
	assert_true(http_header_has_token(&r, "connection", "x"));
	assert_false(http_header_has_token(&r, "connection", "close"));
	assert_false(http_header_has_token(&r, "upgrade", "websocket"));
}

static void
test_upgrade(void **state)
{
	static char		*origins[] = { "https://ok.example" };
	struct http_ws_opts	 any = { "", NULL, 0 };
	struct http_ws_opts	 strict = { "/mqtt", origins, 1 };
	struct http_request	 r;
	const char		*why, *sub;
	char			*resp;

	(void)state;
	assert_true(parse(UPGRADE_HEAD "Sec-WebSocket-Protocol: foo, "
	    "mqttv3.1, mqtt\r\n\r\n", &r) > 0);
	assert_true(http_is_upgrade(&r));
	assert_int_equal(http_ws_upgrade(&r, &strict, &resp, &sub, &why), 0);
	assert_string_equal(sub, "mqttv3.1");
	assert_string_equal(resp, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	    "Sec-WebSocket-Protocol: mqttv3.1\r\n\r\n");
	free(resp);

	/* No subprotocol offered: lenient clients get none. */
	assert_true(parse(UPGRADE_HEAD "\r\n", &r) > 0);
	assert_int_equal(http_ws_upgrade(&r, &any, &resp, &sub, &why), 0);
	assert_null(sub);
	assert_null(strstr(resp, "Sec-WebSocket-Protocol"));
	free(resp);

	/* Path, origin, version, key, method. */
	assert_true(parse("GET /other HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", &r) > 0);
	assert_int_equal(http_ws_upgrade(&r, &strict, &resp, &sub, &why), 404);
	assert_int_equal(http_ws_upgrade(&r, &any, &resp, &sub, &why), 0);
	free(resp);
	assert_true(parse(UPGRADE_HEAD "Origin: https://evil.example\r\n\r\n",
	    &r) > 0);
	assert_int_equal(http_ws_upgrade(&r, &strict, &resp, &sub, &why), 403);
	assert_true(parse(UPGRADE_HEAD "Origin: HTTPS://OK.example\r\n\r\n",
	    &r) > 0);
	assert_int_equal(http_ws_upgrade(&r, &strict, &resp, &sub, &why), 0);
	free(resp);
	assert_true(parse("GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", &r) > 0);
	assert_int_equal(http_ws_upgrade(&r, &any, &resp, &sub, &why), 426);
	assert_true(parse("GET /mqtt HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Key: short\r\n\r\n", &r) > 0);
	assert_int_equal(http_ws_upgrade(&r, &any, &resp, &sub, &why), 400);
	assert_true(parse("POST /mqtt HTTP/1.1\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n\r\n", &r) > 0);
	assert_int_equal(http_ws_upgrade(&r, &any, &resp, &sub, &why), 400);
	assert_true(parse("GET /mqtt HTTP/1.1\r\nUpgrade: h2c\r\n"
	    "Connection: Upgrade\r\n\r\n", &r) > 0);
	assert_int_equal(http_ws_upgrade(&r, &any, &resp, &sub, &why), 400);
}

static void
test_metrics_render(void **state)
{
	json_t	*stats;
	char	*text;

	(void)state;
	stats = json_pack("{s:{s:i,s:i},s:{s:{s:s,s:i,s:s},s:{s:s,s:i}},"
	    "s:{s:{s:i,s:{s:{s:s,s:i,s:{s:i}}}}}}",
	    "bus", "events", 7, "refused", 0,
	    "sources", "gerrit \"a\"", "type", "gerrit", "events", 3,
	    "state", "up", "lp", "type", "launchpad", "events", 4,
	    "sinks", "mqtt", "clients", 2, "listeners", "web", "protocol",
	    "ws", "accepted", 5, "drops", "ws_too_big", 1);
	text = fh_metrics_render(stats);
	assert_string_equal(text,
	    "# TYPE firehose_bus_events untyped\n"
	    "firehose_bus_events 7\n"
	    "# TYPE firehose_bus_refused untyped\n"
	    "firehose_bus_refused 0\n"
	    "# TYPE firehose_mqtt_clients untyped\n"
	    "firehose_mqtt_clients 2\n"
	    "# TYPE firehose_mqtt_listener_accepted untyped\n"
	    "firehose_mqtt_listener_accepted{listener=\"web\","
	    "protocol=\"ws\"} 5\n"
	    "# TYPE firehose_mqtt_listener_drops untyped\n"
	    "firehose_mqtt_listener_drops{listener=\"web\",protocol=\"ws\","
	    "reason=\"ws_too_big\"} 1\n"
	    "# TYPE firehose_source_events untyped\n"
	    "firehose_source_events{source=\"gerrit \\\"a\\\"\","
	    "type=\"gerrit\"} 3\n"
	    "firehose_source_events{source=\"lp\",type=\"launchpad\"} 4\n");
	free(text);
	json_decref(stats);
}

static void
test_query_parse(void **state)
{
	struct fh_http_params	 p;
	const char		*why = NULL, *q;

	(void)state;
	q = "topic=gerrit%2F%23&topic=launchpad/+&since=2026-12-01T10:00:00Z"
	    "&&flag&empty=&sp=a+b%20c";
	assert_int_equal(fh_http_query_parse(q, strlen(q), &p, &why), 0);
	assert_int_equal(p.n, 6);
	assert_string_equal(p.names[0], "topic");
	assert_string_equal(p.values[0], "gerrit/#");
	assert_string_equal(p.names[1], "topic");
	assert_string_equal(p.values[1], "launchpad/ ");
	assert_string_equal(p.values[2], "2026-12-01T10:00:00Z");
	assert_string_equal(p.names[3], "flag");
	assert_string_equal(p.values[3], "");
	assert_string_equal(p.names[4], "empty");
	assert_string_equal(p.values[4], "");
	assert_string_equal(p.values[5], "a b c");
	fh_http_params_clear(&p);

	/* Only the given length counts. */
	assert_int_equal(fh_http_query_parse("a=1&b=2", 3, &p, &why), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.values[0], "1");
	fh_http_params_clear(&p);
	assert_int_equal(fh_http_query_parse("", 0, &p, &why), 0);
	assert_int_equal(p.n, 0);
	fh_http_params_clear(&p);
	/* A UTF-8 value, escaped. */
	assert_int_equal(fh_http_query_parse("t=caf%C3%A9", 11, &p, &why), 0);
	assert_string_equal(p.values[0], "caf\xc3\xa9");
	fh_http_params_clear(&p);
}

static void
test_query_parse_bad(void **state)
{
	static const char *const bad[] = {
		"a=%", "a=%4", "a=%zz", "%g1=x", "a=%00", "a=b%C3",
		"a=%ff%fe", "x&a=%2",
	};
	struct fh_http_params	 p;
	const char		*why;
	char			 many[8 * (FH_HTTP_QUERY_MAX + 1)];
	size_t			 i, o = 0;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why = NULL;
		assert_int_equal(fh_http_query_parse(bad[i], strlen(bad[i]),
		    &p, &why), -1);
		assert_non_null(why);
		assert_int_equal(p.n, 0);
	}
	for (i = 0; i <= FH_HTTP_QUERY_MAX; i++)
		o += (size_t)snprintf(many + o, sizeof many - o, "k=%zu&", i);
	assert_int_equal(fh_http_query_parse(many, o, &p, &why), -1);
	assert_string_equal(why, "too many query parameters");
	assert_int_equal(fh_http_query_parse(many, o - 6, &p, &why), 0);
	assert_int_equal(p.n, FH_HTTP_QUERY_MAX);
	fh_http_params_clear(&p);
}

static void
test_pct_decode(void **state)
{
	char	*s;

	(void)state;
	s = fh_http_pct_decode("/v1/a%20b+c", 11, false);
	assert_string_equal(s, "/v1/a b+c");
	free(s);
	s = fh_http_pct_decode("a+b", 3, true);
	assert_string_equal(s, "a b");
	free(s);
	assert_null(fh_http_pct_decode("/%", 2, false));
	assert_null(fh_http_pct_decode("/%2", 3, false));
	/* The length bounds the escape: "%41" cut to "%4". */
	assert_null(fh_http_pct_decode("/%41", 3, false));
	assert_null(fh_http_pct_decode("/\xff", 2, false));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_incomplete_and_bad),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_upgrade),
		cmocka_unit_test(test_metrics_render),
		cmocka_unit_test(test_query_parse),
		cmocka_unit_test(test_query_parse_bad),
		cmocka_unit_test(test_pct_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
