/*
 * The Launchpad source: bug notification mail in an IMAP mailbox, read
 * with libcurl (multi interface on the loop), turned into events by
 * lp_parse, marked done on the server only after the bus took them.
 *
 * One fetch cycle is a chain of libcurl transfers on one reused IMAP
 * connection:
 *
 *   STATUS mbox (UIDVALIDITY)      forget remembered UIDs if it changed
 *   UID SEARCH OR UNSEEN KEYWORD $FirehosePending
 *   UID STORE new +FLAGS ($FirehosePending)   before FETCH sets \Seen
 *   UID FETCH (URL ;UID=n)          one per mail: parse, emit
 *   done: -$FirehosePending +\Seen | +\Deleted, UID EXPUNGE | UID MOVE
 *   UID STORE foreign -FLAGS (\Seen $FirehosePending)   left unread
 *
 * libcurl's FETCH is BODY[] (it sets \Seen) and its custom FETCH drops
 * literals, so a mail being worked on carries the $FirehosePending keyword:
 * whatever dies between FETCH and "done" (this daemon, the connection, the
 * server), the next SEARCH finds the mail again: at-least-once. Within one
 * run, mails already published but not yet marked done are remembered by
 * UID and only marked done, never published twice.
 *
 * New mail is noticed by IMAP IDLE on a second small connection (lp_idle)
 * when the server has it, and by polling every poll_interval anyway.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "gateway/backoff.h"
#include "gateway/conf.h"
#include "gateway/curl.h"
#include "gateway/event.h"
#include "gateway/gateway.h"
#include "gateway/log.h"
#include "gateway/secret.h"
#include "gateway/xmalloc.h"
#include "sources/launchpad/launchpad.h"
#include "sources/launchpad/lp_idle.h"
#include "sources/launchpad/lp_imap.h"
#include "sources/launchpad/lp_parse.h"

#define LP_KEYWORD	"$FirehosePending"
#define LP_BATCH	100		/* mails fetched per cycle */
#define LP_SEARCH_MAX	100000		/* UIDs read per SEARCH */
#define LP_REIDLE_MS	(25L * 60 * 1000)

enum launchpad_done {
	LP_DONE_SEEN,
	LP_DONE_DELETE,
	LP_DONE_MOVE,
};

enum launchpad_step {
	LP_STEP_NONE,
	LP_STEP_STATUS,
	LP_STEP_SEARCH,
	LP_STEP_PEND,
	LP_STEP_FETCH,
	LP_STEP_DONE1,
	LP_STEP_DONE2,
	LP_STEP_EXPUNGE,	/* fallback without UIDPLUS */
	LP_STEP_UNMARK,
};

struct launchpad_set {			/* sorted UIDs */
	uint32_t	*v;
	size_t		 n;
};

struct launchpad {
	struct fh_gateway	*gw;
	char			*name;

	/* config */
	char			*url;
	char			*user;
	char			*password_file;
	char			*ca_file;
	bool			 idle;
	long			 poll_ms;
	char			*after_publish;
	char			*topic;
	int			 qos;
	bool			 retain;
	long			 backoff_max_ms;
	size_t			 max_mail_size;
	size_t			 max_body;

	/* derived from the config */
	char			*password;
	char			*host;		/* no [] */
	int			 port;
	char			*mailbox;
	char			*base_url;	/* imaps://host:port/ */
	char			*mbox_url;	/* base_url + INBOX */
	char			*mbox_quoted;
	enum launchpad_done	 done;
	char			*move_quoted;
	SSL_CTX			*ssl;

	/* running */
	struct fh_curl		*curl;
	CURL			*easy;
	char			*custom;	/* the request in flight */
	struct event		*timer;		/* next cycle */
	struct lp_idle		*idler;
	bool			 idle_ok;
	struct fh_backoff	 backoff;
	bool			 running;	/* a cycle is on */
	bool			 again;		/* one more right after */
	bool			 down;		/* outage logged */
	enum launchpad_step	 step;
	uint8_t			*resp;
	size_t			 resplen;
	size_t			 respcap;
	bool			 too_big;
	uint32_t		 uidvalidity;
	uint32_t		*fetch;		/* new mail this cycle */
	size_t			 nfetch;
	size_t			 ifetch;
	struct launchpad_set	 published;	/* emitted, not done */
	struct launchpad_set	 doing;		/* being marked done */
	struct launchpad_set	 skip;		/* foreign, too big */
	struct launchpad_set	 unmark;	/* skip, still to unflag */

