/*
 * Unit tests: fh_event, the MQTT 5 seam (properties carried opaque,
 * message expiry, payload format).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gateway/event.h"

static void
test_props(void **state)
{
	static const uint8_t	 props[] = { 0x26, 0, 1, 'k', 0, 1, 'v' };
	struct fh_event		*ev, *ref;
	uint8_t			 copy[sizeof props];
	const uint8_t		*p;
	size_t			 len = 99;

	(void)state;
	ev = fh_event_create_raw("a/b", "x", 1);
	assert_null(fh_event_props(ev, &len));
	assert_int_equal(len, 0);
	/* copied: the caller's buffer may go */
	memcpy(copy, props, sizeof props);
	fh_event_set_props(ev, copy, sizeof copy);
	memset(copy, 0, sizeof copy);
	ref = fh_event_ref(ev);
	p = fh_event_props(ref, &len);
	assert_int_equal(len, sizeof props);
	assert_memory_equal(p, props, len);
	/* set again replaces; length 0 clears */
	fh_event_set_props(ev, props, 3);
	assert_int_equal(fh_event_props(ev, &len)[0], 0x26);
	assert_int_equal(len, 3);
	fh_event_set_props(ev, NULL, 0);
	assert_null(fh_event_props(ev, &len));
	assert_int_equal(len, 0);
	fh_event_unref(ref);
	fh_event_unref(ev);
}

static void
test_expiry(void **state)
{
	struct fh_event	*ev;
	int64_t		 t;

	(void)state;
	ev = fh_event_create_raw("a", "", 0);
	t = fh_event_time_us(ev);
	assert_int_equal(fh_event_expiry_us(ev), 0);
	assert_false(fh_event_is_expired(ev, INT64_MAX));
	fh_event_set_expiry_us(ev, t + 5000000);
	assert_int_equal(fh_event_expiry_us(ev), t + 5000000);
	assert_false(fh_event_is_expired(ev, t + 4999999));
	assert_true(fh_event_is_expired(ev, t + 5000000));
	assert_int_equal(fh_event_payload_format(ev), 0);
	fh_event_set_payload_format(ev, 1);
	assert_int_equal(fh_event_payload_format(ev), 1);
	fh_event_unref(ev);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_props),
		cmocka_unit_test(test_expiry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
