/* Unit tests: the durable store (gateway/state.c) on a real SQLite file. */
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

static struct fh_state *
open_ok(struct fixture *f, const char *dir)
{
	char		*err = NULL;
	struct fh_state	*st = fh_state_open(f->base, dir, FH_STATE_SYNC_NORMAL,
	    &err);

	if (st == NULL)
		fail_msg("open: %s", err);
	return st;
}

static char *
open_err(struct fixture *f)
{
	char		*err = NULL;
	struct fh_state	*st = fh_state_open(f->base, f->dir,
	    FH_STATE_SYNC_NORMAL, &err);

	assert_null(st);
	assert_non_null(err);
	return err;
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

/* Write a few cursors. */
static void
fill(struct fh_state *st)
{
	assert_int_equal(fh_state_cursor_set(st, "gerrit", "last", "12345"),
	    0);
	assert_int_equal(fh_state_cursor_set(st, "lp", "uidvalidity", "9"), 0);
	assert_int_equal(fh_state_cursor_set(st, "lp", "uidvalidity", "10"),
	    0);
	assert_int_equal(fh_state_cursor_set(st, "lp", "last", ""), 0);
}

static void
check_filled(struct fh_state *st)
{
	char	*v;

	v = fh_state_cursor_get(st, "gerrit", "last");
	assert_string_equal(v, "12345");
	free(v);
	v = fh_state_cursor_get(st, "lp", "uidvalidity");
	assert_string_equal(v, "10");
	free(v);
	v = fh_state_cursor_get(st, "lp", "last");
	assert_string_equal(v, "");
	free(v);
	assert_null(fh_state_cursor_get(st, "lp", "nosuch"));
}

static void
roundtrip(struct fixture *f, const char *dir)
{
	struct fh_state	*st = open_ok(f, dir);

	assert_int_equal(fh_state_is_durable(st), dir != NULL);
	fill(st);
	check_filled(st);		/* reads see staged writes */
	turn(f);
	check_filled(st);
	assert_int_equal(fh_state_cursor_del(st, "gerrit", "last"), 0);
	assert_null(fh_state_cursor_get(st, "gerrit", "last"));
	turn(f);
	assert_null(fh_state_cursor_get(st, "gerrit", "last"));
	fh_state_close(st);
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

	fill(st);
	turn(f);
	fh_state_close(st);
	st = open_ok(f, f->dir);
	assert_null(fh_state_moved_aside(st));
	check_filled(st);
	fh_state_close(st);

	/* Staged but never turned: close commits it too. */
	st = open_ok(f, f->dir);
	assert_int_equal(fh_state_cursor_set(st, "gerrit", "last", "99"), 0);
	fh_state_close(st);
	st = open_ok(f, f->dir);
	{
		char *v = fh_state_cursor_get(st, "gerrit", "last");

		assert_string_equal(v, "99");
		free(v);
	}
	fh_state_close(st);
}

static void
test_memory_is_not_kept(void **state)
{
	struct fixture	*f = *state;
	struct fh_state	*st = open_ok(f, "");

	assert_false(fh_state_is_durable(st));
	assert_string_equal(fh_state_path(st), "");
	assert_int_equal(fh_state_cursor_set(st, "s", "k", "v"), 0);
	turn(f);
	fh_state_close(st);
	st = open_ok(f, NULL);
	assert_null(fh_state_cursor_get(st, "s", "k"));
	fh_state_close(st);
	assert_int_equal(access(f->path, F_OK), -1);
}

static void
set_user_version(const char *path, int v, const char *extra)
{
	sqlite3	*db;
	char	 sql[128];

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d;", v);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	if (extra != NULL)
		assert_int_equal(sqlite3_exec(db, extra, NULL, NULL, NULL),
		    SQLITE_OK);
	sqlite3_close(db);
}

static void
test_newer_version_refused(void **state)
{
	struct fixture	*f = *state;
	struct fh_state	*st = open_ok(f, f->dir);
	char		*err;

	assert_int_equal(fh_state_cursor_set(st, "s", "k", "v"), 0);
	fh_state_close(st);
	set_user_version(f->path, FH_STATE_SCHEMA + 1, NULL);
	err = open_err(f);
	if (strstr(err, "written by a newer firehosed") == NULL ||
	    strstr(err, f->path) == NULL)
		fail_msg("unclear message: %s", err);
	free(err);
	/* Refused, not moved: the file is still there, untouched. */
	assert_int_equal(access(f->path, F_OK), 0);
}

static void
test_foreign_db_refused(void **state)
{
	struct fixture	*f = *state;
	char		*err;

	set_user_version(f->path, 0, "CREATE TABLE t (x);");
	err = open_err(f);
	if (strstr(err, "not a firehose state file") == NULL)
		fail_msg("unclear message: %s", err);
	free(err);
	assert_int_equal(access(f->path, F_OK), 0);
}

static void
test_in_use_refused(void **state)
{
	struct fixture	*f = *state;
	struct fh_state	*st = open_ok(f, f->dir);
	char		*err;

	err = open_err(f);
	if (strstr(err, "in use") == NULL)
		fail_msg("unclear message: %s", err);
	free(err);
	fh_state_close(st);
	st = open_ok(f, f->dir);
	assert_null(fh_state_moved_aside(st));
	fh_state_close(st);
}

static void
test_not_a_dir(void **state)
{
	struct fixture	*f = *state;
	char		*err = NULL, *file;
	FILE		*fp;

	assert_true(asprintf(&file, "%s/plain", f->dir) > 0);
	fp = fopen(file, "w");
	fclose(fp);
	assert_null(fh_state_open(f->base, file, FH_STATE_SYNC_NORMAL, &err));
	assert_non_null(strstr(err, "not a directory"));
	free(err);
	free(file);
}

static void
expect_moved_aside(struct fixture *f)
{
	struct fh_state	*st = open_ok(f, f->dir);
	const char	*to = fh_state_moved_aside(st);
	struct stat	 sb;
	char		*v;

	assert_non_null(to);
	assert_non_null(strstr(to, FH_STATE_FILE ".corrupt-"));
	assert_int_equal(stat(to, &sb), 0);
	assert_true(sb.st_size > 0);
	/* The fresh store works and persists. */
	assert_int_equal(fh_state_cursor_set(st, "s", "k", "fresh"), 0);
	fh_state_close(st);
	st = open_ok(f, f->dir);
	assert_null(fh_state_moved_aside(st));
	v = fh_state_cursor_get(st, "s", "k");
	assert_string_equal(v, "fresh");
	free(v);
	fh_state_close(st);
}

static void
test_corrupt_garbage(void **state)
{
	struct fixture	*f = *state;
	FILE		*fp = fopen(f->path, "w");
	int		 i;

	for (i = 0; i < 3000; i++)
		fputs("this is not a database ", fp);
	fclose(fp);
	expect_moved_aside(f);
}

static void
test_corrupt_pages(void **state)
{
	struct fixture		*f = *state;
	struct fh_state		*st = open_ok(f, f->dir);
	static char		 big[2000];
	static uint8_t		 junk[4096 * 4];
	FILE			*fp;
	int			 i;

	/* A real file with many pages, then its b-tree pages overwritten:
	 * the header is fine, the content is not. */
	memset(big, 'x', sizeof big - 1);
	for (i = 0; i < 200; i++) {
		char key[32];

		snprintf(key, sizeof key, "t/%d", i);
		assert_int_equal(fh_state_cursor_set(st, "big", key, big), 0);
	}
	fh_state_close(st);
	memset(junk, 0xa5, sizeof junk);
	fp = fopen(f->path, "r+");
	assert_non_null(fp);
	fseek(fp, 4096, SEEK_SET);
	fwrite(junk, 1, sizeof junk, fp);
	fclose(fp);
	expect_moved_aside(f);
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
	char			 v[16], *got;
	int			 i;

	for (i = 0; i < 1000; i++) {
		snprintf(v, sizeof v, "%d", i);
		assert_int_equal(fh_state_cursor_set(st, "s", v, v), 0);
		assert_int_equal(fh_state_cursor_set(st, "t", "n", v), 0);
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
	/* One transaction for 2000 writes; callbacks after it. */
	assert_int_equal(stat_of(st, "commits"), 1);
	assert_int_equal(stat_of(st, "writes"), 2000);
	assert_int_equal(stat_of(st, "max_batch"), 2000);
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
	got = fh_state_cursor_get(st, "t", "n");
	assert_string_equal(got, "999");
	free(got);
	fh_state_close(st);
}

/* A write that fails fails its whole batch: rolled back, callbacks -1. */
static void
test_failed_batch(void **state)
{
	struct fixture		*f = *state;
	struct fh_state		*st = open_ok(f, f->dir);
	struct cb_log		 a = { .st = st }, b = { .st = st };

	assert_int_equal(fh_state_cursor_set(st, "s", "k", "v"), 0);
	/* A module's statement that could not even be bound. */
	fh_state_fail(st, "retain_put", SQLITE_TOOBIG);
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
	fh_state_close(st);
}

/* A callback that stages more work and flushes from inside a callback. */
struct chain {
	struct fh_state	*st;
	int		 calls;
};

static void
cb_chain(int rc, void *arg)
{
	struct chain	*ch = arg;

	assert_int_equal(rc, 0);
	if (++ch->calls < 3) {
		assert_int_equal(fh_state_cursor_set(ch->st, "c", "n", "x"), 0);
		fh_state_on_commit(ch->st, cb_chain, ch);
		assert_int_equal(fh_state_flush(ch->st), 0);
	}
}

static void
test_callback_reentry(void **state)
{
	struct fixture	*f = *state;
	struct fh_state	*st = open_ok(f, f->dir);
	struct chain	 ch = { .st = st };

	fh_state_on_commit(st, cb_chain, &ch);
	assert_int_equal(ch.calls, 0);
	/* The commit event re-arms itself inside the same loop pass. */
	turn(f);
	assert_int_equal(ch.calls, 3);
	turn(f);
	assert_int_equal(ch.calls, 3);
	assert_int_equal(stat_of(st, "commits"), 2);
	fh_state_close(st);
}

/* close() drops callbacks still pending instead of calling them. */
static void
test_close_drops_callbacks(void **state)
{
	struct fixture	*f = *state;
	struct fh_state	*st = open_ok(f, f->dir);
	struct cb_log	 a = { .st = st };

	assert_int_equal(fh_state_cursor_set(st, "s", "k", "v"), 0);
	fh_state_on_commit(st, cb_record, &a);
	fh_state_close(st);
	assert_int_equal(a.calls, 0);
	turn(f);
	assert_int_equal(a.calls, 0);
}

/* ---- the module API ---- */

/* Each step appends to the log table, so the order they ran in shows. */
static int
mig_fn_3(struct sqlite3 *db, char **errstr)
{
	(void)errstr;
	return sqlite3_exec(db, "INSERT INTO demo_log VALUES ('fn3')", NULL,
	    NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static const struct fh_state_migration demo_steps[] = {
	{ "CREATE TABLE demo (k TEXT NOT NULL PRIMARY KEY, v BLOB NOT NULL);"
	  "CREATE TABLE demo_log (step TEXT NOT NULL);"
	  "INSERT INTO demo_log VALUES ('1');", NULL },
	/* Needs step 1's table: fails if run out of order. */
	{ "ALTER TABLE demo ADD COLUMN n INTEGER NOT NULL DEFAULT 0;"
	  "INSERT INTO demo_log VALUES ('2');", NULL },
	{ "INSERT INTO demo_log VALUES ('3');", mig_fn_3 },
};

static struct fh_state_module
demo_module(size_t n)
{
	struct fh_state_module	m = { .name = "demo",
	    .migrations = demo_steps, .nmigrations = n };

	return m;
}

static void
register_ok(struct fh_state *st, const struct fh_state_module *m, void *arg)
{
	char	*err = NULL;

	if (fh_state_register(st, m, arg, &err) != 0)
		fail_msg("register: %s", err);
}

static char *
demo_log(struct fh_state *st)
{
	sqlite3_stmt	*s;
	char		*err = NULL, buf[64] = "";
	int		 rc;

	s = fh_state_prepare(st, "SELECT group_concat(step, ',') FROM "
	    "(SELECT step FROM demo_log ORDER BY rowid)", &err);
	if (s == NULL)
		fail_msg("%s", err);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW &&
	    sqlite3_column_text(s, 0) != NULL)
		snprintf(buf, sizeof buf, "%s", sqlite3_column_text(s, 0));
	assert_int_equal(fh_state_read_end(st, s, rc == SQLITE_ROW ?
	    SQLITE_DONE : rc, "demo_log"), 0);
	sqlite3_finalize(s);
	return strdup(buf);
}

static void
test_module_register(void **state)
{
	struct fixture		*f = *state;
	struct fh_state		*st = open_ok(f, f->dir);
	struct fh_state_module	 m = demo_module(2);
	char			*log;

	assert_int_equal(fh_state_module_version(st, "demo"), -1);
	register_ok(st, &m, NULL);
	assert_int_equal(fh_state_module_version(st, "demo"), 2);
	/* stop() + start(): registering again runs nothing. */
	register_ok(st, &m, NULL);
	log = demo_log(st);
	assert_string_equal(log, "1,2");
	free(log);
	fh_state_close(st);

	/* A newer code version runs only the steps the file lacks, in
	 * order; the core tables are untouched by it. */
	st = open_ok(f, f->dir);
	m = demo_module(3);
	register_ok(st, &m, NULL);
	assert_int_equal(fh_state_module_version(st, "demo"), 3);
	log = demo_log(st);
	assert_string_equal(log, "1,2,3,fn3");
	free(log);
	assert_int_equal(fh_state_cursor_set(st, "s", "k", "v"), 0);
	fh_state_close(st);
}

static void
test_module_newer_refused(void **state)
{
	struct fixture		*f = *state;
	struct fh_state		*st = open_ok(f, f->dir);
	struct fh_state_module	 m = demo_module(3);
	char			*err = NULL;

	register_ok(st, &m, NULL);
	fh_state_close(st);
	st = open_ok(f, f->dir);
	m = demo_module(2);
	assert_int_equal(fh_state_register(st, &m, NULL, &err), -1);
	if (err == NULL ||
	    strstr(err, "written by a newer firehosed") == NULL ||
	    strstr(err, "module demo at version 3") == NULL ||
	    strstr(err, f->path) == NULL)
		fail_msg("unclear message: %s", err);
	free(err);
	/* Refused, not downgraded. */
	assert_int_equal(fh_state_module_version(st, "demo"), 3);
	fh_state_close(st);
}

static void
test_module_failed_step(void **state)
{
	struct fixture			*f = *state;
	struct fh_state			*st = open_ok(f, f->dir);
	static const struct fh_state_migration bad[] = {
		{ "CREATE TABLE demo2 (x);", NULL },
		{ "CREATE TABLE demo2_more (x); ALTER TABLE nosuch ADD y;",
		  NULL },
	};
	struct fh_state_module		 m = { .name = "demo2",
	    .migrations = bad, .nmigrations = 2 };
	char				*err = NULL;
	sqlite3_stmt			*s;

	assert_int_equal(fh_state_register(st, &m, NULL, &err), -1);
	if (err == NULL || strstr(err, "module demo2: migration to version 2")
	    == NULL || strstr(err, "nosuch") == NULL)
		fail_msg("unclear message: %s", err);
	free(err);
	/* Step 1 stays, step 2 left nothing behind. */
	assert_int_equal(fh_state_module_version(st, "demo2"), 1);
	err = NULL;
	s = fh_state_prepare(st, "SELECT * FROM demo2_more", &err);
	assert_null(s);
	assert_non_null(strstr(err, "demo2_more"));
	free(err);
	fh_state_close(st);
}

struct demo_mod {
	int	fails;
};

static void
demo_on_fail(void *arg)
{
	((struct demo_mod *)arg)->fails++;
}

static long
demo_count(struct fh_state *st)
{
	sqlite3_stmt	*s;
	char		*err = NULL;
	long		 n = -1;

	if ((s = fh_state_prepare(st, "SELECT count(*) FROM demo", &err)) ==
	    NULL)
		fail_msg("%s", err);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return n;
}

/* A module's writes join the turn's batch: one commit with the core's,
 * all rolled back together when any of them failed. */
static void
test_module_staged_writes(void **state)
{
	struct fixture		*f = *state;
	struct fh_state		*st = open_ok(f, f->dir);
	struct fh_state_module	 m = demo_module(2);
	struct demo_mod		 dm = { 0 };
	struct cb_log		 a = { .st = st }, b = { .st = st };
	sqlite3_stmt		*ins;
	char			*err = NULL, *v;

	m.on_fail = demo_on_fail;
	register_ok(st, &m, &dm);
	ins = fh_state_prepare(st, "INSERT INTO demo (k, v) VALUES (?, ?)",
	    &err);
	assert_non_null(ins);
	assert_int_equal(fh_state_stage(st), 0);
	sqlite3_bind_text(ins, 1, "k1", -1, SQLITE_STATIC);
	assert_int_equal(fh_state_bind_blob(ins, 2, "", 0), SQLITE_OK);
	assert_int_equal(fh_state_write(st, ins, "demo_put"), 0);
	assert_int_equal(fh_state_cursor_set(st, "s", "k", "v"), 0);
	fh_state_on_commit(st, cb_record, &a);
	assert_int_equal(stat_of(st, "commits"), 0);
	turn(f);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.rc, 0);
	assert_int_equal(stat_of(st, "commits"), 1);
	assert_int_equal(stat_of(st, "writes"), 2);

	/* A failing statement (duplicate key) fails the whole batch. */
	assert_int_equal(fh_state_cursor_set(st, "s", "k", "w"), 0);
	sqlite3_bind_text(ins, 1, "k2", -1, SQLITE_STATIC);
	assert_int_equal(fh_state_bind_blob(ins, 2, "x", 1), SQLITE_OK);
	assert_int_equal(fh_state_write(st, ins, "demo_put"), 0);
	sqlite3_bind_text(ins, 1, "k1", -1, SQLITE_STATIC);
	assert_int_equal(fh_state_bind_blob(ins, 2, "x", 1), SQLITE_OK);
	assert_int_equal(fh_state_write(st, ins, "demo_put"), -1);
	assert_int_equal(dm.fails, 1);
	/* ...and a failure the module reports itself changes nothing. */
	fh_state_fail(st, "demo_other", SQLITE_TOOBIG);
	assert_int_equal(dm.fails, 1);
	fh_state_on_commit(st, cb_record, &b);
	turn(f);
	/* Told again at the rollback: rows written after the failure. */
	assert_int_equal(dm.fails, 2);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.rc, -1);
	assert_int_equal(demo_count(st), 1);
	v = fh_state_cursor_get(st, "s", "k");
	assert_string_equal(v, "v");
	free(v);
	assert_int_equal(stat_of(st, "failed_commits"), 1);

	/* A failure reported by the module alone fails its batch too. */
	assert_int_equal(fh_state_stage(st), 0);
	sqlite3_bind_text(ins, 1, "k3", -1, SQLITE_STATIC);
	assert_int_equal(fh_state_bind_blob(ins, 2, "x", 1), SQLITE_OK);
	assert_int_equal(fh_state_write(st, ins, "demo_put"), 0);
	fh_state_fail(st, "demo_bind", SQLITE_TOOBIG);
	assert_int_equal(dm.fails, 3);
	fh_state_on_commit(st, cb_record, &b);
	turn(f);
	assert_int_equal(dm.fails, 4);
	assert_int_equal(b.rc, -1);
	assert_int_equal(demo_count(st), 1);

	/* Unregistered: no hook any more; committed rows survive. */
	fh_state_unregister(st, "demo");
	fh_state_fail(st, "demo_bind", SQLITE_TOOBIG);
	assert_int_equal(dm.fails, 4);
	turn(f);
	/* That failure ended with its (empty) batch: the next is fine. */
	assert_int_equal(fh_state_cursor_set(st, "s", "k2", "v"), 0);
	fh_state_on_commit(st, cb_record, &a);
	turn(f);
	assert_int_equal(a.rc, 0);
	sqlite3_finalize(ins);
	fh_state_close(st);
	st = open_ok(f, f->dir);
	assert_int_equal(demo_count(st), 1);
	fh_state_close(st);
}

/* Registering while writes are staged commits them first; their
 * callback still comes from the loop. */
static void
test_module_register_mid_batch(void **state)
{
	struct fixture		*f = *state;
	struct fh_state		*st = open_ok(f, f->dir);
	struct fh_state_module	 m = demo_module(1);
	struct cb_log		 a = { .st = st };
	char			*v;

	assert_int_equal(fh_state_cursor_set(st, "s", "k", "v"), 0);
	fh_state_on_commit(st, cb_record, &a);
	register_ok(st, &m, NULL);
	assert_int_equal(a.calls, 0);
	turn(f);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.rc, 0);
	fh_state_close(st);
	st = open_ok(f, f->dir);
	v = fh_state_cursor_get(st, "s", "k");
	assert_string_equal(v, "v");
	free(v);
	assert_int_equal(fh_state_module_version(st, "demo"), 1);
	fh_state_close(st);
}

