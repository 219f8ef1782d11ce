/* Unit tests: the broker's tables (sinks/mqtt/store.c) on a real SQLite
 * file, through the state store's module API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <sqlite3.h>

#include "gateway/state.h"
#include "sinks/mqtt/store.h"

struct fixture {
	char			 dir[64];
	char			*path;
	struct event_base	*base;
};

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof *f);

	strcpy(f->dir, "/tmp/fh-state-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	if (asprintf(&f->path, "%s/%s", f->dir, FH_STATE_FILE) < 0)
		return -1;
	f->base = event_base_new();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	char		*cmd;

	if (asprintf(&cmd, "rm -rf '%s'", f->dir) >= 0) {
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", f->dir);
		free(cmd);
	}
	event_base_free(f->base);
	free(f->path);
	free(f);
	return 0;
}

/* The broker's tables on the store open_ok() opened last: the tests keep
 * one store open at a time. */
static struct mqtt_store *ms;

static struct mqtt_store *
store_ok(struct fh_state *st)
{
	char			*err = NULL;
	struct mqtt_store	*s = mqtt_store_open(st, &err);

	if (s == NULL)
		fail_msg("mqtt_store_open: %s", err);
	return s;
}

static struct fh_state *
open_ok(struct fixture *f, const char *dir)
{
	char		*err = NULL;
	struct fh_state	*st = fh_state_open(f->base, dir, FH_STATE_SYNC_NORMAL,
	    &err);

	if (st == NULL)
		fail_msg("open: %s", err);
	ms = store_ok(st);
	return st;
}

static void
close_st(struct fh_state *st)
{
	mqtt_store_close(ms);
	ms = NULL;
	fh_state_close(st);
}

static void
turn(struct fixture *f)
{
	event_base_loop(f->base, EVLOOP_NONBLOCK);
}

static json_int_t
stat_of(struct fh_state *st, const char *key)
{
	json_t		*o = json_object();
	json_int_t	 v;

	fh_state_stats(st, o);
	v = json_integer_value(json_object_get(o, key));
	json_decref(o);
	return v;
}

static json_int_t
store_stat(struct mqtt_store *s, const char *key)
{
	json_t		*o = json_object();
	json_int_t	 v;

	mqtt_store_stats(s, o);
	v = json_integer_value(json_object_get(o, key));
	json_decref(o);
	return v;
}

/* ---- collectors for the load functions ---- */

struct got {
	char	buf[4096];
	int	n;
	int	stop_after;
};

static int
got_msg_cb(const struct mqtt_store_msg *m, void *arg)
{
	struct got	*g = arg;
	size_t		 len = strlen(g->buf), i;

	snprintf(g->buf + len, sizeof g->buf - len,
	    "%s=%.*s/q%d%s%s/mid%u/s%d/p%zu", m->topic,
	    (int)m->payload_len, (const char *)m->payload, m->qos,
	    m->retain ? "r" : "", m->dup ? "d" : "", m->mid, (int)m->state,
	    m->props_len);
	len = strlen(g->buf);
	if (m->expiry != 0)
		snprintf(g->buf + len, sizeof g->buf - len, "/e%lld",
		    (long long)m->expiry);
	for (i = 0; i < m->nsubids; i++) {
		len = strlen(g->buf);
		snprintf(g->buf + len, sizeof g->buf - len, "/i%u",
		    m->subids[i]);
	}
	len = strlen(g->buf);
	if (m->pfi != 0)
		snprintf(g->buf + len, sizeof g->buf - len, "/f%u", m->pfi);
	len = strlen(g->buf);
	if (m->share != NULL)
		snprintf(g->buf + len, sizeof g->buf - len, "/g%s", m->share);
	len = strlen(g->buf);
	snprintf(g->buf + len, sizeof g->buf - len, ";");
	g->n++;
	return g->stop_after != 0 && g->n >= g->stop_after ? -1 : 0;
}

static int
got_session_cb(const struct mqtt_store_session *ss, void *arg)
{
	struct got	*g = arg;
	size_t		 len = strlen(g->buf), i;

	len += snprintf(g->buf + len, sizeof g->buf - len,
	    "%s:%u:%u:%lld:%s:v%u[", ss->client_id, ss->next_mid, ss->expiry,
	    (long long)ss->disconnected,
	    ss->username ? ss->username : "(anon)", ss->level);
	for (i = 0; i < ss->nsubs; i++)
		len += snprintf(g->buf + len, sizeof g->buf - len, "%s/%u/%u,",
		    ss->subs[i].filter, ss->subs[i].options, ss->subs[i].id);
	snprintf(g->buf + len, sizeof g->buf - len, "];");
	g->n++;
	return 0;
}

