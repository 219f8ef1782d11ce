/* Unit tests: the event log's table (sinks/log/store.c) on a real
 * state file: append, read, the time lookup, trimming, seqs that are
 * never reused, reopening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gateway/state.h"
#include "sinks/log/store.h"

struct fix {
	char		 dir[64];
	struct fh_state	*st;
	struct store	*s;
};

static void
fix_open(struct fix *f)
{
	char	*err = NULL;

	f->st = fh_state_open(NULL, f->dir, FH_STATE_SYNC_NORMAL, &err);
	assert_non_null(f->st);
	f->s = store_open(f->st, &err);
	assert_non_null(f->s);
}

static void
fix_close(struct fix *f)
{
	store_close(f->s);
	fh_state_close(f->st);
}

static int
setup(void **state)
{
	struct fix	*f = calloc(1, sizeof *f);

	snprintf(f->dir, sizeof f->dir, "/tmp/fh-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fix_open(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*f = *state;
	char		 cmd[128];

	fix_close(f);
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
append(struct fix *f, const char *topic, int64_t t, const char *payload)
{
	struct store_row	r;

	memset(&r, 0, sizeof r);
	r.topic = topic;
	r.topic_len = strlen(topic);
	r.time_us = t;
	r.payload = (const uint8_t *)payload;
	r.len = strlen(payload);
	r.qos = 1;
	r.json = true;
	assert_int_equal(store_append(f->s, &r), 0);
}

struct seen {
	uint64_t	seq[64];
	char		payload[64][16];
	size_t		n;
	size_t		stop_at;
};

static int
seen_cb(const struct store_row *r, void *arg)
{
	struct seen	*s = arg;

	s->seq[s->n] = r->seq;
	snprintf(s->payload[s->n], sizeof s->payload[0], "%.*s", (int)r->len,
	    (const char *)r->payload);
	s->n++;
	return s->stop_at != 0 && s->n == s->stop_at;
}

static void
test_append_read(void **state)
{
	struct fix	*f = *state;
	struct seen	 s;
	uint64_t	 last;
	int		 i;
	char		 p[16];

	assert_int_equal(store_head(f->s), 0);
	for (i = 0; i < 10; i++) {
		snprintf(p, sizeof p, "%d", i);
		append(f, "a/b", 1000 + i * 10, p);
	}
	assert_int_equal(store_head(f->s), 10);
	assert_int_equal(store_rows(f->s), 10);
	/* reads see what is staged, before any commit */
	memset(&s, 0, sizeof s);
	assert_int_equal(store_read(f->s, 3, INT64_MAX, 100, seen_cb, &s,
	    &last), 7);
	assert_int_equal(s.seq[0], 4);
	assert_string_equal(s.payload[0], "3");
	assert_int_equal(last, 10);
	/* until, and a page size, and a stop */
	memset(&s, 0, sizeof s);
	assert_int_equal(store_read(f->s, 0, 1050, 100, seen_cb, &s, &last),
	    5);
	memset(&s, 0, sizeof s);
	assert_int_equal(store_read(f->s, 0, INT64_MAX, 4, seen_cb, &s,
	    &last), 4);
	assert_int_equal(last, 4);
	memset(&s, 0, sizeof s);
	s.stop_at = 2;
	assert_int_equal(store_read(f->s, 0, INT64_MAX, 100, seen_cb, &s,
	    &last), 2);
	assert_int_equal(last, 2);
	/* the time lookup: the seq before the first event at or after t */
	assert_int_equal(store_seq_before_time(f->s, 1035), 4);
	assert_int_equal(store_seq_before_time(f->s, 0), 0);
	assert_int_equal(store_seq_before_time(f->s, 99999), 10);
	assert_int_equal(fh_state_flush(f->st), 0);
}

static void
test_trim_and_seqs(void **state)
{
	struct fix	*f = *state;
	struct seen	 s;
	uint64_t	 last, bytes;
	int		 i;

	for (i = 0; i < 10; i++)
		append(f, "t", 1000 + i, "0123456789");
	bytes = store_bytes(f->s);
	assert_int_equal(bytes, 10 * (1 + 10 + STORE_ROW_OVERHEAD));
	/* by time: older than 1003 */
	assert_int_equal(store_trim(f->s, 1003, UINT64_MAX, 100), 3);
	assert_int_equal(store_rows(f->s), 7);
	/* by size: down to 3 rows */
	assert_int_equal(store_trim(f->s, 0, 3 * (11 + STORE_ROW_OVERHEAD),
	    100), 4);
	memset(&s, 0, sizeof s);
	assert_int_equal(store_read(f->s, 0, INT64_MAX, 100, seen_cb, &s,
	    &last), 3);
	assert_int_equal(s.seq[0], 8);
	/* at most max_rows a run */
	assert_int_equal(store_trim(f->s, INT64_MAX, UINT64_MAX, 2), 2);
	assert_int_equal(store_trim(f->s, INT64_MAX, UINT64_MAX, 2), 1);
	assert_int_equal(store_rows(f->s), 0);
	assert_int_equal(store_trim(f->s, INT64_MAX, UINT64_MAX, 2), 0);
	assert_int_equal(fh_state_flush(f->st), 0);
	/* empty: a reopened log goes on after the last seq it gave */
	fix_close(f);
	fix_open(f);
	assert_int_equal(store_head(f->s), 10);
	assert_int_equal(store_rows(f->s), 0);
	append(f, "t", 2000, "x");
	assert_int_equal(store_head(f->s), 11);
	assert_int_equal(fh_state_flush(f->st), 0);
	fix_close(f);
	fix_open(f);
	assert_int_equal(store_head(f->s), 11);
	assert_int_equal(store_rows(f->s), 1);
	assert_int_equal(store_bytes(f->s), 1 + 1 + STORE_ROW_OVERHEAD);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_read, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_trim_and_seqs, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
