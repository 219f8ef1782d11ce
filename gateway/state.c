/*
 * Durable state on SQLite. See state.h for the contract and
 * docs/durability.md for the reasoning.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "gateway/log.h"
#include "gateway/state.h"
#include "gateway/xmalloc.h"

/* PRAGMA application_id: "FHOS", so that we never adopt someone else's
 * database. */
#define STATE_APP_ID	0x46484f53

/*
 * The core schema, by version: state_core[i] takes the file from
 * user_version i to i + 1; version 2 adds the module versions. The first
 * release's version 1 also held the broker's tables, which are module
 * "mqtt" now (sinks/mqtt/store.c adopts them): a file made since has only
 * the cursors at version 1.
 */
static const char state_schema_1[] =
	"CREATE TABLE cursor ("
	"  source TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
	"  PRIMARY KEY (source, key)) WITHOUT ROWID;";

static const char *const state_core[FH_STATE_SCHEMA] = {
	state_schema_1,
	"CREATE TABLE module ("
	"  name TEXT NOT NULL PRIMARY KEY, version INTEGER NOT NULL)"
	"  WITHOUT ROWID;",
};

enum state_stmt {
	S_BEGIN,
	S_COMMIT,
	S_ROLLBACK,
	S_CURSOR_SET,
	S_CURSOR_GET,
	S_CURSOR_DEL,
	S_MAX
};

static const char *const state_sql[S_MAX] = {
	[S_BEGIN] = "BEGIN",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_CURSOR_SET] = "INSERT OR REPLACE INTO cursor (source, key, value) "
	    "VALUES (?, ?, ?)",
	[S_CURSOR_GET] = "SELECT value FROM cursor WHERE source = ? AND "
	    "key = ?",
	[S_CURSOR_DEL] = "DELETE FROM cursor WHERE source = ? AND key = ?",
};

struct state_cb {
	fh_state_done_cb	 cb;
	void			*arg;
};

struct state_cbs {
	struct state_cb	*v;
	size_t		 n, cap;
};

struct state_module {
	char			*name;
	void			(*on_fail)(void *);
	void			*arg;
};

struct fh_state {
	sqlite3			*db;
	struct state_module	*mods;
	size_t			 nmods;
	sqlite3_stmt		*stmt[S_MAX];
	char			*dir;
	char			*path;		/* "" in memory */
	char			*moved_to;
	bool			 durable;
	enum fh_state_sync	 sync;
	struct event_base	*base;
	struct event		*ev_commit;
	bool			 scheduled;
	bool			 in_tx;
	bool			 failed;	/* the current batch failed */
	bool			 running;	/* callbacks running */
	struct state_cbs	 pending, run;
	/* stats */
	uint64_t		 commits, writes, failed_commits, errors;
	uint64_t		 callbacks, batch_writes, max_batch;
};

/* ---- opening ---- */

static bool
state_is_corrupt_rc(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

/* Run a PRAGMA or query that yields one integer or text row. */
static int
state_query1(sqlite3 *db, const char *sql, int64_t *ival, char **sval)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL)) != SQLITE_OK)
		return rc;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (ival != NULL)
			*ival = sqlite3_column_int64(s, 0);
		if (sval != NULL)
			*sval = fh_xstrdup(sqlite3_column_text(s, 0) ?
			    (const char *)sqlite3_column_text(s, 0) : "");
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	sqlite3_finalize(s);
	return rc;
}

static void
state_close_db(struct fh_state *st)
{
	int	i;

	for (i = 0; i < S_MAX; i++) {
		sqlite3_finalize(st->stmt[i]);
		st->stmt[i] = NULL;
	}
	/* v2: a statement a module failed to finalize must not keep the
	 * file open and locked. */
	sqlite3_close_v2(st->db);
	st->db = NULL;
}

/*
 * Open and check the database. 0 ok; -1 a real error (*why set); -2 the
 * file is corrupt (*why says how), the caller moves it aside and retries.
 */