static int
got_mid_cb(uint16_t mid, void *arg)
{
	struct got	*g = arg;
	size_t		 len = strlen(g->buf);

	snprintf(g->buf + len, sizeof g->buf - len, "%u,", mid);
	g->n++;
	return 0;
}

#define MSG(t, p, q) { .topic = (t), .payload = (const uint8_t *)(p), \
	.payload_len = strlen(p), .qos = (q) }

/* Write one of everything; seq gets the seqs of session a's messages. */
static void
fill(struct fh_state *st, int64_t seq[3])
{
	struct mqtt_store_msg	r1 = MSG("gerrit/x", "{\"r\":1}", 1);
	struct mqtt_store_msg	r2 = MSG("gerrit/y", "", 0);
	struct mqtt_store_msg	m1 = MSG("t/1", "one", 1);
	struct mqtt_store_msg	m2 = MSG("t/2", "two", 2);
	struct mqtt_store_session	sa = { .client_id = "a", .next_mid = 7,
	    .expiry = UINT32_MAX, .disconnected = 0, .username = "alice",
	    .level = 5 };
	struct mqtt_store_session	sb = { .client_id = "b", .next_mid = 1,
	    .expiry = 60, .disconnected = 1700000000 };
	static const uint8_t	props[] = { 0x01, 0x00, 0x02 };

	assert_int_equal(fh_state_cursor_set(st, "gerrit", "last", "12345"),
	    0);
	assert_int_equal(fh_state_cursor_set(st, "lp", "uidvalidity", "9"), 0);
	assert_int_equal(fh_state_cursor_set(st, "lp", "uidvalidity", "10"),
	    0);
	r1.props = props;
	r1.props_len = sizeof props;
	r1.expiry = 1900000000123456;
	r1.pfi = 1;
	m2.expiry = 1800000000000001;
	m2.subids[0] = 268435455;
	m2.subids[1] = 1;
	m2.nsubids = 2;
	m2.share = "$share/g/t/#";
	assert_int_equal(mqtt_store_retain_put(ms, &r1), 0);
	assert_int_equal(mqtt_store_retain_put(ms, &r2), 0);
	assert_int_equal(mqtt_store_session_put(ms, &sa), 0);
	assert_int_equal(mqtt_store_session_put(ms, &sb), 0);
	assert_int_equal(mqtt_store_sub_put(ms, "a", "gerrit/#", 1, 0), 0);
	assert_int_equal(mqtt_store_sub_put(ms, "a", "ansible/+", 0x22,
	    268435455), 0);
	assert_int_equal(mqtt_store_sub_put(ms, "b", "#", 2, 1), 0);
	/* The same body to two sessions is stored once. */
	assert_int_equal(mqtt_store_msg_push(ms, "a", &m1), 0);
	seq[0] = m1.seq;
	assert_int_equal(mqtt_store_msg_push(ms, "b", &m1), 0);
	assert_int_equal(mqtt_store_msg_push(ms, "a", &m2), 0);
	seq[1] = m2.seq;
	assert_true(seq[1] > seq[0]);
	m1.retain = true;
	assert_int_equal(mqtt_store_msg_push(ms, "a", &m1), 0);
	seq[2] = m1.seq;
	assert_int_equal(mqtt_store_msg_update(ms, seq[0], 7,
	    MQTT_STORE_MSG_SENT, true), 0);
	assert_int_equal(mqtt_store_msg_update(ms, seq[1], 8,
	    MQTT_STORE_MSG_RELEASED, false), 0);
	assert_int_equal(mqtt_store_qos2_put(ms, "a", 300), 0);
	assert_int_equal(mqtt_store_qos2_put(ms, "a", 5), 0);
	assert_int_equal(mqtt_store_qos2_put(ms, "b", 1), 0);
}

