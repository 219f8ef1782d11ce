/* Unit tests: header folding, RFC 2047, QP, base64, charsets, multipart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sources/launchpad/lp_mime.h"

static void
test_fields_and_folding(void **state)
{
	const char	*m = "From mbox line\n"
	    "Subject: a\r\n\tb  \r\n c\r\n"
	    "X-Dup: 1\r\nx-dup: 2\r\nnot a field\r\n"
	    "Empty:\r\n\r\nbody\r\n";
	struct lp_mime	 mm;

	(void)state;
	lp_mime_parse((const uint8_t *)m, strlen(m), &mm);
	assert_int_equal(mm.nfields, 4);
	assert_string_equal(lp_mime_get(&mm, "subject", 0), "a b c");
	assert_string_equal(lp_mime_get(&mm, "X-DUP", 1), "2");
	assert_null(lp_mime_get(&mm, "X-DUP", 2));
	assert_int_equal(lp_mime_count(&mm, "x-dup"), 2);
	assert_string_equal(lp_mime_get(&mm, "Empty", 0), "");
	assert_int_equal(mm.bodylen, 6);
	assert_memory_equal(mm.body, "body\r\n", 6);
	lp_mime_clear(&mm);
	/* no blank line: all header, no body */
	lp_mime_parse((const uint8_t *)"A: b", 4, &mm);
	assert_int_equal(mm.nfields, 1);
	assert_int_equal(mm.bodylen, 0);
	lp_mime_clear(&mm);
}

static void
dec(const char *raw, const char *want)
{
	char	*s = lp_mime_decode_header(raw);

	assert_string_equal(s, want);
	free(s);
}

static void
test_rfc2047(void **state)
{
	(void)state;
	dec("plain text", "plain text");
	dec("=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= (jm)", "J\xc3\xbcrgen "
	    "M\xc3\xbcller (jm)");
	dec("=?ISO-8859-1?Q?Fran=E7ois?=", "Fran\xc3\xa7ois");
	/* blanks between encoded words vanish, a split character joins */
	dec("=?utf-8?b?w6k=?= =?utf-8?b?w6k=?=", "\xc3\xa9\xc3\xa9");
	dec("=?utf-8?q?=C3?= =?utf-8?q?=A9?=", "\xc3\xa9");
	dec("a =?utf-8?q?b?= c", "a b c");
	dec("=?utf-8*en?q?lang?=", "lang");
	/* not encoded words */
	dec("=?utf-8?x?nope?=", "=?utf-8?x?nope?=");
	dec("=?utf-8?q?has space?=", "=?utf-8?q?has space?=");
	dec("=?", "=?");
	/* raw 8-bit: UTF-8 kept, else Latin-1 */
	dec("caf\xc3\xa9", "caf\xc3\xa9");
	dec("caf\xe9", "caf\xc3\xa9");
	/* an unknown charset falls back, never fails */
	dec("=?x-no-such?q?abc?=", "abc");
}

static void
test_qp(void **state)
{
	const char	*in = "a=3Db=\r\nc=\n d =XY=4";
	uint8_t		*out;
	size_t		 n;

	(void)state;
	out = lp_mime_qp_decode((const uint8_t *)in, strlen(in), 0, &n);
	assert_string_equal((char *)out, "a=bc d =XY=4");
	assert_int_equal(n, strlen("a=bc d =XY=4"));
	free(out);
	out = lp_mime_qp_decode((const uint8_t *)"a_b=5F", 6, 1, &n);
	assert_string_equal((char *)out, "a b_");
	free(out);
	out = lp_mime_qp_decode((const uint8_t *)"x=  \r\ny=", 8, 0, &n);
	assert_string_equal((char *)out, "xy");
	free(out);
}

static void
test_b64(void **state)
{
	uint8_t	*out;
	size_t	 n;

	(void)state;
	out = lp_mime_b64_decode((const uint8_t *)"aGVs\r\nbG8=\r\n", 12, &n);
	assert_int_equal(n, 5);
	assert_string_equal((char *)out, "hello");
	free(out);
	out = lp_mime_b64_decode((const uint8_t *)"!!", 2, &n);
	assert_int_equal(n, 0);
	free(out);
}

