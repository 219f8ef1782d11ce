/*
 * The broker's tables in the state file (module "mqtt"). See store.h for
 * the contract and docs/durability.md for the reasoning.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "gateway/state.h"
#include "gateway/xmalloc.h"
#include "sinks/mqtt/store.h"

/*
 * Version 1 is the first release's broker schema, which gateway/state.c
 * created itself: IF NOT EXISTS adopts the tables of such a file as they
 * are. The names predate the module prefix rule and stay for that reason.
 */
static const struct fh_state_migration store_steps[] = {
	{ "CREATE TABLE IF NOT EXISTS retain ("
	  "  topic TEXT NOT NULL PRIMARY KEY, payload BLOB NOT NULL,"
	  "  props BLOB NOT NULL, qos INTEGER NOT NULL) WITHOUT ROWID;"
	  "CREATE TABLE IF NOT EXISTS session ("
	  "  client_id TEXT NOT NULL PRIMARY KEY, next_mid INTEGER NOT NULL,"
	  "  expiry INTEGER NOT NULL, disconnected INTEGER NOT NULL)"
	  "  WITHOUT ROWID;"
	  "CREATE TABLE IF NOT EXISTS sub ("
	  "  client_id TEXT NOT NULL, filter TEXT NOT NULL,"
	  "  options INTEGER NOT NULL,"
	  "  PRIMARY KEY (client_id, filter)) WITHOUT ROWID;"
	  /* A message body is stored once however many sessions queue it. */
	  "CREATE TABLE IF NOT EXISTS body ("
	  "  id INTEGER PRIMARY KEY, topic TEXT NOT NULL,"
	  "  payload BLOB NOT NULL, props BLOB NOT NULL);"
	  "CREATE TABLE IF NOT EXISTS msg ("
	  "  seq INTEGER PRIMARY KEY, client_id TEXT NOT NULL,"
	  "  body INTEGER NOT NULL, qos INTEGER NOT NULL,"
	  "  retain INTEGER NOT NULL, dup INTEGER NOT NULL,"
	  "  mid INTEGER NOT NULL, state INTEGER NOT NULL);"
	  "CREATE INDEX IF NOT EXISTS msg_client ON msg (client_id, seq);"
	  "CREATE INDEX IF NOT EXISTS msg_body ON msg (body);"
	  "CREATE TRIGGER IF NOT EXISTS msg_gc AFTER DELETE ON msg BEGIN"
	  "  DELETE FROM body WHERE id = OLD.body AND"
	  "    NOT EXISTS (SELECT 1 FROM msg WHERE body = OLD.body);"
	  "END;"
	  "CREATE TABLE IF NOT EXISTS qos2 ("
	  "  client_id TEXT NOT NULL, mid INTEGER NOT NULL,"
	  "  PRIMARY KEY (client_id, mid)) WITHOUT ROWID;", NULL },
	/* 2: MQTT 5.0 (message expiry, subscription identifiers, the
	 * session's protocol level) and the session's owner. */
	{ "ALTER TABLE retain ADD COLUMN expiry INTEGER NOT NULL DEFAULT 0;"
	  "ALTER TABLE body ADD COLUMN expiry INTEGER NOT NULL DEFAULT 0;"
	  "ALTER TABLE sub ADD COLUMN sub_id INTEGER NOT NULL DEFAULT 0;"
	  "ALTER TABLE session ADD COLUMN username TEXT;"
	  "ALTER TABLE session ADD COLUMN level INTEGER NOT NULL DEFAULT 4;",
	  NULL },
	/* 3: the payload format indicator, which the bus keeps apart from
	 * the other properties (fh_event_payload_format). */
	{ "ALTER TABLE retain ADD COLUMN pfi INTEGER NOT NULL DEFAULT 0;"
	  "ALTER TABLE body ADD COLUMN pfi INTEGER NOT NULL DEFAULT 0;", NULL },
	/* 4: the subscription identifiers a queued message goes out with
	 * (per session, so on msg, not body): 4-byte big-endian each. */
	{ "ALTER TABLE msg ADD COLUMN subids BLOB NOT NULL DEFAULT x'';",
	  NULL },
	/* 5: the delayed will of an offline 5.0 session. */
	{ "CREATE TABLE will ("
	  "  client_id TEXT NOT NULL PRIMARY KEY, topic TEXT NOT NULL,"
	  "  payload BLOB NOT NULL, props BLOB NOT NULL,"
	  "  qos INTEGER NOT NULL, retain INTEGER NOT NULL,"
	  "  pfi INTEGER NOT NULL, expiry INTEGER NOT NULL,"
	  "  due INTEGER NOT NULL) WITHOUT ROWID;", NULL },
	/* 6: the shared subscription a queued message was given to this
	 * session for ("$share/GROUP/filter"; '' none), so that it stays
	 * the group's across a restart. */
	{ "ALTER TABLE msg ADD COLUMN share TEXT NOT NULL DEFAULT '';",
	  NULL },
};