	/* counters */
	uint64_t		 cycles;
	uint64_t		 mails;
	uint64_t		 bug_mails;
	uint64_t		 other_mails;
	uint64_t		 foreign_mails;
	uint64_t		 bad_mails;
	uint64_t		 events;
	uint64_t		 refused;
	uint64_t		 done_marked;
	uint64_t		 imap_errors;
	uint64_t		 idle_wakeups;
};

static const struct fh_conf_var launchpad_vars[] = {
	FH_CONF_STR_REQ("url", struct launchpad, url,
	    "imap:// or imaps:// URL of the mailbox with the bug mail "
	    "(host, port, mailbox; INBOX by default)."),
	FH_CONF_STR_REQ("user", struct launchpad, user,
	    "IMAP login."),
	FH_CONF_STR_REQ("password_file", struct launchpad, password_file,
	    "File whose first line is the IMAP password; read at start."),
	FH_CONF_STR("ca_file", struct launchpad, ca_file, "",
	    "CA bundle for the server certificate (always verified, host "
	    "name too)."),
	FH_CONF_BOOL("idle", struct launchpad, idle, "true",
	    "Keep a second connection in IMAP IDLE to fetch at once; "
	    "without server IDLE it polls."),
	FH_CONF_DURATION("poll_interval", struct launchpad, poll_ms, "60s",
	    "Fetch cycle period, also with IDLE; at least 1s."),
	FH_CONF_STR("after_publish", struct launchpad, after_publish, "seen",
	    "seen: set \\Seen; delete: \\Deleted and expunge; "
	    "move:FOLDER: move the mail there."),
	FH_CONF_STR("topic", struct launchpad, topic, "launchpad",
	    "Base topic of the bug events."),
	FH_CONF_QOS("qos", struct launchpad, qos, "0",
	    "QoS of the events."),
	FH_CONF_BOOL("retain", struct launchpad, retain, "false",
	    "Publish the events retained."),
	FH_CONF_DURATION("backoff_max", struct launchpad, backoff_max_ms,
	    "5m",
	    "Reconnect backoff ceiling."),
	FH_CONF_SIZE("max_mail_size", struct launchpad, max_mail_size, "10M",
	    "A larger mail is left unread, counted and logged once."),
	FH_CONF_SIZE("max_body", struct launchpad, max_body, "256k",
	    "Longer bodies are cut at a character boundary and marked "
	    "body-truncated."),
	FH_CONF_END
};

static const struct fh_conf_schema launchpad_schema = {
	.section = "source NAME",
	.doc =
	    "type = launchpad: Launchpad bug mail read from an IMAP mailbox "
	    "(docs/sources/launchpad.md).",
	.vars = launchpad_vars,
};

static void	launchpad_cycle(struct launchpad *);
static void	launchpad_step_done(struct launchpad *, CURLcode);

/* ---- UID sets ---- */

