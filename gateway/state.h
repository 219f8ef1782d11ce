/*
 * Durable state: one SQLite file, <state_dir>/firehose.db, or an in-memory
 * database with exactly the same API when state_dir is empty.
 *
 * What it keeps: source cursors (gerrit's last event time, launchpad's
 * UIDVALIDITY and last UID), and the tables of the modules that register
 * a schema (the broker's: sinks/mqtt/store.h).
 *
 * Writes are batched. Every write function runs its statement at once
 * inside a transaction that stays open until the end of the event-loop
 * turn; a deferred event then commits the whole batch in ONE transaction
 * and calls the fh_state_on_commit() callbacks registered during the turn,
 * with rc 0 once the batch is durable or -1 when it failed. So the broker
 * stages a publish and asks for a callback that sends PUBACK/PUBREC:
 * nothing is acknowledged before it is on disk. Reads see the writes
 * staged so far.
 *
 * Durability: WAL, synchronous=NORMAL by default: a committed batch
 * survives the process being killed (kill -9, a crash, the OOM killer);
 * power loss may drop the last batches but never corrupts the file.
 * synchronous=FULL (fsync per batch) also survives power loss. See
 * docs/durability.md.
 *
 * Opening never crashes on a bad file: a corrupt file is renamed to
 * firehose.db.corrupt-<UTC time> and a fresh one created (logged at
 * LOG_ERR); a file written by a newer firehose, or a database that is not
 * firehose's, or one held by another running firehosed, is refused with a
 * clear message.
 */
#ifndef FH_STATE_H
#define FH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct event_base;
struct fh_state;
struct sqlite3;
struct sqlite3_stmt;

#define FH_STATE_FILE		"firehose.db"
#define FH_STATE_SCHEMA		2	/* PRAGMA user_version we write:
					 * the core tables; each module
					 * versions its own (see below) */

enum fh_state_sync {
	FH_STATE_SYNC_NORMAL,	/* survives kill -9; default */
	FH_STATE_SYNC_FULL,	/* also survives power loss: fsync per batch */
};

/*
 * Open <dir>/firehose.db (dir is created if missing, mode 0700), or an
 * in-memory store when dir is NULL or "". base runs the per-turn commit;
 * with base NULL nothing commits until fh_state_flush(). NULL and *errstr
 * set on a real error (newer schema, foreign file, in use, no permission).
 */
struct fh_state	*fh_state_open(struct event_base *base, const char *dir,
		    enum fh_state_sync, char **errstr);
/* Commit what is staged, then close. Callbacks still pending are dropped,
 * not called: their owners are gone by now. NULL-safe. */
void		 fh_state_close(struct fh_state *);
/* "" for an in-memory store. */
const char	*fh_state_path(const struct fh_state *);
bool		 fh_state_is_durable(const struct fh_state *);
/* The name the corrupt file was moved to at open, or NULL. */
const char	*fh_state_moved_aside(const struct fh_state *);
/* {"commits", "writes", "failed_commits", "max_batch", ...} into out. */
void		 fh_state_stats(const struct fh_state *, json_t *out);

/* ---- batching ---- */

/* rc 0: everything staged before the fh_state_on_commit() call is
 * committed; -1: the batch failed (logged) and was rolled back. */
typedef void	(*fh_state_done_cb)(int rc, void *arg);

/* Call cb after the current batch commits; never synchronously, always
 * from the event loop (or from fh_state_flush). Cheap: one array slot. */
void		 fh_state_on_commit(struct fh_state *, fh_state_done_cb,
		    void *arg);
/* Forget the pending callbacks whose arg is arg (a client going away). */
void		 fh_state_cancel(struct fh_state *, void *arg);
/* Commit now and run the callbacks; a module's stop() may call it. */
int		 fh_state_flush(struct fh_state *);

/*
 * ---- module schemas ----
 *
 * A module (the broker, an event log, a bridge) keeps its own tables in
 * the same file, so that its writes share the turn's one transaction and
 * its acknowledgements wait for the same commit as everyone else's.
 * The file's user_version covers only the core tables; each module's
 * tables carry their own version (table "module"), so that modules evolve
 * without a global schema number everybody must bump.
 */