enum store_stmt {
	S_RETAIN_PUT,
	S_RETAIN_DEL,
	S_RETAIN_ALL,
	S_SESSION_PUT,
	S_SESSION_DEL,
	S_SESSION_ALL,
	S_SESSION_DEL_SUBS,
	S_SESSION_DEL_MSGS,
	S_SESSION_DEL_QOS2,
	S_SESSION_DEL_WILL,
	S_WILL_PUT,
	S_WILL_ALL,
	S_SUB_PUT,
	S_SUB_DEL,
	S_SUB_LIST,
	S_BODY_PUT,
	S_MSG_PUSH,
	S_MSG_UPDATE,
	S_MSG_ACK,
	S_MSG_LOAD,
	S_MSG_COUNT,
	S_QOS2_PUT,
	S_QOS2_DEL,
	S_QOS2_LOAD,
	S_MAX
};

static const char *const store_sql[S_MAX] = {
	[S_RETAIN_PUT] = "INSERT OR REPLACE INTO retain (topic, payload, "
	    "props, qos, expiry, pfi) VALUES (?, ?, ?, ?, ?, ?)",
	[S_RETAIN_DEL] = "DELETE FROM retain WHERE topic = ?",
	[S_RETAIN_ALL] = "SELECT topic, payload, props, qos, expiry, pfi "
	    "FROM retain ORDER BY topic",
	[S_SESSION_PUT] = "INSERT OR REPLACE INTO session (client_id, "
	    "next_mid, expiry, disconnected, username, level) "
	    "VALUES (?, ?, ?, ?, ?, ?)",
	[S_SESSION_DEL] = "DELETE FROM session WHERE client_id = ?",
	[S_SESSION_ALL] = "SELECT client_id, next_mid, expiry, disconnected, "
	    "username, level FROM session ORDER BY client_id",
	[S_SESSION_DEL_SUBS] = "DELETE FROM sub WHERE client_id = ?",
	[S_SESSION_DEL_MSGS] = "DELETE FROM msg WHERE client_id = ?",
	[S_SESSION_DEL_QOS2] = "DELETE FROM qos2 WHERE client_id = ?",
	[S_SESSION_DEL_WILL] = "DELETE FROM will WHERE client_id = ?",
	[S_WILL_PUT] = "INSERT OR REPLACE INTO will (client_id, topic, "
	    "payload, props, qos, retain, pfi, expiry, due) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[S_WILL_ALL] = "SELECT client_id, topic, payload, props, qos, retain, "
	    "pfi, expiry, due FROM will ORDER BY client_id",
	[S_SUB_PUT] = "INSERT OR REPLACE INTO sub (client_id, filter, "
	    "options, sub_id) VALUES (?, ?, ?, ?)",
	[S_SUB_DEL] = "DELETE FROM sub WHERE client_id = ? AND filter = ?",
	[S_SUB_LIST] = "SELECT filter, options, sub_id FROM sub "
	    "WHERE client_id = ? ORDER BY filter",
	[S_BODY_PUT] = "INSERT INTO body (topic, payload, props, expiry, pfi) "
	    "VALUES (?, ?, ?, ?, ?)",
	[S_MSG_PUSH] = "INSERT INTO msg (client_id, body, qos, retain, dup, "
	    "mid, state, subids, share) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[S_MSG_UPDATE] = "UPDATE msg SET mid = ?, state = ?, dup = ? "
	    "WHERE seq = ?",
	[S_MSG_ACK] = "DELETE FROM msg WHERE seq = ?",
	[S_MSG_LOAD] = "SELECT m.seq, b.topic, b.payload, b.props, m.qos, "
	    "m.retain, m.dup, m.mid, m.state, b.expiry, b.pfi, m.body, "
	    "m.subids, m.share "
	    "FROM msg m JOIN body b "
	    "ON b.id = m.body WHERE m.client_id = ? ORDER BY m.seq",
	[S_MSG_COUNT] = "SELECT count(*) FROM msg WHERE client_id = ?",
	[S_QOS2_PUT] = "INSERT OR REPLACE INTO qos2 (client_id, mid) "
	    "VALUES (?, ?)",
	[S_QOS2_DEL] = "DELETE FROM qos2 WHERE client_id = ? AND mid = ?",
	[S_QOS2_LOAD] = "SELECT mid FROM qos2 WHERE client_id = ? "
	    "ORDER BY mid",
};

