/*
 * Unit tests: the broker's session table (growing, and shrinking after a
 * storm) and the capacity-less arrays of a session (session_array_room).
 * Under ASan an array one element too short is a heap overflow here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#ifdef __GLIBC__
#include <malloc.h>		/* malloc_usable_size */
#endif

#include "sinks/mqtt/broker_int.h"

static struct mqtt_broker *
new_broker(void)
{
	struct mqtt_broker_conf	conf;

	memset(&conf, 0, sizeof conf);
	conf.max_inflight_messages = 20;
	conf.max_queued_messages = 100;
	return mqtt_broker_create(NULL, &conf);
}

static void
check_room(const void *a, size_t need)
{
#ifdef __GLIBC__
	/* a plain build checks as well as ASan, up to the size class */
	assert_true(malloc_usable_size((void *)a) >= need);
#else
	(void)a;
	(void)need;
#endif
}

/* Adds and removes in a pseudo-random order, every element checked. */
static void
test_array_room(void **state)
{
	uint16_t	*a = NULL, shadow[300];
	size_t		 n = 0, i, step;
	uint32_t	 r = 12345;

	(void)state;
	for (step = 0; step < 20000; step++) {
		r = r * 1103515245 + 12345;
		if (n < 300 && ((r >> 16) % 3 != 0 || n == 0)) {
			a = session_array_room(a, n, sizeof *a);
			check_room(a, (n + 1) * sizeof *a);
			a[n] = shadow[n] = (uint16_t)(r >> 8);
			n++;
		} else {
			/* as PUBREL does: the last one into the hole */
			i = (r >> 16) % n;
			a[i] = shadow[i] = shadow[n - 1];
			n--;
		}
		for (i = 0; i < n; i++)
			assert_int_equal(a[i], shadow[i]);
	}
	/* down to none and up again */
	while (n > 0)
		n--;
	for (i = 0; i < 40; i++) {
		a = session_array_room(a, n, sizeof *a);
		check_room(a, (n + 1) * sizeof *a);
		a[n++] = (uint16_t)i;
	}
	for (i = 0; i < 40; i++)
		assert_int_equal(a[i], i);
	free(a);
}

/* After most sessions of a storm have gone, the table fits again and
 * every session left (and every new one) is still found. */
static void
test_table_fit(void **state)
{
	struct mqtt_broker	*b = new_broker();
	struct mqtt_session	*s[5000];
	char			 id[32];
	size_t			 i, peak;

	(void)state;
	for (i = 0; i < 5000; i++) {
		snprintf(id, sizeof id, "c%zu", i);
		s[i] = session_create(b, id);
	}
	peak = b->nbuckets;
	assert_true(peak >= 5000);
	session_table_fit(b);		/* all still there: unchanged */
	assert_int_equal(b->nbuckets, peak);
	for (i = 0; i < 5000; i++)
		if (i % 500 != 0)
			session_free(s[i]);
	assert_int_equal(b->nsessions, 10);
	session_table_fit(b);
	assert_int_equal(b->nbuckets, 64);
	for (i = 0; i < 5000; i++) {
		snprintf(id, sizeof id, "c%zu", i);
		if (i % 500 == 0)
			assert_ptr_equal(session_find(b, id), s[i]);
		else
			assert_null(session_find(b, id));
	}
	for (i = 0; i < 200; i++) {	/* grows again */
		snprintf(id, sizeof id, "n%zu", i);
		(void)session_create(b, id);
	}
	assert_true(b->nbuckets >= 210);
	for (i = 0; i < 200; i++) {
		snprintf(id, sizeof id, "n%zu", i);
		assert_non_null(session_find(b, id));
	}
	assert_ptr_equal(session_find(b, "c4500"), s[4500]);
	mqtt_broker_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_array_room),
		cmocka_unit_test(test_table_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