/* A step of a module's schema. SQL is run with sqlite3_exec (several
 * statements allowed); fn, if set, runs after it for what SQL cannot do.
 * fn returns 0, or -1 with *errstr set. */
struct fh_state_migration {
	const char	*sql;
	int		(*fn)(struct sqlite3 *, char **errstr);
};

struct fh_state_module {
	const char	*name;		/* unique; key of table module */
	/* migrations[i] takes the tables from version i to i + 1; the
	 * code's version is nmigrations. Append only: a released step is
	 * never edited, since files already went through it. */
	const struct fh_state_migration *migrations;
	size_t		 nmigrations;
	/* Optional: the current batch failed (called at the failure, and
	 * again once it is rolled back), so row ids the module cached from
	 * it are void. */
	void		(*on_fail)(void *arg);
};

/*
 * Bring the module's tables to its version, each step in its own
 * transaction (a failed step leaves the file at the previous version);
 * staged writes are committed first. Registering the same name again
 * (stop + start) only replaces arg. -1 and *errstr set when a step
 * failed or the file's version of the module is newer than the code's:
 * that file was written by a newer firehosed, and the module must not
 * start rather than misread it.
 */
int		 fh_state_register(struct fh_state *,
		    const struct fh_state_module *, void *arg, char **errstr);
/* Forget the module's on_fail hook (its arg is going away). */
void		 fh_state_unregister(struct fh_state *, const char *name);
/* The module's version in the file, -1 if never registered. */
int		 fh_state_module_version(struct fh_state *, const char *);

/*
 * The handle, for a module to prepare its own statements. The module
 * finalizes them in its stop() or destroy(), before fh_state_close().
 * Do not BEGIN/COMMIT on it: the store owns the transaction.
 */
struct sqlite3	*fh_state_db(struct fh_state *);
/* sqlite3_prepare_v3(PERSISTENT), NULL and *errstr naming the SQL. */
struct sqlite3_stmt *fh_state_prepare(struct fh_state *, const char *sql,
		    char **errstr);
/* Open the turn's transaction if needed and schedule its commit; call
 * before stepping a write. 0, or -1 (the batch failed). */
int		 fh_state_stage(struct fh_state *);
/* Stage, step a write statement bound by the caller, reset it and clear
 * its bindings; counted in the stats. 0, or -1 and the batch fails. */
int		 fh_state_write(struct fh_state *, struct sqlite3_stmt *,
		    const char *what);
/* Writes staged since the store opened. A module compares it around
 * fh_gateway_emit() to learn whether any sink staged a write for the event
 * (a bridge's durable queue), so that its acknowledgement waits for the
 * commit too. */
uint64_t	 fh_state_write_count(const struct fh_state *);
/* Report a statement that failed outside fh_state_write (a bind, a step
 * of the module's own): logged once per batch, the batch is rolled back
 * and its callbacks get -1. rc is the SQLite result code. */
void		 fh_state_fail(struct fh_state *, const char *what, int rc);
/* Bind a blob, zero-length as an empty blob (never NULL: columns are NOT
 * NULL). Returns an SQLite result code. */
int		 fh_state_bind_blob(struct sqlite3_stmt *, int,
		    const void *, size_t);
/* End a read loop: reset, clear bindings; rc is the last step's. 0 when
 * it ran off the end, -1 on an error (logged) or when rc is SQLITE_ROW
 * (the caller stopped early). */
int		 fh_state_read_end(struct fh_state *, struct sqlite3_stmt *,
		    int rc, const char *what);

/* ---- source cursors: small text values, per source and key ---- */

/* 0, or -1 when the statement failed (logged; the batch fails). */
int		 fh_state_cursor_set(struct fh_state *, const char *source,
		    const char *key, const char *value);
/* A malloc'd copy of the value, or NULL when unset. */
char		*fh_state_cursor_get(struct fh_state *, const char *source,
		    const char *key);
int		 fh_state_cursor_del(struct fh_state *, const char *source,
		    const char *key);

#endif