/* The last body written, so that a fan-out stores it once. */
struct store_body {
	bool		 valid;
	int64_t		 id;
	char		*topic;
	uint8_t		*payload;
	size_t		 payload_len;
	uint8_t		*props;
	size_t		 props_len;
	int64_t		 expiry;
	uint8_t		 pfi;
};

struct mqtt_store {
	struct fh_state		*st;
	sqlite3_stmt		*stmt[S_MAX];
	struct store_body	 body;
	uint64_t		 bodies_shared;
};

static const uint8_t store_empty[1];

static void
store_body_forget(struct mqtt_store *ms)
{
	free(ms->body.topic);
	free(ms->body.payload);
	free(ms->body.props);
	memset(&ms->body, 0, sizeof ms->body);
}

/* The batch will be rolled back: the cached body row goes with it. */
static void
store_on_fail(void *arg)
{
	store_body_forget(arg);
}

static const struct fh_state_module store_module = {
	.name = "mqtt",
	.migrations = store_steps,
	.nmigrations = sizeof store_steps / sizeof store_steps[0],
	.on_fail = store_on_fail,
};

struct mqtt_store *
mqtt_store_open(struct fh_state *st, char **errstr)
{
	struct mqtt_store	*ms = fh_xcalloc(1, sizeof *ms);
	int			 i;

	ms->st = st;
	if (fh_state_register(st, &store_module, ms, errstr) != 0) {
		free(ms);
		return NULL;
	}
	for (i = 0; i < S_MAX; i++)
		if ((ms->stmt[i] = fh_state_prepare(st, store_sql[i],
		    errstr)) == NULL) {
			mqtt_store_close(ms);
			return NULL;
		}
	return ms;
}

void
mqtt_store_close(struct mqtt_store *ms)
{
	int	i;

	if (ms == NULL)
		return;
	fh_state_unregister(ms->st, store_module.name);
	for (i = 0; i < S_MAX; i++)
		sqlite3_finalize(ms->stmt[i]);
	store_body_forget(ms);
	free(ms);
}

struct fh_state *
mqtt_store_state(struct mqtt_store *ms)
{
	return ms->st;
}

void
mqtt_store_stats(const struct mqtt_store *ms, json_t *out)
{
	json_object_set_new(out, "bodies_shared",
	    json_integer(ms->bodies_shared));
}

/* ---- statement helpers ---- */

