/* Unit tests: a bridge's parser of the WebSocket upgrade answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sinks/bridge/wsclient.h"

#define KEY	"dGhlIHNhbXBsZSBub25jZQ=="	/* RFC 6455 1.3 */
#define ACCEPT	"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static int
parse(const char *s, size_t *used, char *why)
{
	return wsclient_response((const uint8_t *)s, strlen(s), KEY, used,
	    why, 128);
}

static void
test_accepted(void **state)
{
	const char	*ok = "HTTP/1.1 101 Switching Protocols\r\n"
			    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			    "Sec-WebSocket-Accept: " ACCEPT "\r\n"
			    "Sec-WebSocket-Protocol: mqtt\r\n\r\n";
	char		 buf[512], why[128];
	size_t		 used = 0, n;

	(void)state;
	assert_int_equal(parse(ok, &used, why), 0);
	assert_int_equal(used, strlen(ok));
	/* bytes after the head (a CONNACK in the first frame) stay */
	snprintf(buf, sizeof buf, "%s\x82\x04", ok);
	assert_int_equal(parse(buf, &used, why), 0);
	assert_int_equal(used, strlen(ok));
	/* header names and tokens in any case, lists */
	assert_int_equal(parse("HTTP/1.1 101 x\r\nupgrade: WebSocket\r\n"
	    "connection: keep-alive, upgrade\r\nsec-websocket-accept: "
	    ACCEPT "\r\n\r\n", &used, why), 0);
	/* every prefix asks for more */
	for (n = 0; n < strlen(ok); n++)
		assert_int_equal(wsclient_response((const uint8_t *)ok, n, KEY,
		    &used, why, sizeof why), 1);
}

static void
expect_refused(const char *s, const char *want)
{
	char	why[128];
	size_t	used;

	assert_int_equal(parse(s, &used, why), -1);
	if (strstr(why, want) == NULL)
		fail_msg("got '%s', want '%s'", why, want);
}

static void
test_refused(void **state)
{
	(void)state;
	expect_refused("HTTP/1.1 404 Not Found\r\n\r\n", "HTTP 404 Not Found");
	expect_refused("HTTP/1.1 101 x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n",
	    "wrong Sec-WebSocket-Accept");
	expect_refused("HTTP/1.1 101 x\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: " ACCEPT "\r\n\r\n", "without Upgrade");
	expect_refused("HTTP/1.1 101 x\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT "\r\n"
	    "Sec-WebSocket-Protocol: wamp\r\n\r\n", "subprotocol");
	expect_refused("\x20\x02\x00\x05", "not an HTTP answer");
	expect_refused("HTTP/1.0 101 x\r\n\r\n", "not an HTTP/1.1 answer");
	expect_refused("HTTP/1.1 500 \x01\x02\r\n\r\n", "HTTP 500 ??");
}

static void
test_head_too_long(void **state)
{
	char	*big = malloc(WSCLIENT_MAX_RESPONSE + 1), why[128];
	size_t	 used;

	(void)state;
	memset(big, 'a', WSCLIENT_MAX_RESPONSE);
	memcpy(big, "HTTP/1.1 101 x\r\n", 16);
	assert_int_equal(wsclient_response((const uint8_t *)big,
	    WSCLIENT_MAX_RESPONSE, KEY, &used, why, sizeof why), -1);
	assert_non_null(strstr(why, "no end of the HTTP head"));
	free(big);
}

static void
test_request(void **state)
{
	char	key[WSCLIENT_KEY_LEN + 1], *r;

	(void)state;
	r = wsclient_request("::1", 8080, "/mqtt", key);
	assert_int_equal(strlen(key), WSCLIENT_KEY_LEN);
	assert_non_null(strstr(r, "GET /mqtt HTTP/1.1\r\n"));
	assert_non_null(strstr(r, "Host: [::1]:8080\r\n"));
	assert_non_null(strstr(r, "Sec-WebSocket-Protocol: mqtt\r\n"));
	assert_non_null(strstr(r, key));
	assert_int_equal(strcmp(r + strlen(r) - 4, "\r\n\r\n"), 0);
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_head_too_long),
		cmocka_unit_test(test_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