static void
check_filled(struct fh_state *st)
{
	struct got	 g;
	char		*v;

	v = fh_state_cursor_get(st, "gerrit", "last");
	assert_string_equal(v, "12345");
	free(v);
	v = fh_state_cursor_get(st, "lp", "uidvalidity");
	assert_string_equal(v, "10");
	free(v);
	assert_null(fh_state_cursor_get(st, "lp", "nosuch"));

	memset(&g, 0, sizeof g);
	assert_int_equal(mqtt_store_retain_load_all(ms, got_msg_cb, &g), 0);
	assert_string_equal(g.buf,
	    "gerrit/x={\"r\":1}/q1r/mid0/s0/p3/e1900000000123456/f1;"
	    "gerrit/y=/q0r/mid0/s0/p0;");

	memset(&g, 0, sizeof g);
	assert_int_equal(mqtt_store_session_load_all(ms, got_session_cb, &g), 0);
	assert_string_equal(g.buf, "a:7:4294967295:0:alice:v5["
	    "ansible/+/34/268435455,gerrit/#/1/0,];"
	    "b:1:60:1700000000:(anon):v4[#/2/1,];");

	memset(&g, 0, sizeof g);
	assert_int_equal(mqtt_store_msg_load(ms, "a", got_msg_cb, &g), 0);
	assert_string_equal(g.buf, "t/1=one/q1d/mid7/s1/p0;"
	    "t/2=two/q2/mid8/s2/p0/e1800000000000001/i268435455/i1"
	    "/g$share/g/t/#;"
	    "t/1=one/q1r/mid0/s0/p0;");
	assert_int_equal(mqtt_store_msg_count(ms, "a"), 3);
	memset(&g, 0, sizeof g);
	assert_int_equal(mqtt_store_msg_load(ms, "b", got_msg_cb, &g), 0);
	assert_string_equal(g.buf, "t/1=one/q1/mid0/s0/p0;");

	memset(&g, 0, sizeof g);
	assert_int_equal(mqtt_store_qos2_load(ms, "a", got_mid_cb, &g), 0);
	assert_string_equal(g.buf, "5,300,");
}

static void
roundtrip(struct fixture *f, const char *dir)
{
	struct fh_state	*st = open_ok(f, dir);
	struct got	 g;
	int64_t		 seq[3];

	assert_int_equal(fh_state_is_durable(st), dir != NULL);
	fill(st, seq);
	check_filled(st);		/* reads see staged writes */
	turn(f);
	check_filled(st);
	assert_int_equal(store_stat(ms, "bodies_shared"), 1);

	/* A callback may stop the iteration. */
	memset(&g, 0, sizeof g);
	g.stop_after = 1;
	assert_int_equal(mqtt_store_msg_load(ms, "a", got_msg_cb, &g), -1);
	assert_int_equal(g.n, 1);

	/* Acks, deletes. */
	assert_int_equal(mqtt_store_msg_ack(ms, seq[0]), 0);
	assert_int_equal(mqtt_store_msg_count(ms, "a"), 2);
	assert_int_equal(mqtt_store_msg_count(ms, "b"), 1);
	assert_int_equal(mqtt_store_sub_del(ms, "a", "gerrit/#"), 0);
	assert_int_equal(mqtt_store_qos2_del(ms, "a", 5), 0);
	assert_int_equal(mqtt_store_retain_del(ms, "gerrit/y"), 0);
	assert_int_equal(fh_state_cursor_del(st, "gerrit", "last"), 0);
	assert_int_equal(mqtt_store_session_del(ms, "b"), 0);
	turn(f);
	assert_null(fh_state_cursor_get(st, "gerrit", "last"));
	assert_int_equal(mqtt_store_msg_count(ms, "b"), 0);
	memset(&g, 0, sizeof g);
	assert_int_equal(mqtt_store_session_load_all(ms, got_session_cb, &g), 0);
	assert_string_equal(g.buf, "a:7:4294967295:0:alice:v5["
	    "ansible/+/34/268435455,];");
	memset(&g, 0, sizeof g);
	assert_int_equal(mqtt_store_qos2_load(ms, "b", got_mid_cb, &g), 0);
	assert_int_equal(g.n, 0);
	memset(&g, 0, sizeof g);
	assert_int_equal(mqtt_store_retain_load_all(ms, got_msg_cb, &g), 0);
	assert_int_equal(g.n, 1);
	/* Every body left is still referenced (the GC trigger ran). */
	assert_int_equal(mqtt_store_session_del(ms, "a"), 0);
	close_st(st);
}

static void
test_roundtrip_memory(void **state)
{
	roundtrip(*state, NULL);
}

static void
test_roundtrip_file(void **state)
{
	struct fixture	*f = *state;

	roundtrip(f, f->dir);
}

static void
test_restart(void **state)
{
	struct fixture	*f = *state;
	struct fh_state	*st = open_ok(f, f->dir);
	int64_t		 seq[3];

	fill(st, seq);
	turn(f);
	close_st(st);
	st = open_ok(f, f->dir);
	assert_null(fh_state_moved_aside(st));
	check_filled(st);
	close_st(st);

	/* Staged but never turned: close commits it too. */
	st = open_ok(f, f->dir);
	assert_int_equal(fh_state_cursor_set(st, "gerrit", "last", "99"), 0);
	close_st(st);
	st = open_ok(f, f->dir);
	{
		char *v = fh_state_cursor_get(st, "gerrit", "last");

		assert_string_equal(v, "99");
		free(v);
	}
	close_st(st);
}