static bool
launchpad_set_has(const struct launchpad_set *s, uint32_t u)
{
	size_t	lo = 0, hi = s->n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (s->v[mid] == u)
			return true;
		if (s->v[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static void
launchpad_set_add(struct launchpad_set *s, uint32_t u)
{
	size_t	i;

	if (launchpad_set_has(s, u))
		return;
	s->v = fh_xrealloc(s->v, (s->n + 1) * sizeof *s->v);
	for (i = s->n; i > 0 && s->v[i - 1] > u; i--)
		s->v[i] = s->v[i - 1];
	s->v[i] = u;
	s->n++;
}

/* Keep only what is in keep[] (sorted): the rest left the search. */
static void
launchpad_set_keep(struct launchpad_set *s, const uint32_t *keep, size_t n)
{
	struct launchpad_set	k = { keep ? (uint32_t *)keep : NULL, n };
	size_t			i, o;

	for (i = o = 0; i < s->n; i++)
		if (launchpad_set_has(&k, s->v[i]))
			s->v[o++] = s->v[i];
	s->n = o;
}

static void
launchpad_set_remove_all(struct launchpad_set *s,
    const struct launchpad_set *gone)
{
	size_t	i, o;

	for (i = o = 0; i < s->n; i++)
		if (!launchpad_set_has(gone, s->v[i]))
			s->v[o++] = s->v[i];
	s->n = o;
}

static void
launchpad_set_clear(struct launchpad_set *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* ---- outage state, logged once per change ---- */

static void
launchpad_up(struct launchpad *lp)
{
	if (lp->down)
		fh_log(LOG_NOTICE, "launchpad %s: IMAP server %s reachable "
		    "again", lp->name, lp->host);
	lp->down = false;
	fh_backoff_reset(&lp->backoff);
}

static void
launchpad_schedule(struct launchpad *lp, long ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(lp->timer, &tv);
}

static void
launchpad_fail(struct launchpad *lp, const char *fmt, const char *what)
{
	char	msg[512];

	snprintf(msg, sizeof msg, fmt, what);
	lp->imap_errors++;
	if (!lp->down)
		fh_log(LOG_WARNING, "launchpad %s: IMAP %s: %s; retrying with "
		    "backoff", lp->name, lp->host, msg);
	else
		fh_log(LOG_DEBUG, "launchpad %s: still down: %s", lp->name,
		    msg);
	lp->down = true;
	lp->running = false;
	lp->step = LP_STEP_NONE;
	/* what was being marked stays published: marked next time */
	launchpad_schedule(lp, fh_backoff_next(&lp->backoff));
}

/* ---- transfers ---- */

static size_t
launchpad_write_cb(char *p, size_t sz, size_t nm, void *arg)
{
	struct launchpad	*lp = arg;
	size_t			 n = sz * nm;

	if (lp->resplen + n > lp->max_mail_size) {
		lp->too_big = true;
		return 0;
	}
	if (lp->resplen + n + 1 > lp->respcap) {
		while (lp->resplen + n + 1 > lp->respcap)
			lp->respcap = lp->respcap ? lp->respcap * 2 : 4096;
		lp->resp = fh_xrealloc(lp->resp, lp->respcap);
	}
	memcpy(lp->resp + lp->resplen, p, n);
	lp->resplen += n;
	return n;
}

static void
launchpad_curl_cb(CURL *easy, CURLcode rc, void *arg)
{
	(void)easy;
	launchpad_step_done(arg, rc);
}

/* The one easy handle, made on first use. NULL when libcurl cannot
 * allocate one: the step then fails and is retried with backoff, as in
 * every source. */
static CURL *
launchpad_easy(struct launchpad *lp)
{
	if (lp->easy != NULL || (lp->easy = curl_easy_init()) == NULL)
		return lp->easy;
	curl_easy_setopt(lp->easy, CURLOPT_USERNAME, lp->user);
	curl_easy_setopt(lp->easy, CURLOPT_PASSWORD, lp->password);
	if (lp->ca_file[0] != '\0')
		curl_easy_setopt(lp->easy, CURLOPT_CAINFO, lp->ca_file);
	curl_easy_setopt(lp->easy, CURLOPT_WRITEFUNCTION, launchpad_write_cb);
	curl_easy_setopt(lp->easy, CURLOPT_WRITEDATA, lp);
	curl_easy_setopt(lp->easy, CURLOPT_CONNECTTIMEOUT_MS, 15000L);
	curl_easy_setopt(lp->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(lp->easy, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(lp->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	if (getenv("FH_CURL_VERBOSE") != NULL)
		curl_easy_setopt(lp->easy, CURLOPT_VERBOSE, 1L);
	return lp->easy;
}

/* Start one transfer: url (printf), custom command or NULL for FETCH. */
static void
launchpad_xfer(struct launchpad *lp, enum launchpad_step step,
    const char *url, char *custom)
{
	free(lp->custom);
	lp->custom = custom;
	lp->step = step;
	lp->resplen = 0;
	lp->too_big = false;
	if (launchpad_easy(lp) == NULL) {
		launchpad_fail(lp, "%s", "cannot allocate a curl handle");
		return;
	}
	curl_easy_setopt(lp->easy, CURLOPT_URL, url);
	curl_easy_setopt(lp->easy, CURLOPT_CUSTOMREQUEST, custom);
	if (fh_curl_add(lp->curl, lp->easy, launchpad_curl_cb, lp) != 0)
		launchpad_fail(lp, "%s", "cannot start a transfer");
}

static void
launchpad_custom(struct launchpad *lp, enum launchpad_step step,
    bool in_mailbox, char *custom)
{
	char	*url;

	if (in_mailbox && lp->uidvalidity != 0)
		url = fh_xasprintf("%s;UIDVALIDITY=%u", lp->mbox_url,
		    lp->uidvalidity);
	else if (in_mailbox)
		url = fh_xstrdup(lp->mbox_url);
	else
		url = fh_xstrdup(lp->base_url);
	launchpad_xfer(lp, step, url, custom);
	free(url);
}

static char *
launchpad_set_string(const struct launchpad_set *s)
{
	return lp_imap_uid_set(s->v, s->n);
}

/* ---- one cycle ---- */

static void
launchpad_finish(struct launchpad *lp)
{
	lp->running = false;
	lp->step = LP_STEP_NONE;
	launchpad_up(lp);
	if (lp->again) {
		lp->again = false;
		launchpad_schedule(lp, 0);
	} else
		launchpad_schedule(lp, lp->poll_ms);
}

static void
launchpad_next_unmark(struct launchpad *lp)
{
	char	*set;

	if (lp->unmark.n == 0) {
		launchpad_finish(lp);
		return;
	}
	set = launchpad_set_string(&lp->unmark);
	launchpad_custom(lp, LP_STEP_UNMARK, true, fh_xasprintf(
	    "UID STORE %s -FLAGS.SILENT (\\Seen " LP_KEYWORD ")", set));
	free(set);
}

static void
launchpad_next_done(struct launchpad *lp)
{
	char	*set;

	if (lp->published.n == 0) {
		launchpad_next_unmark(lp);
		return;
	}
	/* what gets marked now; mails published meanwhile wait */
	free(lp->doing.v);
	lp->doing.n = lp->published.n;
	lp->doing.v = fh_xmalloc(lp->doing.n * sizeof *lp->doing.v);
	memcpy(lp->doing.v, lp->published.v, lp->doing.n *
	    sizeof *lp->doing.v);
	set = launchpad_set_string(&lp->doing);
	if (lp->done == LP_DONE_DELETE)
		launchpad_custom(lp, LP_STEP_DONE1, true, fh_xasprintf(
		    "UID STORE %s +FLAGS.SILENT (\\Deleted)", set));
	else
		launchpad_custom(lp, LP_STEP_DONE1, true, fh_xasprintf(
		    "UID STORE %s -FLAGS.SILENT (" LP_KEYWORD ")", set));
	free(set);
}

static void
launchpad_next_fetch(struct launchpad *lp)
{
	char	*url;

	if (lp->ifetch >= lp->nfetch) {
		launchpad_next_done(lp);
		return;
	}
	if (lp->uidvalidity != 0)
		url = fh_xasprintf("%s;UIDVALIDITY=%u/;UID=%u", lp->mbox_url,
		    lp->uidvalidity, lp->fetch[lp->ifetch]);
	else
		url = fh_xasprintf("%s/;UID=%u", lp->mbox_url,
		    lp->fetch[lp->ifetch]);
	launchpad_xfer(lp, LP_STEP_FETCH, url, NULL);
	free(url);
}

static void
launchpad_cycle(struct launchpad *lp)
{
	if (lp->running) {
		lp->again = true;
		return;
	}
	evtimer_del(lp->timer);
	lp->running = true;
	lp->again = false;
	lp->cycles++;
	launchpad_custom(lp, LP_STEP_STATUS, false, fh_xasprintf(
	    "STATUS %s (UIDVALIDITY)", lp->mbox_quoted));
}

/* Emit every event of one mail; 0 when the bus took all of them. */
static int
launchpad_emit(struct launchpad *lp, json_t *events)
{
	size_t		 i;
	json_t		*e;
	struct fh_event	*ev;
	int		 rc = 0;

	json_array_foreach(events, i, e) {
		ev = fh_event_new(json_string_value(json_object_get(e,
		    "topic")), json_incref(json_object_get(e, "payload")));
		fh_event_set_qos(ev, lp->qos);
		fh_event_set_retain(ev, lp->retain);
		fh_event_set_origin(ev, lp->name);
		if (fh_gateway_emit(lp->gw, ev) != 0)
			rc = -1;
		else
			lp->events++;
		fh_log(LOG_DEBUG, "launchpad %s: event on %s", lp->name,
		    fh_event_topic(ev));
		fh_event_unref(ev);
	}
	return rc;
}

static void
launchpad_skip(struct launchpad *lp, uint32_t uid)
{
	launchpad_set_add(&lp->skip, uid);
	launchpad_set_add(&lp->unmark, uid);
}

static void
launchpad_fetched(struct launchpad *lp, uint32_t uid)
{
	struct lp_parse_opts	 o = { lp->topic, lp->max_body };
	json_t			*events;
	int			 kind;

	lp->mails++;
	kind = lp_parse_mail(lp->resp, lp->resplen, &o, &events);
	switch (kind) {
	case LP_MAIL_FOREIGN:
		lp->foreign_mails++;
		fh_log(LOG_INFO, "launchpad %s: UID %u is not Launchpad mail; "
		    "left unread", lp->name, uid);
		launchpad_skip(lp, uid);
		break;
	default:
		if (kind == LP_MAIL_BUG)
			lp->bug_mails++;
		else
			lp->other_mails++;
		if (launchpad_emit(lp, events) == 0)
			launchpad_set_add(&lp->published, uid);
		else {
			/* keeps its keyword: fetched again next cycle */
			lp->refused++;
			fh_log(LOG_WARNING, "launchpad %s: the bus refused "
			    "an event of UID %u; will retry", lp->name, uid);
		}
		break;
	}
	json_decref(events);
}

static void
launchpad_searched(struct launchpad *lp)
{
	uint32_t	*uids = NULL;
	size_t		 n = 0, i;
	char		*set;

	if (lp_imap_parse_search(lp->resp, lp->resplen, &uids, &n,
	    LP_SEARCH_MAX) != 0) {
		launchpad_fail(lp, "%s", "unparsable SEARCH response");
		return;
	}
	/* what left the search is done (by us or by someone else) */
	launchpad_set_keep(&lp->published, uids, n);
	launchpad_set_keep(&lp->skip, uids, n);
	launchpad_set_keep(&lp->unmark, uids, n);
	free(lp->fetch);
	lp->fetch = fh_xmalloc((n ? n : 1) * sizeof *lp->fetch);
	lp->nfetch = lp->ifetch = 0;
	for (i = 0; i < n; i++) {
		if (launchpad_set_has(&lp->published, uids[i]) ||
		    launchpad_set_has(&lp->skip, uids[i]))
			continue;
		if (lp->nfetch == LP_BATCH) {
			lp->again = true;
			break;
		}
		lp->fetch[lp->nfetch++] = uids[i];
	}
	free(uids);
	if (lp->nfetch == 0) {
		launchpad_next_done(lp);
		return;
	}
	set = lp_imap_uid_set(lp->fetch, lp->nfetch);
	launchpad_custom(lp, LP_STEP_PEND, true, fh_xasprintf(
	    "UID STORE %s +FLAGS.SILENT (" LP_KEYWORD ")", set));
	free(set);
}

static void
launchpad_step_done(struct launchpad *lp, CURLcode rc)
{
	uint32_t	 v;
	char		*set;

	if (rc != CURLE_OK && !(lp->step == LP_STEP_FETCH &&
	    (lp->too_big || rc == CURLE_REMOTE_FILE_NOT_FOUND)) &&
	    !(lp->step == LP_STEP_SEARCH &&
	    rc == CURLE_REMOTE_FILE_NOT_FOUND) &&
	    lp->step != LP_STEP_DONE2) {
		launchpad_fail(lp, "%s", curl_easy_strerror(rc));
		return;
	}
	switch (lp->step) {
	case LP_STEP_STATUS:
		if (lp_imap_parse_uidvalidity(lp->resp, lp->resplen,
		    &v) != 0) {
			/* seen from dovecot while it creates the mailbox:
			 * go on with what we knew (or without the check) */
			fh_log(LOG_DEBUG, "launchpad %s: no UIDVALIDITY in "
			    "STATUS", lp->name);
			v = lp->uidvalidity;
		}
		if (v != lp->uidvalidity && lp->uidvalidity == 0)
			lp->uidvalidity = v;
		if (v != lp->uidvalidity) {
			fh_log(LOG_WARNING, "launchpad %s: UIDVALIDITY of %s "
			    "changed (%u -> %u): UIDs start over", lp->name,
			    lp->mailbox, lp->uidvalidity, v);
			launchpad_set_clear(&lp->published);
			launchpad_set_clear(&lp->skip);
			launchpad_set_clear(&lp->unmark);
			lp->uidvalidity = v;
		}
		launchpad_custom(lp, LP_STEP_SEARCH, true, fh_xstrdup(
		    "UID SEARCH OR UNSEEN KEYWORD " LP_KEYWORD));
		break;
	case LP_STEP_SEARCH:
		if (rc == CURLE_REMOTE_FILE_NOT_FOUND) {
			/* UIDVALIDITY changed under us: start over */
			lp->again = true;
			launchpad_finish(lp);
			return;
		}
		launchpad_searched(lp);
		break;
	case LP_STEP_PEND:
		launchpad_next_fetch(lp);
		break;
	case LP_STEP_FETCH:
		v = lp->fetch[lp->ifetch++];
		if (lp->too_big) {
			lp->bad_mails++;
			fh_log(LOG_WARNING, "launchpad %s: UID %u is larger "
			    "than max_mail_size; left unread", lp->name, v);
			launchpad_skip(lp, v);
		} else if (rc == CURLE_REMOTE_FILE_NOT_FOUND)
			fh_log(LOG_DEBUG, "launchpad %s: UID %u is gone",
			    lp->name, v);
		else
			launchpad_fetched(lp, v);
		launchpad_next_fetch(lp);
		break;
	case LP_STEP_DONE1:
		set = launchpad_set_string(&lp->doing);
		if (lp->done == LP_DONE_SEEN)
			launchpad_custom(lp, LP_STEP_DONE2, true, fh_xasprintf(
			    "UID STORE %s +FLAGS.SILENT (\\Seen)", set));
		else if (lp->done == LP_DONE_DELETE)
			launchpad_custom(lp, LP_STEP_DONE2, true, fh_xasprintf(
			    "UID EXPUNGE %s", set));
		else
			launchpad_custom(lp, LP_STEP_DONE2, true, fh_xasprintf(
			    "UID MOVE %s %s", set, lp->move_quoted));
		free(set);
		break;
	case LP_STEP_DONE2:
		if (rc != CURLE_OK && lp->done == LP_DONE_DELETE &&
		    rc == CURLE_QUOTE_ERROR) {
			/* no UIDPLUS: plain EXPUNGE, as lpmqtt did */
			launchpad_custom(lp, LP_STEP_EXPUNGE, true,
			    fh_xstrdup("EXPUNGE"));
			return;
		}
		if (rc != CURLE_OK) {
			launchpad_fail(lp, "%s", curl_easy_strerror(rc));
			return;
		}
		/* FALLTHROUGH */
	case LP_STEP_EXPUNGE:
		lp->done_marked += lp->doing.n;
		launchpad_set_remove_all(&lp->published, &lp->doing);
		launchpad_set_clear(&lp->doing);
		launchpad_next_unmark(lp);
		break;
	case LP_STEP_UNMARK:
		launchpad_set_clear(&lp->unmark);
		launchpad_finish(lp);
		break;
	case LP_STEP_NONE:
		break;
	}
}

static void
launchpad_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	launchpad_cycle(arg);
}

static void
launchpad_idle_cb(void *arg, enum lp_idle_event e, const char *why)
{
	struct launchpad	*lp = arg;

	switch (e) {
	case LP_IDLE_UP:
		if (!lp->idle_ok)
			fh_log(LOG_INFO, "launchpad %s: IDLE on %s", lp->name,
			    lp->mailbox);
		lp->idle_ok = true;
		if (!lp->running)
			launchpad_cycle(lp);	/* what came meanwhile */
		break;
	case LP_IDLE_NEW_MAIL:
		lp->idle_wakeups++;
		if (!lp->down)
			launchpad_cycle(lp);
		break;
	case LP_IDLE_DOWN:
		if (lp->idle_ok)
			fh_log(LOG_INFO, "launchpad %s: IDLE connection lost "
			    "(%s); polling until it is back", lp->name, why);
		lp->idle_ok = false;
		break;
	case LP_IDLE_UNSUPPORTED:
		fh_log(LOG_INFO, "launchpad %s: %s has no IMAP IDLE; polling "
		    "every %ld ms", lp->name, lp->host, lp->poll_ms);
		lp->idle_ok = false;
		break;
	}
}

/* ---- ops ---- */

static void *
launchpad_create(struct fh_gateway *gw, const char *instance)
{
	struct launchpad	*lp = fh_xcalloc(1, sizeof *lp);

	lp->gw = gw;
	lp->name = fh_xstrdup(instance);
	return lp;
}

static int
launchpad_read_password(struct launchpad *lp, const struct fh_section *sec,
    char **errstr)
{
	char	*why;

	fh_secret_free(lp->password);
	if (fh_secret_read(lp->password_file, 1023, &lp->password,
	    &why) == 0)
		return 0;
	fh_conf_error(errstr, sec, "password_file", "cannot read "
	    "password_file %s: %s", lp->password_file, why);
	free(why);
	return -1;
}

static int
launchpad_parse_url(struct launchpad *lp, const struct fh_section *sec,
    char **errstr)
{
	CURLU	*u = curl_url();
	char	*scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	char	*p, *esc;
	int	 rc = -1;

	if (curl_url_set(u, CURLUPART_URL, lp->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK) {
		fh_conf_error(errstr, sec, "url", "bad url '%s': expected "
		    "imap[s]://host[:port]/MAILBOX", lp->url);
		goto out;
	}
	if (strcmp(scheme, "imap") != 0 && strcmp(scheme, "imaps") != 0) {
		fh_conf_error(errstr, sec, "url", "url scheme must be imap "
		    "or imaps, not '%s'", scheme);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) !=
	    CURLUE_OK)
		path = NULL;
	p = path != NULL ? path : (char *)"/";
	while (*p == '/')
		p++;
	p[strcspn(p, "/;")] = '\0';
	free(lp->mailbox);
	lp->mailbox = fh_xstrdup(*p != '\0' ? p : "INBOX");
	if ((lp->mbox_quoted = lp_imap_quote(lp->mailbox)) == NULL) {
		fh_conf_error(errstr, sec, "url", "bad mailbox name");
		goto out;
	}
	free(lp->host);
	if (host[0] == '[') {
		lp->host = fh_xstrdup(host + 1);
		lp->host[strcspn(lp->host, "]")] = '\0';
	} else
		lp->host = fh_xstrdup(host);
	lp->port = atoi(port);
	lp->base_url = fh_xasprintf("%s://%s:%s/", scheme, host, port);
	esc = curl_easy_escape(NULL, lp->mailbox, 0);
	lp->mbox_url = fh_xasprintf("%s%s", lp->base_url, esc);
	curl_free(esc);
	if (strcmp(scheme, "imaps") == 0)
		lp->ssl = SSL_CTX_new(TLS_client_method());
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return rc;
}

static int
launchpad_configure(void *self, const struct fh_section *sec, char **errstr)
{
	struct launchpad	*lp = self;

	if (fh_conf_apply(sec, launchpad_vars, lp, errstr) != 0)
		return -1;
	if (launchpad_parse_url(lp, sec, errstr) != 0 ||
	    launchpad_read_password(lp, sec, errstr) != 0)
		return -1;
	if (strchr(lp->user, '\r') != NULL || strchr(lp->user, '\n') != NULL) {
		return fh_conf_error(errstr, sec, "user", "bad user name");
	}
	if (strcmp(lp->after_publish, "seen") == 0)
		lp->done = LP_DONE_SEEN;
	else if (strcmp(lp->after_publish, "delete") == 0)
		lp->done = LP_DONE_DELETE;
	else if (strncmp(lp->after_publish, "move:", 5) == 0 &&
	    lp->after_publish[5] != '\0' &&
	    (lp->move_quoted = lp_imap_quote(lp->after_publish + 5)) !=
	    NULL)
		lp->done = LP_DONE_MOVE;
	else
		return fh_conf_error(errstr, sec, "after_publish", "bad "
		    "after_publish '%s': expected seen, delete or move:FOLDER",
		    lp->after_publish);
	if (lp->topic[0] == '\0' || strpbrk(lp->topic, "+#") != NULL ||
	    !fh_topic_is_valid(lp->topic, strlen(lp->topic))) {
		return fh_conf_error(errstr, sec, "topic", "bad topic '%s'",
		    lp->topic);
	}
	if (lp->poll_ms < 1000) {
		return fh_conf_error(errstr, sec, "poll_interval",
		    "poll_interval must be at least 1s");
	}
	if (lp->ssl != NULL) {
		SSL_CTX_set_verify(lp->ssl, SSL_VERIFY_PEER, NULL);
		if (lp->ca_file[0] != '\0' ? SSL_CTX_load_verify_locations(
		    lp->ssl, lp->ca_file, NULL) != 1 :
		    SSL_CTX_set_default_verify_paths(lp->ssl) != 1) {
			return fh_conf_error(errstr, sec, "ca_file",
			    "cannot load CA file '%s'", lp->ca_file);
		}
	}
	fh_backoff_init(&lp->backoff, 500, lp->backoff_max_ms);
	return 0;
}

/* SIGHUP: password_file again, for the next login; a bad file keeps the
 * password we have. */
static int
launchpad_reload(void *self, char **errstr)
{
	struct launchpad	*lp = self;
	char			*pw, *why;

	if (fh_secret_read(lp->password_file, 1023, &pw, &why) != 0) {
		*errstr = fh_xasprintf("cannot read password_file %s: %s",
		    lp->password_file, why);
		free(why);
		return -1;
	}
	fh_secret_free(lp->password);
	lp->password = pw;
	if (lp->easy != NULL)
		curl_easy_setopt(lp->easy, CURLOPT_PASSWORD, lp->password);
	if (lp->idler != NULL)
		lp_idle_set_password(lp->idler, lp->password);
	fh_log(LOG_INFO, "source %s: password_file %s read again", lp->name,
	    lp->password_file);
	return 0;
}

static int
launchpad_start(void *self)
{
	struct launchpad	*lp = self;
	struct event_base	*base = fh_gateway_base(lp->gw);
	struct lp_idle_conf	 ic;

	lp->curl = fh_gateway_curl(lp->gw);
	lp->timer = evtimer_new(base, launchpad_timer_cb, lp);
	lp->running = false;
	lp->again = false;
	launchpad_schedule(lp, 0);
	if (lp->idle) {
		memset(&ic, 0, sizeof ic);
		ic.host = lp->host;
		ic.port = lp->port;
		ic.ssl = lp->ssl;
		ic.user = lp->user;
		ic.password = lp->password;
		ic.mailbox = lp->mailbox;
		ic.backoff_max_ms = lp->backoff_max_ms;
		ic.reidle_ms = LP_REIDLE_MS;
		lp->idler = lp_idle_create(lp->gw, &ic, launchpad_idle_cb,
		    lp);
	}
	fh_log(LOG_INFO, "launchpad %s: watching %s%s as %s", lp->name,
	    lp->mbox_url, lp->idle ? " (IDLE)" : "", lp->user);
	return 0;
}

static void
launchpad_stop(void *self)
{
	struct launchpad	*lp = self;

	lp_idle_free(lp->idler);
	lp->idler = NULL;
	if (lp->easy != NULL) {
		fh_curl_cancel(lp->curl, lp->easy);
		curl_easy_cleanup(lp->easy);
	}
	lp->curl = NULL;	/* the gateway's */
	lp->easy = NULL;
	if (lp->timer != NULL)
		event_free(lp->timer);
	lp->timer = NULL;
	lp->running = false;
	lp->step = LP_STEP_NONE;
	lp->idle_ok = false;
}

static void
launchpad_destroy(void *self)
{
	struct launchpad	*lp = self;

	if (lp == NULL)
		return;
	launchpad_stop(lp);
	fh_conf_clear(launchpad_vars, lp);
	free(lp->name);
	fh_secret_free(lp->password);
	free(lp->host);
	free(lp->mailbox);
	free(lp->base_url);
	free(lp->mbox_url);
	free(lp->mbox_quoted);
	free(lp->move_quoted);
	free(lp->custom);
	free(lp->resp);
	free(lp->fetch);
	launchpad_set_clear(&lp->published);
	launchpad_set_clear(&lp->doing);
	launchpad_set_clear(&lp->skip);
	launchpad_set_clear(&lp->unmark);
	if (lp->ssl != NULL)
		SSL_CTX_free(lp->ssl);
	free(lp);
}

static void
launchpad_stats(void *self, json_t *out)
{
	struct launchpad	*lp = self;

	json_object_set_new(out, "connected", json_boolean(!lp->down));
	json_object_set_new(out, "idle", json_boolean(lp->idle_ok));
	json_object_set_new(out, "uidvalidity",
	    json_integer(lp->uidvalidity));
#define LP_STAT(k, v) json_object_set_new(out, k, json_integer((json_int_t)(v)))
	LP_STAT("cycles", lp->cycles);
	LP_STAT("mails", lp->mails);
	LP_STAT("bug_mails", lp->bug_mails);
	LP_STAT("other_mails", lp->other_mails);
	LP_STAT("foreign_mails", lp->foreign_mails);
	LP_STAT("bad_mails", lp->bad_mails);
	LP_STAT("events", lp->events);
	LP_STAT("refused", lp->refused);
	LP_STAT("marked_done", lp->done_marked);
	LP_STAT("pending_done", lp->published.n);
	LP_STAT("skipped_unread", lp->skip.n);
	LP_STAT("imap_errors", lp->imap_errors);
	LP_STAT("idle_wakeups", lp->idle_wakeups);
#undef LP_STAT
}

const struct fh_source_ops fh_source_launchpad = {
	.name = "launchpad",
	.schema = &launchpad_schema,
	.create = launchpad_create,
	.configure = launchpad_configure,
	.start = launchpad_start,
	.stop = launchpad_stop,
	.destroy = launchpad_destroy,
	.stats = launchpad_stats,
	.reload = launchpad_reload,
};