static int
state_open_db(struct fh_state *st, char **why)
{
	const char	*name = st->durable ? st->path : ":memory:";
	int64_t		 appid = 0, version = 0, ntables = 0;
	char		*mode = NULL, *check = NULL;
	int		 rc, i;

	rc = sqlite3_open_v2(name, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		*why = fh_xasprintf("cannot open %s: %s", st->path,
		    st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	if (st->durable) {
		/*
		 * EXCLUSIVE: hold the lock for as long as we run, so that a
		 * second firehosed on the same state_dir is refused, and keep
		 * the WAL index in our heap (no -shm file).
		 */
		rc = sqlite3_exec(st->db, "PRAGMA locking_mode = EXCLUSIVE",
		    NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = state_query1(st->db, "PRAGMA journal_mode = WAL",
			    NULL, &mode);
		if (rc == SQLITE_OK && strcmp(mode, "wal") != 0) {
			*why = fh_xasprintf("%s: cannot switch to WAL mode "
			    "(got '%s')", st->path, mode);
			goto fail;
		}
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(st->db, st->sync == FH_STATE_SYNC_FULL ?
			    "PRAGMA synchronous = FULL" :
			    "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	} else
		rc = sqlite3_exec(st->db, "PRAGMA synchronous = OFF", NULL,
		    NULL, NULL);
	if (rc == SQLITE_OK)
		rc = state_query1(st->db, "PRAGMA application_id", &appid,
		    NULL);
	if (rc == SQLITE_OK)
		rc = state_query1(st->db, "PRAGMA user_version", &version,
		    NULL);
	if (rc == SQLITE_OK)
		rc = state_query1(st->db, "SELECT count(*) FROM sqlite_master",
		    &ntables, NULL);
	if (rc != SQLITE_OK)
		goto sqlfail;

	if (appid != STATE_APP_ID && (appid != 0 || ntables != 0)) {
		*why = fh_xasprintf("%s is not a firehose state file "
		    "(application_id %#llx): refusing to touch it; point "
		    "state_dir elsewhere", st->path, (unsigned long long)appid);
		goto fail;
	}
	if (version > FH_STATE_SCHEMA) {
		*why = fh_xasprintf("%s was written by a newer firehosed "
		    "(schema version %lld; this one knows up to %d): refusing "
		    "to touch it; run the newer firehosed, or move the file "
		    "away to start with empty state", st->path,
		    (long long)version, FH_STATE_SCHEMA);
		goto fail;
	}
	if (ntables != 0 && st->durable) {
		rc = state_query1(st->db, "PRAGMA quick_check(1)", NULL,
		    &check);
		if (rc != SQLITE_OK)
			goto sqlfail;
		if (strcmp(check, "ok") != 0) {
			char *p;

			for (p = check; *p != '\0'; p++)	/* one log line */
				if (*p == '\n')
					*p = ' ';
			*why = fh_xasprintf("integrity check: %s", check);
			free(check);
			free(mode);
			state_close_db(st);
			return -2;
		}
		free(check);
	}
	if (ntables == 0)
		version = 0;
	/* One transaction per step: an interrupted upgrade resumes from the
	 * last step that committed. */
	for (; version < FH_STATE_SCHEMA; version++) {
		char *sql = fh_xasprintf("BEGIN; %s PRAGMA application_id = %d; "
		    "PRAGMA user_version = %d; COMMIT;", state_core[version],
		    STATE_APP_ID, (int)version + 1);

		rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
		free(sql);
		if (rc != SQLITE_OK) {
			if (!sqlite3_get_autocommit(st->db))
				sqlite3_exec(st->db, "ROLLBACK", NULL, NULL,
				    NULL);
			goto sqlfail;
		}
	}
	for (i = 0; i < S_MAX; i++) {
		rc = sqlite3_prepare_v3(st->db, state_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL);
		if (rc != SQLITE_OK) {
			/* A file that says it is ours but lacks our tables
			 * is damaged. */
			*why = fh_xasprintf("schema: %s",
			    sqlite3_errmsg(st->db));
			free(mode);
			state_close_db(st);
			return -2;
		}
	}
	free(mode);
	return 0;

sqlfail:
	if (state_is_corrupt_rc(rc)) {
		*why = fh_xstrdup(sqlite3_errstr(rc));
		free(mode);
		state_close_db(st);
		return -2;
	}
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
		*why = fh_xasprintf("%s is in use by another process (another "
		    "firehosed with the same state_dir?)", st->path);
	else
		*why = fh_xasprintf("%s: %s", st->path,
		    sqlite3_errmsg(st->db));
fail:
	free(mode);
	state_close_db(st);
	return -1;
}

/* Rename the file and its WAL to <path>.corrupt-<UTC time>[-N]. */
static int
state_move_aside(struct fh_state *st, char **errstr)
{
	static const char *const ext[] = { "-wal", "-shm", "-journal", NULL };
	char		 stamp[32], *to = NULL, *from, *to2;
	struct tm	 tm;
	time_t		 now = time(NULL);
	int		 i, n;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
	for (n = 0; n < 100; n++) {
		free(to);
		to = n == 0 ? fh_xasprintf("%s.corrupt-%s", st->path, stamp) :
		    fh_xasprintf("%s.corrupt-%s-%d", st->path, stamp, n);
		if (access(to, F_OK) != 0)
			break;
	}
	if (rename(st->path, to) != 0) {
		*errstr = fh_xasprintf("%s is corrupt and cannot be moved "
		    "aside to %s: %s", st->path, to, strerror(errno));
		free(to);
		return -1;
	}
	for (i = 0; ext[i] != NULL; i++) {
		from = fh_xasprintf("%s%s", st->path, ext[i]);
		to2 = fh_xasprintf("%s%s", to, ext[i]);
		if (rename(from, to2) != 0 && errno != ENOENT)
			fh_log(LOG_WARNING, "state: cannot move %s aside: %s",
			    from, strerror(errno));
		free(from);
		free(to2);
	}
	st->moved_to = to;
	return 0;
}

static int
state_mkdir(const char *dir, char **errstr)
{
	struct stat	sb;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		*errstr = fh_xasprintf("state_dir %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		*errstr = fh_xasprintf("state_dir %s: not a directory", dir);
		return -1;
	}
	return 0;
}

static void state_commit_cb(evutil_socket_t, short, void *);
static int state_commit_tx(struct fh_state *);

struct fh_state *
fh_state_open(struct event_base *base, const char *dir,
    enum fh_state_sync sync, char **errstr)
{
	struct fh_state	*st = fh_xcalloc(1, sizeof *st);
	char		*why = NULL;
	int		 rc;

	st->base = base;
	st->sync = sync;
	st->durable = dir != NULL && *dir != '\0';
	st->dir = fh_xstrdup(st->durable ? dir : "");
	if (st->durable) {
		if (state_mkdir(dir, errstr) != 0)
			goto fail;
		st->path = fh_xasprintf("%s/%s", dir, FH_STATE_FILE);
	} else
		st->path = fh_xstrdup("");

	rc = state_open_db(st, &why);
	if (rc == -2) {
		if (state_move_aside(st, errstr) != 0) {
			free(why);
			goto fail;
		}
		fh_log(LOG_ERR, "state: %s is corrupt (%s): moved it aside to "
		    "%s and started with empty state", st->path, why,
		    st->moved_to);
		free(why);
		why = NULL;
		rc = state_open_db(st, &why);
		if (rc == -2) {
			*errstr = fh_xasprintf("%s: fresh state file is "
			    "unusable: %s", st->path, why);
			free(why);
			goto fail;
		}
	}
	if (rc != 0) {
		*errstr = why;
		goto fail;
	}
	if (base != NULL)
		st->ev_commit = event_new(base, -1, 0, state_commit_cb, st);
	if (st->durable)
		fh_log(LOG_INFO, "state: %s (WAL, synchronous=%s)", st->path,
		    sync == FH_STATE_SYNC_FULL ? "full" : "normal");
	return st;
fail:
	fh_state_close(st);
	return NULL;
}

void
fh_state_close(struct fh_state *st)
{
	size_t	i;

	if (st == NULL)
		return;
	if (st->db != NULL) {
		state_commit_tx(st);	/* callbacks are dropped */
		if (st->durable)
			sqlite3_exec(st->db, "PRAGMA wal_checkpoint(TRUNCATE)",
			    NULL, NULL, NULL);
	}
	state_close_db(st);
	if (st->ev_commit != NULL)
		event_free(st->ev_commit);
	for (i = 0; i < st->nmods; i++)
		free(st->mods[i].name);
	free(st->mods);
	free(st->pending.v);
	free(st->run.v);
	free(st->dir);
	free(st->path);
	free(st->moved_to);
	free(st);
}

const char *
fh_state_path(const struct fh_state *st)
{
	return st->path;
}

bool
fh_state_is_durable(const struct fh_state *st)
{
	return st->durable;
}

const char *
fh_state_moved_aside(const struct fh_state *st)
{
	return st->moved_to;
}

void
fh_state_stats(const struct fh_state *st, json_t *out)
{
	json_object_set_new(out, "durable", json_boolean(st->durable));
	json_object_set_new(out, "commits", json_integer(st->commits));
	json_object_set_new(out, "writes", json_integer(st->writes));
	json_object_set_new(out, "failed_commits",
	    json_integer(st->failed_commits));
	json_object_set_new(out, "errors", json_integer(st->errors));
	json_object_set_new(out, "callbacks", json_integer(st->callbacks));
	json_object_set_new(out, "max_batch", json_integer(st->max_batch));
	json_object_set_new(out, "moved_aside", json_boolean(st->moved_to));
}

/* ---- batching ---- */

static void
state_schedule(struct fh_state *st)
{
	if (st->scheduled || st->ev_commit == NULL)
		return;
	st->scheduled = true;
	event_active(st->ev_commit, EV_TIMEOUT, 0);
}

/* Row ids the modules cached from this batch may be gone. */
static void
state_fail_hooks(struct fh_state *st)
{
	size_t	i;

	for (i = 0; i < st->nmods; i++)
		if (st->mods[i].on_fail != NULL)
			st->mods[i].on_fail(st->mods[i].arg);
}

static void
state_fail(struct fh_state *st, const char *what, int rc)
{
	st->errors++;
	if (!st->failed) {	/* once per batch */
		fh_log(LOG_ERR, "state: %s failed: %s", what,
		    sqlite3_errcode(st->db) == rc ? sqlite3_errmsg(st->db) :
		    sqlite3_errstr(rc));
		/* The failure may itself have rolled the transaction back
		 * (disk full, I/O error). */
		state_fail_hooks(st);
	}
	st->failed = true;
}

/* Make sure a transaction is open for a write, and a commit scheduled. */
static int
state_stage(struct fh_state *st)
{
	int	rc;

	/* A failed statement may have rolled the transaction back (disk
	 * full, I/O error): open a new one for the writes that follow. */
	if (!st->in_tx || sqlite3_get_autocommit(st->db)) {
		rc = sqlite3_step(st->stmt[S_BEGIN]);
		sqlite3_reset(st->stmt[S_BEGIN]);
		if (rc != SQLITE_DONE) {
			state_fail(st, "BEGIN", rc);
			return -1;
		}
		st->in_tx = true;
	}
	state_schedule(st);
	return 0;
}

static int
state_commit_tx(struct fh_state *st)
{
	int	rc;

	if (!st->in_tx)
		return st->failed ? -1 : 0;
	st->in_tx = false;
	if (st->failed) {
		/* All or nothing: the callbacks get -1, so none of the batch
		 * may stay (a QoS 2 publish must not be half stored). */
		if (!sqlite3_get_autocommit(st->db)) {
			sqlite3_step(st->stmt[S_ROLLBACK]);
			sqlite3_reset(st->stmt[S_ROLLBACK]);
		}
	} else if (!sqlite3_get_autocommit(st->db)) {
		rc = sqlite3_step(st->stmt[S_COMMIT]);
		sqlite3_reset(st->stmt[S_COMMIT]);
		if (rc != SQLITE_DONE) {
			state_fail(st, "COMMIT", rc);
			if (!sqlite3_get_autocommit(st->db)) {
				sqlite3_step(st->stmt[S_ROLLBACK]);
				sqlite3_reset(st->stmt[S_ROLLBACK]);
			}
		}
	}
	if (st->failed) {
		/* Rows written after the failure are gone too. */
		state_fail_hooks(st);
		st->failed_commits++;
	} else
		st->commits++;
	if (st->batch_writes > st->max_batch)
		st->max_batch = st->batch_writes;
	st->batch_writes = 0;
	return st->failed ? -1 : 0;
}

static void
state_run_callbacks(struct fh_state *st)
{
	struct state_cbs	 tmp;
	size_t			 i;
	int			 rc;

	if (st->running || st->pending.n == 0) {
		if (!st->running)
			st->failed = false;
		return;
	}
	tmp = st->run;
	st->run = st->pending;
	st->pending = tmp;
	st->pending.n = 0;
	rc = st->failed ? -1 : 0;
	st->failed = false;
	st->running = true;
	for (i = 0; i < st->run.n; i++) {
		if (st->run.v[i].cb == NULL)	/* cancelled */
			continue;
		st->callbacks++;
		st->run.v[i].cb(rc, st->run.v[i].arg);
	}
	st->run.n = 0;
	st->running = false;
}

static void
state_commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fh_state	*st = arg;

	(void)fd;
	(void)what;
	st->scheduled = false;
	state_commit_tx(st);
	state_run_callbacks(st);
}

int
fh_state_flush(struct fh_state *st)
{
	int	rc = state_commit_tx(st);

	if (st->running) {
		/* Called from a callback: the ones it adds run next turn. */
		if (st->pending.n > 0)
			state_schedule(st);
		return rc;
	}
	state_run_callbacks(st);
	return rc;
}

void
fh_state_on_commit(struct fh_state *st, fh_state_done_cb cb, void *arg)
{
	struct state_cbs	*c = &st->pending;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = fh_xrealloc(c->v, c->cap * sizeof *c->v);
	}
	c->v[c->n].cb = cb;
	c->v[c->n].arg = arg;
	c->n++;
	state_schedule(st);
}

void
fh_state_cancel(struct fh_state *st, void *arg)
{
	size_t	i;

	for (i = 0; i < st->pending.n; i++)
		if (st->pending.v[i].arg == arg)
			st->pending.v[i].cb = NULL;
	if (st->running)
		for (i = 0; i < st->run.n; i++)
			if (st->run.v[i].arg == arg)
				st->run.v[i].cb = NULL;
}

/* ---- statement helpers ---- */

static void
state_text(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static int
state_blob(sqlite3_stmt *s, int i, const uint8_t *p, size_t len)
{
	if (len > INT_MAX)
		return SQLITE_TOOBIG;
	if (len == 0)
		return sqlite3_bind_zeroblob(s, i, 0);
	return sqlite3_bind_blob(s, i, p, (int)len, SQLITE_STATIC);
}

static const char *
state_col_text(sqlite3_stmt *s, int i)
{
	const char	*p = (const char *)sqlite3_column_text(s, i);

	return p != NULL ? p : "";
}

/* End a read: reset, and report an error other than running off the
 * end. */
static int
state_read_end(struct fh_state *st, sqlite3_stmt *s, int rc, const char *what)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		st->errors++;
		fh_log(LOG_ERR, "state: %s failed: %s", what,
		    sqlite3_errmsg(st->db));
		return -1;
	}
	return rc == SQLITE_ROW ? -1 : 0;	/* ROW: the callback stopped */
}

/* ---- the module API ---- */

sqlite3 *
fh_state_db(struct fh_state *st)
{
	return st->db;
}

sqlite3_stmt *
fh_state_prepare(struct fh_state *st, const char *sql, char **errstr)
{
	sqlite3_stmt	*s = NULL;

	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s,
	    NULL) != SQLITE_OK) {
		*errstr = fh_xasprintf("%s: cannot prepare \"%s\": %s",
		    st->path[0] ? st->path : "state", sql,
		    sqlite3_errmsg(st->db));
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

int
fh_state_stage(struct fh_state *st)
{
	return state_stage(st);
}

int
fh_state_write(struct fh_state *st, sqlite3_stmt *s, const char *what)
{
	int	rc;

	if (state_stage(st) != 0) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		return -1;
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		state_fail(st, what, rc);
		return -1;
	}
	st->writes++;
	st->batch_writes++;
	return 0;
}

uint64_t
fh_state_write_count(const struct fh_state *st)
{
	return st->writes;
}

void
fh_state_fail(struct fh_state *st, const char *what, int rc)
{
	state_fail(st, what, rc);
	/* Even with nothing staged, the failure must end with a batch so
	 * that it does not leak into the next one. */
	state_schedule(st);
}

int
fh_state_bind_blob(sqlite3_stmt *s, int i, const void *p, size_t len)
{
	return state_blob(s, i, p, len);
}

int
fh_state_read_end(struct fh_state *st, sqlite3_stmt *s, int rc,
    const char *what)
{
	return state_read_end(st, s, rc, what);
}

static struct state_module *
state_module_find(struct fh_state *st, const char *name)
{
	size_t	i;

	for (i = 0; i < st->nmods; i++)
		if (strcmp(st->mods[i].name, name) == 0)
			return &st->mods[i];
	return NULL;
}

int
fh_state_module_version(struct fh_state *st, const char *name)
{
	sqlite3_stmt	*s;
	int		 v = -1;

	if (sqlite3_prepare_v2(st->db, "SELECT version FROM module WHERE "
	    "name = ?", -1, &s, NULL) != SQLITE_OK)
		return -1;
	state_text(s, 1, name);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Run one step of a module's schema and record the version it reached,
 * all in one transaction. */
static int
state_migrate(struct fh_state *st, const struct fh_state_module *m, int v,
    char **errstr)
{
	const struct fh_state_migration *mg = &m->migrations[v];
	sqlite3_stmt	*s = NULL;
	char		*err = NULL;
	int		 rc;

	rc = sqlite3_exec(st->db, "BEGIN", NULL, NULL, &err);
	if (rc != SQLITE_OK)
		goto fail;
	if (mg->sql != NULL && (rc = sqlite3_exec(st->db, mg->sql, NULL, NULL,
	    &err)) != SQLITE_OK)
		goto fail;
	if (mg->fn != NULL && mg->fn(st->db, &err) != 0) {
		rc = SQLITE_ERROR;
		if (err == NULL)
			err = fh_xstrdup("failed");
		goto fail_own;
	}
	if ((rc = sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO module "
	    "(name, version) VALUES (?, ?)", -1, &s, NULL)) != SQLITE_OK)
		goto fail;
	state_text(s, 1, m->name);
	sqlite3_bind_int(s, 2, v + 1);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		goto fail;
	rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, &err);
	if (rc != SQLITE_OK)
		goto fail;
	return 0;
fail:
	if (err == NULL)
		err = fh_xstrdup(sqlite3_errmsg(st->db));
	else {
		/* sqlite3_exec's message is sqlite3_malloc'd */
		char *e = fh_xstrdup(err);

		sqlite3_free(err);
		err = e;
	}
fail_own:
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	*errstr = fh_xasprintf("%s: module %s: migration to version %d "
	    "failed: %s", st->path[0] ? st->path : "state", m->name, v + 1,
	    err);
	free(err);
	return -1;
}