static void
store_text(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static int
store_exec(struct mqtt_store *ms, enum store_stmt which, const char *what)
{
	return fh_state_write(ms->st, ms->stmt[which], what);
}

static int
store_bind_fail(struct mqtt_store *ms, enum store_stmt which,
    const char *what, int rc)
{
	sqlite3_reset(ms->stmt[which]);
	sqlite3_clear_bindings(ms->stmt[which]);
	fh_state_fail(ms->st, what, rc);
	return -1;
}

static const uint8_t *
store_col_blob(sqlite3_stmt *s, int i, size_t *len)
{
	const uint8_t	*p = sqlite3_column_blob(s, i);

	*len = (size_t)sqlite3_column_bytes(s, i);
	return p != NULL ? p : store_empty;
}

static const char *
store_col_text(sqlite3_stmt *s, int i)
{
	const char	*p = (const char *)sqlite3_column_text(s, i);

	return p != NULL ? p : "";
}

/* ---- retained ---- */

int
mqtt_store_retain_put(struct mqtt_store *ms, const struct mqtt_store_msg *m)
{
	sqlite3_stmt	*s = ms->stmt[S_RETAIN_PUT];
	int		 rc;

	store_text(s, 1, m->topic);
	if ((rc = fh_state_bind_blob(s, 2, m->payload, m->payload_len)) !=
	    SQLITE_OK ||
	    (rc = fh_state_bind_blob(s, 3, m->props, m->props_len)) !=
	    SQLITE_OK)
		return store_bind_fail(ms, S_RETAIN_PUT, "retain_put", rc);
	sqlite3_bind_int(s, 4, m->qos);
	sqlite3_bind_int64(s, 5, m->expiry);
	sqlite3_bind_int(s, 6, m->pfi);
	return store_exec(ms, S_RETAIN_PUT, "retain_put");
}

int
mqtt_store_retain_del(struct mqtt_store *ms, const char *topic)
{
	store_text(ms->stmt[S_RETAIN_DEL], 1, topic);
	return store_exec(ms, S_RETAIN_DEL, "retain_del");
}

int
mqtt_store_retain_load_all(struct mqtt_store *ms,
    int (*cb)(const struct mqtt_store_msg *, void *), void *arg)
{
	sqlite3_stmt		*s = ms->stmt[S_RETAIN_ALL];
	struct mqtt_store_msg	 m;
	int			 rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&m, 0, sizeof m);
		m.topic = store_col_text(s, 0);
		m.payload = store_col_blob(s, 1, &m.payload_len);
		m.props = store_col_blob(s, 2, &m.props_len);
		m.qos = (uint8_t)sqlite3_column_int(s, 3);
		m.expiry = sqlite3_column_int64(s, 4);
		m.pfi = (uint8_t)sqlite3_column_int(s, 5);
		m.retain = true;
		if (cb(&m, arg) != 0)
			break;
	}
	return fh_state_read_end(ms->st, s, rc, "retain_load_all");
}

/* ---- sessions ---- */

int
mqtt_store_session_put(struct mqtt_store *ms,
    const struct mqtt_store_session *ss)
{
	sqlite3_stmt	*s = ms->stmt[S_SESSION_PUT];

	store_text(s, 1, ss->client_id);
	sqlite3_bind_int(s, 2, ss->next_mid);
	sqlite3_bind_int64(s, 3, ss->expiry);
	sqlite3_bind_int64(s, 4, ss->disconnected);
	if (ss->username != NULL)
		store_text(s, 5, ss->username);
	else
		sqlite3_bind_null(s, 5);
	sqlite3_bind_int(s, 6, ss->level != 0 ? ss->level : 4);
	return store_exec(ms, S_SESSION_PUT, "session_put");
}

int
mqtt_store_session_del(struct mqtt_store *ms, const char *client_id)
{
	static const enum store_stmt which[] = { S_SESSION_DEL_MSGS,
	    S_SESSION_DEL_QOS2, S_SESSION_DEL_SUBS, S_SESSION_DEL_WILL,
	    S_SESSION_DEL };
	size_t	i;

	store_body_forget(ms);	/* its body row may go away */
	for (i = 0; i < sizeof which / sizeof which[0]; i++) {
		store_text(ms->stmt[which[i]], 1, client_id);
		if (store_exec(ms, which[i], "session_del") != 0)
			return -1;
	}
	return 0;
}

int
mqtt_store_sub_put(struct mqtt_store *ms, const char *client_id,
    const char *filter, uint8_t options, uint32_t sub_id)
{
	sqlite3_stmt	*s = ms->stmt[S_SUB_PUT];

	store_text(s, 1, client_id);
	store_text(s, 2, filter);
	sqlite3_bind_int(s, 3, options);
	sqlite3_bind_int64(s, 4, sub_id);
	return store_exec(ms, S_SUB_PUT, "sub_put");
}

int
mqtt_store_sub_del(struct mqtt_store *ms, const char *client_id,
    const char *filter)
{
	sqlite3_stmt	*s = ms->stmt[S_SUB_DEL];

	store_text(s, 1, client_id);
	store_text(s, 2, filter);
	return store_exec(ms, S_SUB_DEL, "sub_del");
}

/* Fill ss->subs from the sub table; the strings are copies. */
static int
store_session_subs(struct mqtt_store *ms, struct mqtt_store_session *ss,
    struct mqtt_store_sub **subs, size_t *cap)
{
	sqlite3_stmt	*s = ms->stmt[S_SUB_LIST];
	int		 rc;

