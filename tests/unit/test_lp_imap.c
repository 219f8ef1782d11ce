/* Unit tests: IMAP response lines, SEARCH, UIDVALIDITY, quoting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sources/launchpad/lp_imap.h"

static int
line(const char *s, struct lp_imap_line *l)
{
	return lp_imap_parse_line((const uint8_t *)s, strlen(s), l);
}

static void
test_lines(void **state)
{
	struct lp_imap_line	l;

	(void)state;
	assert_int_equal(line("* OK [CAPABILITY IMAP4rev1 SASL-IR IDLE "
	    "LITERAL+] Dovecot ready.", &l), 0);
	assert_int_equal(l.kind, LP_IMAP_UNTAGGED);
	assert_int_equal(l.status, LP_IMAP_OK);
	assert_true(l.has_idle);
	assert_int_equal(line("* CAPABILITY IMAP4rev1 IDLE", &l), 0);
	assert_true(l.has_idle);
	assert_int_equal(line("* CAPABILITY IMAP4rev1 NAMESPACE", &l), 0);
	assert_false(l.has_idle);
	assert_int_equal(line("* OK [ALERT] IDLE is a word here", &l), 0);
	assert_false(l.has_idle);
	assert_int_equal(line("* 23 EXISTS", &l), 0);
	assert_true(l.exists);
	assert_int_equal(l.number, 23);
	assert_int_equal(line("* 1 RECENT", &l), 0);
	assert_true(l.recent);
	assert_int_equal(line("+ idling", &l), 0);
	assert_int_equal(l.kind, LP_IMAP_CONTINUE);
	assert_int_equal(line("i3 NO [AUTHENTICATIONFAILED] bad", &l), 0);
	assert_int_equal(l.kind, LP_IMAP_TAGGED);
	assert_string_equal(l.tag, "i3");
	assert_int_equal(l.status, LP_IMAP_NO);
	assert_int_equal(line("* BYE shutting down", &l), 0);
	assert_int_equal(l.status, LP_IMAP_BYE);
	assert_int_equal(line("* 1 FETCH (BODY[] {12}", &l), 0);
	assert_int_equal(l.literal, 12);
	assert_int_equal(line("", &l), -1);
	assert_int_equal(line("i1 WHAT", &l), -1);
	assert_int_equal(line("a(b OK", &l), -1);
	assert_int_equal(line("* 99999999999 EXISTS", &l), 0);
	assert_false(l.exists);
}

static void
test_search(void **state)
{
	const char	*r = "* SEARCH 9 3 7 3\r\n* OK noise\r\n* SEARCH 1\r\n";
	uint32_t	*u;
	size_t		 n;

	(void)state;
	assert_int_equal(lp_imap_parse_search((const uint8_t *)r, strlen(r),
	    &u, &n, 100), 0);
	assert_int_equal(n, 4);
	assert_int_equal(u[0], 1);
	assert_int_equal(u[1], 3);
	assert_int_equal(u[3], 9);
	free(u);
	r = "* SEARCH\r\n";
	assert_int_equal(lp_imap_parse_search((const uint8_t *)r, strlen(r),
	    &u, &n, 100), 0);
	assert_int_equal(n, 0);
	free(u);
	r = "* SEARCH 1 2 3";
	assert_int_equal(lp_imap_parse_search((const uint8_t *)r, strlen(r),
	    &u, &n, 2), 0);
	assert_int_equal(n, 2);
	free(u);
	r = "* SEARCH 1 x";
	assert_int_equal(lp_imap_parse_search((const uint8_t *)r, strlen(r),
	    &u, &n, 2), -1);
	r = "* SEARCH 0";
	assert_int_equal(lp_imap_parse_search((const uint8_t *)r, strlen(r),
	    &u, &n, 2), -1);
}

static void
test_uidvalidity(void **state)
{
	const char	*r = "* STATUS INBOX (UIDVALIDITY 1700000001)\r\n";
	uint32_t	 v;

	(void)state;
	assert_int_equal(lp_imap_parse_uidvalidity((const uint8_t *)r,
	    strlen(r), &v), 0);
	assert_int_equal(v, 1700000001u);
	r = "* STATUS INBOX (MESSAGES 3)";
	assert_int_equal(lp_imap_parse_uidvalidity((const uint8_t *)r,
	    strlen(r), &v), -1);
	r = "* STATUS INBOX (UIDVALIDITY 99999999999)";
	assert_int_equal(lp_imap_parse_uidvalidity((const uint8_t *)r,
	    strlen(r), &v), -1);
}

static void
test_quote_and_set(void **state)
{
	char		*q;
	uint32_t	 u[] = { 4, 7, 4294967295u };

	(void)state;
	q = lp_imap_quote("a \"b\" \\c");
	assert_string_equal(q, "\"a \\\"b\\\" \\\\c\"");
	free(q);
	assert_null(lp_imap_quote("a\r\nb"));
	q = lp_imap_uid_set(u, 3);
	assert_string_equal(q, "4,7,4294967295");
	free(q);
	q = lp_imap_uid_set(u, 0);
	assert_string_equal(q, "");
	free(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_search),
		cmocka_unit_test(test_uidvalidity),
		cmocka_unit_test(test_quote_and_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