int
fh_state_register(struct fh_state *st, const struct fh_state_module *m,
    void *arg, char **errstr)
{
	struct state_module	*sm;
	int			 have, want = (int)m->nmigrations;

	/* The steps run outside the batch: commit what is staged (its
	 * callbacks still come from the loop, with the commit's rc). */
	if (st->in_tx)
		state_commit_tx(st);
	have = fh_state_module_version(st, m->name);
	if (have < 0)
		have = 0;
	if (have > want) {
		*errstr = fh_xasprintf("%s was written by a newer firehosed "
		    "(module %s at version %d; this one knows up to %d): "
		    "refusing to touch it; run the newer firehosed, or move "
		    "the file away to start with empty state",
		    st->path[0] ? st->path : "state", m->name, have, want);
		return -1;
	}
	for (; have < want; have++)
		if (state_migrate(st, m, have, errstr) != 0)
			return -1;
	if ((sm = state_module_find(st, m->name)) == NULL) {
		st->mods = fh_xrealloc(st->mods, (st->nmods + 1) *
		    sizeof *st->mods);
		sm = &st->mods[st->nmods++];
		sm->name = fh_xstrdup(m->name);
	}
	sm->on_fail = m->on_fail;
	sm->arg = arg;
	return 0;
}

void
fh_state_unregister(struct fh_state *st, const char *name)
{
	struct state_module	*sm = state_module_find(st, name);

	if (sm != NULL)
		sm->on_fail = NULL;
}

/* ---- cursors ---- */

int
fh_state_cursor_set(struct fh_state *st, const char *source, const char *key,
    const char *value)
{
	sqlite3_stmt	*s = st->stmt[S_CURSOR_SET];

	if (state_stage(st) != 0)
		return -1;
	state_text(s, 1, source);
	state_text(s, 2, key);
	state_text(s, 3, value);
	return fh_state_write(st, s, "cursor_set");
}

char *
fh_state_cursor_get(struct fh_state *st, const char *source, const char *key)
{
	sqlite3_stmt	*s = st->stmt[S_CURSOR_GET];
	char		*v = NULL;
	int		 rc;

	state_text(s, 1, source);
	state_text(s, 2, key);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		v = fh_xstrdup(state_col_text(s, 0));
		rc = SQLITE_DONE;
	}
	state_read_end(st, s, rc, "cursor_get");
	return v;
}

int
fh_state_cursor_del(struct fh_state *st, const char *source, const char *key)
{
	sqlite3_stmt	*s = st->stmt[S_CURSOR_DEL];

	if (state_stage(st) != 0)
		return -1;
	state_text(s, 1, source);
	state_text(s, 2, key);
	return fh_state_write(st, s, "cursor_del");
}