	ss->nsubs = 0;
	store_text(s, 1, ss->client_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (ss->nsubs == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*subs = fh_xrealloc(*subs, *cap * sizeof **subs);
		}
		(*subs)[ss->nsubs].filter = fh_xstrdup(store_col_text(s, 0));
		(*subs)[ss->nsubs].options = (uint8_t)sqlite3_column_int(s, 1);
		(*subs)[ss->nsubs].id = (uint32_t)sqlite3_column_int64(s, 2);
		ss->nsubs++;
	}
	ss->subs = *subs;
	return fh_state_read_end(ms->st, s, rc, "session_load_all");
}

int
mqtt_store_session_load_all(struct mqtt_store *ms,
    int (*cb)(const struct mqtt_store_session *, void *), void *arg)
{
	sqlite3_stmt			*s = ms->stmt[S_SESSION_ALL];
	struct mqtt_store_session	 ss;
	struct mqtt_store_sub		*subs = NULL;
	size_t				 cap = 0, i;
	int				 rc, stop = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&ss, 0, sizeof ss);
		ss.client_id = store_col_text(s, 0);
		ss.next_mid = (uint16_t)sqlite3_column_int(s, 1);
		ss.expiry = (uint32_t)sqlite3_column_int64(s, 2);
		ss.disconnected = sqlite3_column_int64(s, 3);
		ss.username = sqlite3_column_type(s, 4) == SQLITE_NULL ? NULL :
		    store_col_text(s, 4);
		ss.level = (uint8_t)sqlite3_column_int(s, 5);
		if (store_session_subs(ms, &ss, &subs, &cap) != 0) {
			for (i = 0; i < ss.nsubs; i++)
				free((char *)subs[i].filter);
			stop = -1;
			break;
		}
		stop = cb(&ss, arg);
		for (i = 0; i < ss.nsubs; i++)
			free((char *)subs[i].filter);
		if (stop != 0)
			break;
	}
	free(subs);
	if (stop != 0) {
		sqlite3_reset(s);
		return -1;
	}
	return fh_state_read_end(ms->st, s, rc, "session_load_all");
}

/* ---- queued and in-flight messages ---- */

static bool
store_body_is(const struct store_body *b, const struct mqtt_store_msg *m)
{
	return b->valid && b->payload_len == m->payload_len &&
	    b->expiry == m->expiry && b->pfi == m->pfi &&
	    b->props_len == m->props_len && strcmp(b->topic, m->topic) == 0 &&
	    (m->payload_len == 0 ||
	    memcmp(b->payload, m->payload, m->payload_len) == 0) &&
	    (m->props_len == 0 ||
	    memcmp(b->props, m->props, m->props_len) == 0);
}

static int
store_body_put(struct mqtt_store *ms, const struct mqtt_store_msg *m)
{
	sqlite3_stmt		*s = ms->stmt[S_BODY_PUT];
	struct store_body	*b = &ms->body;
	int			 rc;

	if (store_body_is(b, m)) {
		ms->bodies_shared++;
		return 0;
	}
	store_body_forget(ms);
	store_text(s, 1, m->topic);
	if ((rc = fh_state_bind_blob(s, 2, m->payload, m->payload_len)) !=
	    SQLITE_OK ||
	    (rc = fh_state_bind_blob(s, 3, m->props, m->props_len)) !=
	    SQLITE_OK)
		return store_bind_fail(ms, S_BODY_PUT, "msg_push", rc);
	sqlite3_bind_int64(s, 4, m->expiry);
	sqlite3_bind_int(s, 5, m->pfi);
	if (store_exec(ms, S_BODY_PUT, "msg_push") != 0)
		return -1;
	b->id = sqlite3_last_insert_rowid(fh_state_db(ms->st));
	b->topic = fh_xstrdup(m->topic);
	b->payload = fh_xmalloc(m->payload_len + 1);
	if (m->payload_len > 0)
		memcpy(b->payload, m->payload, m->payload_len);
	b->payload_len = m->payload_len;
	b->props = fh_xmalloc(m->props_len + 1);
	if (m->props_len > 0)
		memcpy(b->props, m->props, m->props_len);
	b->props_len = m->props_len;
	b->expiry = m->expiry;
	b->pfi = m->pfi;
	b->valid = true;
	return 0;
}