/* ---- batching ---- */

struct cb_log {
	struct fh_state	*st;
	int		 calls;
	int		 rc;
	json_int_t	 commits_seen;
};

static void
cb_record(int rc, void *arg)
{
	struct cb_log	*l = arg;

	l->calls++;
	l->rc = rc;
	l->commits_seen = stat_of(l->st, "commits");
}

static void
test_batching(void **state)
{
	struct fixture		*f = *state;
	struct fh_state		*st = open_ok(f, f->dir);
	struct cb_log		 a = { .st = st }, b = { .st = st },
				 c = { .st = st };
	struct mqtt_store_msg	 m = MSG("t/x", "payload", 1);
	char			 v[16];
	int			 i;

	for (i = 0; i < 1000; i++) {
		snprintf(v, sizeof v, "%d", i);
		assert_int_equal(fh_state_cursor_set(st, "s", v, v), 0);
		assert_int_equal(mqtt_store_msg_push(ms, "sess", &m), 0);
		if (i == 10)
			fh_state_on_commit(st, cb_record, &a);
	}
	fh_state_on_commit(st, cb_record, &b);
	fh_state_on_commit(st, cb_record, &c);
	fh_state_cancel(st, &c);
	/* Nothing is committed nor called back before the loop turns. */
	assert_int_equal(stat_of(st, "commits"), 0);
	assert_int_equal(a.calls, 0);
	turn(f);
	/* One transaction for 2000 writes + 1 body; callbacks after it. */
	assert_int_equal(stat_of(st, "commits"), 1);
	assert_int_equal(stat_of(st, "writes"), 2001);
	assert_int_equal(stat_of(st, "max_batch"), 2001);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.rc, 0);
	assert_int_equal(a.commits_seen, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(c.calls, 0);
	/* A callback with nothing staged still comes, from the loop. */
	fh_state_on_commit(st, cb_record, &c);
	assert_int_equal(c.calls, 0);
	turn(f);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.rc, 0);
	/* An idle turn commits nothing. */
	turn(f);
	assert_int_equal(stat_of(st, "commits"), 1);
	assert_int_equal(mqtt_store_msg_count(ms, "sess"), 1000);
	close_st(st);
}

/* A write that fails fails its whole batch: rolled back, callbacks -1. */
static void
test_failed_batch(void **state)
{
	struct fixture		*f = *state;
	struct fh_state		*st = open_ok(f, f->dir);
	struct cb_log		 a = { .st = st }, b = { .st = st };
	struct mqtt_store_msg	 m = MSG("t", "x", 1);

	assert_int_equal(fh_state_cursor_set(st, "s", "k", "v"), 0);
	m.payload_len = (size_t)INT32_MAX + 1;	/* refused before reading */
	assert_int_equal(mqtt_store_retain_put(ms, &m), -1);
	fh_state_on_commit(st, cb_record, &a);
	turn(f);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.rc, -1);
	assert_null(fh_state_cursor_get(st, "s", "k"));
	assert_int_equal(stat_of(st, "failed_commits"), 1);
	/* The next batch is fine again. */
	assert_int_equal(fh_state_cursor_set(st, "s", "k", "w"), 0);
	fh_state_on_commit(st, cb_record, &b);
	turn(f);
	assert_int_equal(b.rc, 0);
	assert_int_equal(b.calls, 1);
	assert_int_equal(stat_of(st, "commits"), 1);
	close_st(st);
}

/*
 * Figures, not assertions: writes per second with one transaction per
 * write versus one per loop turn. FH_STATE_BENCH=N sets the count.
 */
static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
bench_one(struct fixture *f, enum fh_state_sync sync, int n, int batch)
{
	char			*err = NULL;
	struct fh_state		*st;
	struct mqtt_store_msg	 m = MSG("bench/topic", "", 1);
	static uint8_t		 payload[512];
	double			 t0;
	int			 i;

	unlink(f->path);
	st = fh_state_open(f->base, f->dir, sync, &err);
	assert_non_null(st);
	ms = store_ok(st);
	m.payload = payload;
	m.payload_len = sizeof payload;
	t0 = now_s();
	for (i = 0; i < n; i++) {
		payload[i % sizeof payload]++;
		assert_int_equal(mqtt_store_msg_push(ms, "bench", &m), 0);
		if ((i + 1) % batch == 0)
			turn(f);
	}
	turn(f);
	t0 = now_s() - t0;
	close_st(st);
	return n / t0;
}