static void
test_charsets(void **state)
{
	char	*s;
	size_t	 n;

	(void)state;
	s = lp_mime_to_utf8("iso-8859-15", (const uint8_t *)"\xa4", 1, &n);
	assert_string_equal(s, "\xe2\x82\xac");
	free(s);
	s = lp_mime_to_utf8("utf-8", (const uint8_t *)"a\xff" "b", 3, &n);
	assert_string_equal(s, "a\xef\xbf\xbd" "b");
	free(s);
	s = lp_mime_to_utf8("utf-8", (const uint8_t *)"a\xc3", 2, &n);
	assert_string_equal(s, "a\xef\xbf\xbd");
	free(s);
	s = lp_mime_to_utf8("../../etc/x", (const uint8_t *)"ok", 2, &n);
	assert_string_equal(s, "ok");
	free(s);
	s = lp_mime_to_utf8("us-ascii", (const uint8_t *)"\xe9", 1, &n);
	assert_string_equal(s, "\xc3\xa9");
	free(s);
	s = lp_mime_to_utf8("iso-2022-jp", (const uint8_t *)"\x1b$B$\"\x1b(B",
	    8, &n);
	assert_string_equal(s, "\xe3\x81\x82");
	free(s);
}

static void
test_params(void **state)
{
	char	*p;

	(void)state;
	p = lp_mime_param("text/plain; Charset=\"utf-8\"; x=y", "charset");
	assert_string_equal(p, "utf-8");
	free(p);
	p = lp_mime_param("multipart/mixed;\tboundary=\"a\\\"b\";", "boundary");
	assert_string_equal(p, "a\"b");
	free(p);
	assert_null(lp_mime_param("text/plain", "charset"));
	assert_null(lp_mime_param("text/plain; charset", "charset"));
}

static char *
text_of(const char *m)
{
	struct lp_mime	 mm;
	char		*t;
	size_t		 n;

	lp_mime_parse((const uint8_t *)m, strlen(m), &mm);
	t = lp_mime_text(&mm, &n);
	assert_int_equal(n, strlen(t));
	lp_mime_clear(&mm);
	return t;
}

static void
test_multipart(void **state)
{
	char	*t;

	(void)state;
	t = text_of("Content-Type: multipart/mixed; boundary=X\r\n\r\n"
	    "pre\r\n--X\r\nContent-Type: multipart/alternative; boundary=Y"
	    "\r\n\r\n--Y\r\nContent-Type: text/html\r\n\r\n<p>h</p>\r\n"
	    "--Y\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "caf=E9\r\n--Y--\r\n--X\r\nContent-Type: text/plain\r\n\r\n"
	    "second\r\n--X--\r\nepilogue");
	assert_string_equal(t, "caf\xc3\xa9");
	free(t);
	/* html only: the html text rather than nothing */
	t = text_of("Content-Type: multipart/alternative; boundary=Z\r\n\r\n"
	    "--Z\r\nContent-Type: text/html\r\n\r\n<p>only</p>\r\n--Z--\r\n");
	assert_string_equal(t, "<p>only</p>");
	free(t);
	/* no boundary, no close delimiter, attachments only */
	t = text_of("Content-Type: multipart/mixed\r\n\r\nx");
	assert_string_equal(t, "");
	free(t);
	t = text_of("Content-Type: multipart/mixed; boundary=Q\r\n\r\n"
	    "--Q\r\n\r\nunterminated");
	assert_string_equal(t, "unterminated");
	free(t);
	t = text_of("Content-Type: application/pdf\r\n\r\n%PDF");
	assert_string_equal(t, "");
	free(t);
	t = text_of("Content-Type: garbage\r\n\r\nline1\r\nline2\r\n");
	assert_string_equal(t, "line1\nline2\n");
	free(t);
}

static void
test_deep_nesting(void **state)
{
	char	 m[8192] = "", *t;
	int	 i;

	(void)state;
	for (i = 0; i < 40; i++)
		snprintf(m + strlen(m), sizeof m - strlen(m), "Content-Type: "
		    "multipart/mixed; boundary=B%d\r\n\r\n--B%d\r\n", i, i);
	strcat(m, "\r\ndeep");
	t = text_of(m);
	assert_string_equal(t, "");
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_and_folding),
		cmocka_unit_test(test_rfc2047),
		cmocka_unit_test(test_qp),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_charsets),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_deep_nesting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