int
mqtt_store_msg_push(struct mqtt_store *ms, const char *client_id,
    struct mqtt_store_msg *m)
{
	sqlite3_stmt	*s = ms->stmt[S_MSG_PUSH];
	uint8_t		 ids[MQTT_STORE_SUBIDS_MAX * 4];
	size_t		 i, n = m->nsubids < MQTT_STORE_SUBIDS_MAX ? m->nsubids :
			    MQTT_STORE_SUBIDS_MAX;

	/* Stage first: a failed BEGIN must not leave a body cached. */
	if (fh_state_stage(ms->st) != 0 || store_body_put(ms, m) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		ids[4 * i] = (uint8_t)(m->subids[i] >> 24);
		ids[4 * i + 1] = (uint8_t)(m->subids[i] >> 16);
		ids[4 * i + 2] = (uint8_t)(m->subids[i] >> 8);
		ids[4 * i + 3] = (uint8_t)m->subids[i];
	}
	/* SQLITE_TRANSIENT: ids is on this stack frame */
	if (n > 0)
		sqlite3_bind_blob(s, 8, ids, (int)(4 * n), SQLITE_TRANSIENT);
	else
		sqlite3_bind_zeroblob(s, 8, 0);
	store_text(s, 1, client_id);
	sqlite3_bind_int64(s, 2, ms->body.id);
	sqlite3_bind_int(s, 3, m->qos);
	sqlite3_bind_int(s, 4, m->retain);
	sqlite3_bind_int(s, 5, m->dup);
	sqlite3_bind_int(s, 6, m->mid);
	sqlite3_bind_int(s, 7, m->state);
	store_text(s, 9, m->share != NULL ? m->share : "");
	if (store_exec(ms, S_MSG_PUSH, "msg_push") != 0)
		return -1;
	m->seq = sqlite3_last_insert_rowid(fh_state_db(ms->st));
	return 0;
}

int
mqtt_store_msg_update(struct mqtt_store *ms, int64_t seq, uint16_t mid,
    enum mqtt_store_msg_state state, bool dup)
{
	sqlite3_stmt	*s = ms->stmt[S_MSG_UPDATE];

	sqlite3_bind_int(s, 1, mid);
	sqlite3_bind_int(s, 2, state);
	sqlite3_bind_int(s, 3, dup);
	sqlite3_bind_int64(s, 4, seq);
	return store_exec(ms, S_MSG_UPDATE, "msg_update");
}

int
mqtt_store_msg_ack(struct mqtt_store *ms, int64_t seq)
{
	store_body_forget(ms);	/* the trigger may delete its body */
	sqlite3_bind_int64(ms->stmt[S_MSG_ACK], 1, seq);
	return store_exec(ms, S_MSG_ACK, "msg_ack");
}

int
mqtt_store_msg_load(struct mqtt_store *ms, const char *client_id,
    int (*cb)(const struct mqtt_store_msg *, void *), void *arg)
{
	sqlite3_stmt		*s = ms->stmt[S_MSG_LOAD];
	struct mqtt_store_msg	 m;
	const uint8_t		*ids;
	size_t			 idlen, i;
	int			 rc;

	store_text(s, 1, client_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&m, 0, sizeof m);
		m.seq = sqlite3_column_int64(s, 0);
		m.topic = store_col_text(s, 1);
		m.payload = store_col_blob(s, 2, &m.payload_len);
		m.props = store_col_blob(s, 3, &m.props_len);
		m.qos = (uint8_t)sqlite3_column_int(s, 4);
		m.retain = sqlite3_column_int(s, 5) != 0;
		m.dup = sqlite3_column_int(s, 6) != 0;
		m.mid = (uint16_t)sqlite3_column_int(s, 7);
		m.state = (enum mqtt_store_msg_state)sqlite3_column_int(s, 8);
		m.expiry = sqlite3_column_int64(s, 9);
		m.pfi = (uint8_t)sqlite3_column_int(s, 10);
		m.body = sqlite3_column_int64(s, 11);
		ids = store_col_blob(s, 12, &idlen);
		for (i = 0; i + 4 <= idlen && m.nsubids <
		    MQTT_STORE_SUBIDS_MAX; i += 4)
			m.subids[m.nsubids++] = (uint32_t)ids[i] << 24 |
			    (uint32_t)ids[i + 1] << 16 |
			    (uint32_t)ids[i + 2] << 8 | ids[i + 3];
		m.share = store_col_text(s, 13);
		if (m.share[0] == '\0')
			m.share = NULL;
		if (cb(&m, arg) != 0)
			break;
	}
	return fh_state_read_end(ms->st, s, rc, "msg_load");
}