static void
test_bench(void **state)
{
	struct fixture	*f = *state;
	const char	*e = getenv("FH_STATE_BENCH");
	int		 n = e ? atoi(e) : 2000;

	if (n <= 0)
		return;
	printf("# state bench: %d QoS 1 pushes (512-byte payloads), writes/s\n",
	    n);
	printf("#   normal, 1 write per commit:   %10.0f\n",
	    bench_one(f, FH_STATE_SYNC_NORMAL, n, 1));
	printf("#   normal, 100 writes per commit: %9.0f\n",
	    bench_one(f, FH_STATE_SYNC_NORMAL, n, 100));
	printf("#   full,   1 write per commit:   %10.0f\n",
	    bench_one(f, FH_STATE_SYNC_FULL, n / 10 ? n / 10 : 1, 1));
	printf("#   full,   100 writes per commit: %9.0f\n",
	    bench_one(f, FH_STATE_SYNC_FULL, n, 100));
}

static int
got_will_cb(const struct mqtt_store_will *w, void *arg)
{
	struct got	*g = arg;
	size_t		 len = strlen(g->buf);

	snprintf(g->buf + len, sizeof g->buf - len,
	    "%s:%s=%.*s/q%u%s/p%zu/f%u/x%lld/due%lld;", w->client_id, w->topic,
	    (int)w->payload_len, (const char *)w->payload, w->qos,
	    w->retain ? "r" : "", w->props_len, w->pfi, (long long)w->expiry,
	    (long long)w->due);
	g->n++;
	return 0;
}

/* A delayed will per session: put replaces, session_del takes it. */
static void
test_wills(void **state)
{
	struct fixture		*f = *state;
	struct fh_state		*st = open_ok(f, f->dir);
	static const uint8_t	 props[] = { 0x03, 0x00, 0x01, 'x' };
	struct mqtt_store_will	 w = { .client_id = "a", .topic = "will/a",
	    .payload = (const uint8_t *)"bye", .payload_len = 3,
	    .props = props, .props_len = sizeof props, .qos = 1,
	    .retain = true, .pfi = 1, .expiry = -1, .due = 1800000000000000 };
	struct got		 g;

	assert_int_equal(mqtt_store_will_put(ms, &w), 0);
	w.client_id = "b";
	w.payload_len = 0;
	w.props_len = 0;
	w.expiry = 60;
	assert_int_equal(mqtt_store_will_put(ms, &w), 0);
	w.due++;
	assert_int_equal(mqtt_store_will_put(ms, &w), 0);	/* replaces */
	turn(f);
	close_st(st);
	st = open_ok(f, f->dir);
	memset(&g, 0, sizeof g);
	assert_int_equal(mqtt_store_will_load_all(ms, got_will_cb, &g), 0);
	assert_string_equal(g.buf,
	    "a:will/a=bye/q1r/p4/f1/x-1/due1800000000000000;"
	    "b:will/a=/q1r/p0/f1/x60/due1800000000000001;");
	assert_int_equal(mqtt_store_session_del(ms, "a"), 0);
	assert_int_equal(mqtt_store_will_del(ms, "b"), 0);
	memset(&g, 0, sizeof g);
	assert_int_equal(mqtt_store_will_load_all(ms, got_will_cb, &g), 0);
	assert_int_equal(g.n, 0);
	close_st(st);
}

/* A file whose broker tables are newer than this code: refused, named,
 * untouched. */
static void
test_newer_tables_refused(void **state)
{
	struct fixture	*f = *state;
	struct fh_state	*st = open_ok(f, f->dir);
	struct mqtt_store *s;
	sqlite3		*db;
	char		*err = NULL;

	close_st(st);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE module SET version = 99 "
	    "WHERE name = 'mqtt'", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_changes(db), 1);
	sqlite3_close(db);
	st = fh_state_open(f->base, f->dir, FH_STATE_SYNC_NORMAL, &err);
	assert_non_null(st);
	s = mqtt_store_open(st, &err);
	assert_null(s);
	if (err == NULL || strstr(err, "module mqtt at version 99") == NULL)
		fail_msg("unclear message: %s", err);
	free(err);
	assert_int_equal(fh_state_module_version(st, "mqtt"), 99);
	fh_state_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
		T(test_roundtrip_memory),
		T(test_roundtrip_file),
		T(test_restart),
		T(test_batching),
		T(test_failed_batch),
		T(test_wills),
		T(test_newer_tables_refused),
		T(test_bench),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