/* A file from the first release (user_version 1, no module table) is
 * upgraded in place and keeps its data. */
static void
test_core_upgrade_from_1(void **state)
{
	struct fixture	*f = *state;
	struct fh_state	*st = open_ok(f, f->dir);

	fill(st);
	fh_state_close(st);
	set_user_version(f->path, 1, "DROP TABLE module;");
	st = open_ok(f, f->dir);
	assert_null(fh_state_moved_aside(st));
	check_filled(st);
	assert_int_equal(fh_state_module_version(st, "demo"), -1);
	fh_state_close(st);
	{
		sqlite3	*db;
		sqlite3_stmt *s;

		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version",
		    -1, &s, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(s, 0), FH_STATE_SCHEMA);
		sqlite3_finalize(s);
		sqlite3_close(db);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, setup, teardown)
		T(test_roundtrip_memory),
		T(test_roundtrip_file),
		T(test_restart),
		T(test_memory_is_not_kept),
		T(test_newer_version_refused),
		T(test_foreign_db_refused),
		T(test_in_use_refused),
		T(test_not_a_dir),
		T(test_corrupt_garbage),
		T(test_corrupt_pages),
		T(test_batching),
		T(test_failed_batch),
		T(test_callback_reentry),
		T(test_close_drops_callbacks),
		T(test_module_register),
		T(test_module_newer_refused),
		T(test_module_failed_step),
		T(test_module_staged_writes),
		T(test_module_register_mid_batch),
		T(test_core_upgrade_from_1),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