long
mqtt_store_msg_count(struct mqtt_store *ms, const char *client_id)
{
	sqlite3_stmt	*s = ms->stmt[S_MSG_COUNT];
	long		 n = -1;
	int		 rc;

	store_text(s, 1, client_id);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		n = (long)sqlite3_column_int64(s, 0);
		rc = SQLITE_DONE;
	}
	if (fh_state_read_end(ms->st, s, rc, "msg_count") != 0)
		return -1;
	return n;
}

/* ---- QoS 2 receive state ---- */

int
mqtt_store_qos2_put(struct mqtt_store *ms, const char *client_id,
    uint16_t mid)
{
	sqlite3_stmt	*s = ms->stmt[S_QOS2_PUT];

	store_text(s, 1, client_id);
	sqlite3_bind_int(s, 2, mid);
	return store_exec(ms, S_QOS2_PUT, "qos2_put");
}

int
mqtt_store_qos2_del(struct mqtt_store *ms, const char *client_id,
    uint16_t mid)
{
	sqlite3_stmt	*s = ms->stmt[S_QOS2_DEL];

	store_text(s, 1, client_id);
	sqlite3_bind_int(s, 2, mid);
	return store_exec(ms, S_QOS2_DEL, "qos2_del");
}

int
mqtt_store_qos2_load(struct mqtt_store *ms, const char *client_id,
    int (*cb)(uint16_t, void *), void *arg)
{
	sqlite3_stmt	*s = ms->stmt[S_QOS2_LOAD];
	int		 rc;

	store_text(s, 1, client_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (cb((uint16_t)sqlite3_column_int(s, 0), arg) != 0)
			break;
	return fh_state_read_end(ms->st, s, rc, "qos2_load");
}

/* ---- delayed wills ---- */

int
mqtt_store_will_put(struct mqtt_store *ms, const struct mqtt_store_will *w)
{
	sqlite3_stmt	*s = ms->stmt[S_WILL_PUT];
	int		 rc;

	store_text(s, 1, w->client_id);
	store_text(s, 2, w->topic);
	if ((rc = fh_state_bind_blob(s, 3, w->payload, w->payload_len)) !=
	    SQLITE_OK ||
	    (rc = fh_state_bind_blob(s, 4, w->props, w->props_len)) !=
	    SQLITE_OK)
		return store_bind_fail(ms, S_WILL_PUT, "will_put", rc);
	sqlite3_bind_int(s, 5, w->qos);
	sqlite3_bind_int(s, 6, w->retain);
	sqlite3_bind_int(s, 7, w->pfi);
	sqlite3_bind_int64(s, 8, w->expiry);
	sqlite3_bind_int64(s, 9, w->due);
	return store_exec(ms, S_WILL_PUT, "will_put");
}

int
mqtt_store_will_del(struct mqtt_store *ms, const char *client_id)
{
	store_text(ms->stmt[S_SESSION_DEL_WILL], 1, client_id);
	return store_exec(ms, S_SESSION_DEL_WILL, "will_del");
}

int
mqtt_store_will_load_all(struct mqtt_store *ms,
    int (*cb)(const struct mqtt_store_will *, void *), void *arg)
{
	sqlite3_stmt		*s = ms->stmt[S_WILL_ALL];
	struct mqtt_store_will	 w;
	int			 rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&w, 0, sizeof w);
		w.client_id = store_col_text(s, 0);
		w.topic = store_col_text(s, 1);
		w.payload = store_col_blob(s, 2, &w.payload_len);
		w.props = store_col_blob(s, 3, &w.props_len);
		w.qos = (uint8_t)sqlite3_column_int(s, 4);
		w.retain = sqlite3_column_int(s, 5) != 0;
		w.pfi = (uint8_t)sqlite3_column_int(s, 6);
		w.expiry = sqlite3_column_int64(s, 7);
		w.due = sqlite3_column_int64(s, 8);
		if (cb(&w, arg) != 0)
			break;
	}
	return fh_state_read_end(ms->st, s, rc, "will_load_all");
}
