/*
 * The gerrit source's gap fill: the missed window [newest event seen,
 * now] fetched from the events-log plugin with libcurl (multi, on the
 * loop), page after page, published in order (see gerrit.c).
 */
#include "sources/gerrit/gerrit_int.h"

static void	gerrit_fill_page(struct gerrit *);

/* ---- gap fill from the events-log plugin ---- */

static void
gerrit_fill_line(const uint8_t *line, size_t len, int err, void *arg)
{
	struct gerrit		*g = arg;
	struct gerrit_fill	*f = g->fill;
	char			*topic;
	json_t			*event;
	int64_t			 t;

	if (!gerrit_line_event(g, "events-log", line, len, err, &topic,
	    &event))
		return;
	f->page_lines++;
	t = gerrit_event_time(event);
	if (t > f->page_last)
		f->page_last = t;
	gerrit_note_time(g, event);
	if (gerrit_publish(g, topic, event, true)) {
		f->published++;
		g->st.gap_events++;
	} else
		f->duplicates++;
}

static size_t
gerrit_fill_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct gerrit		*g = arg;
	struct gerrit_fill	*f = g->fill;
	size_t			 n = size * nmemb, k;

	if (f->status == 0)
		curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &f->status);
	if (f->status != 200) {
		/* Keep the start of an error page for the log. */
		k = sizeof f->body - 1 - f->bodylen;
		k = n < k ? n : k;
		memcpy(f->body + f->bodylen, ptr, k);
		f->bodylen += k;
		f->body[f->bodylen] = '\0';
		return n;
	}
	gerrit_lines_feed(&f->lines, (const uint8_t *)ptr, n,
	    gerrit_fill_line, g);
	return n;
}

void
gerrit_fill_free(struct gerrit *g)
{
	struct gerrit_fill	*f = g->fill;

	if (f == NULL)
		return;
	if (f->easy != NULL) {
		fh_curl_cancel(g->curl, f->easy);
		curl_easy_cleanup(f->easy);
	}
	event_del(&g->fill_timer);
	gerrit_lines_free(&f->lines);
	free(f->url);
	free(f);
	g->fill = NULL;
}

static void
gerrit_fill_end(struct gerrit *g)
{
	struct gerrit_fill	*f = g->fill;

	if (f->t2 > g->dedup_until)
		g->dedup_until = f->t2;
	gerrit_fill_free(g);
	gerrit_release_held(g, true);
	if (g->fill_pending) {
		g->fill_pending = false;
		gerrit_fill_request(g, g->pending_from);
	}
	if (g->paused && g->nheld < GERRIT_QUEUE_MAX) {
		g->paused = false;
		if (g->state == GERRIT_S_STREAMING) {
			event_add(&g->io, NULL);
			gerrit_ssh_step(g);
		}
	}
}

void
gerrit_fill_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	gerrit_fill_page(arg);
}

/*
 * A full page (events_log_limit lines) means there may be more: the next
 * page starts at the newest second seen, inclusive (the overlap is
 * de-duplicated). A full page inside one second cannot be paged through
 * with second-granular t1; the rest of that second is out of reach.
 */
static bool
gerrit_fill_next_page(struct gerrit *g, struct gerrit_fill *f)
{
	time_t	next;

	if (f->page_lines < (size_t)g->conf.events_log_limit)
		return false;
	if (f->page_last > (int64_t)f->t1)
		next = (time_t)f->page_last;
	else {
		fh_log(LOG_WARNING, "source %s: events-log returned a full "
		    "page of %zu events within one second; events beyond it "
		    "in that second cannot be fetched (raise the plugin's "
		    "returnLimit)", g->name, f->page_lines);
		next = f->t1 + 1;
	}
	if (next > f->t2 || ++f->page >= GERRIT_FILL_PAGES_MAX)
		return false;
	f->t1 = next;
	gerrit_fill_page(g);
	return true;
}

/* A page failed: again after a backoff, GERRIT_FILL_TRIES times, then
 * the gap is given up (and said so). */
static void
gerrit_fill_failed(struct gerrit *g, struct gerrit_fill *f, const char *why)
{
	char		a[32], b[32];
	struct timeval	tv;
	struct tm	tm;
	time_t		t;

	if (++f->tries < GERRIT_FILL_TRIES) {
		fh_log(LOG_INFO, "source %s: events-log: %s; retrying",
		    g->name, why);
		tv = gerrit_tv(1000L << f->tries);
		evtimer_add(&g->fill_timer, &tv);
		return;
	}
	t = f->from;
	gmtime_r(&t, &tm);
	strftime(a, sizeof a, "%Y-%m-%d %H:%M:%S", &tm);
	t = f->t2;
	gmtime_r(&t, &tm);
	strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", &tm);
	fh_log(LOG_WARNING, "source %s: gap fill from events-log failed: %s; "
	    "events between %s and %s UTC may be lost", g->name, why, a, b);
	g->st.gap_fill_errors++;
	gerrit_fill_end(g);
}

static void
gerrit_fill_done_cb(CURL *easy, CURLcode rc, void *arg)
{
	struct gerrit		*g = arg;
	struct gerrit_fill	*f = g->fill;
	char			*why;

	f->easy = NULL;
	if (rc == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &f->status);
	curl_easy_cleanup(easy);
	if (rc == CURLE_OK && f->status == 200)
		gerrit_lines_finish(&f->lines, gerrit_fill_line, g);
	else {
		gerrit_lines_reset(&f->lines);
		if (rc != CURLE_OK)
			why = fh_xasprintf("%s", f->errbuf[0] != '\0' ?
			    f->errbuf : curl_easy_strerror(rc));
		else
			why = fh_xasprintf("HTTP %ld: %.80s", f->status,
			    f->body);
		gerrit_fill_failed(g, f, why);
		free(why);
		return;
	}
	f->tries = 0;
	if (gerrit_fill_next_page(g, f))
		return;
	g->st.gap_fills++;
	fh_log(LOG_INFO, "source %s: gap filled from events-log: %zu missed "
	    "events published, %zu duplicates dropped", g->name,
	    f->published, f->duplicates);
	gerrit_fill_end(g);
}

static void
gerrit_fill_page(struct gerrit *g)
{
	struct gerrit_fill	*f = g->fill;
	CURL			*easy;

	free(f->url);
	f->url = gerrit_events_log_url(g->conf.events_log_url, f->t1, f->t2);
	f->status = 0;
	f->bodylen = 0;
	f->body[0] = '\0';
	f->errbuf[0] = '\0';
	f->page_lines = 0;
	f->page_last = 0;
	gerrit_lines_reset(&f->lines);
	fh_log(LOG_DEBUG, "source %s: GET %s", g->name, f->url);
	/* No memory for a handle now: a failed try, like a failed page. */
	if ((easy = curl_easy_init()) == NULL) {
		gerrit_fill_failed(g, f, "cannot allocate a curl handle");
		return;
	}
	curl_easy_setopt(easy, CURLOPT_URL, f->url);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, gerrit_fill_write_cb);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, g);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, f->errbuf);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, GERRIT_FILL_TIMEOUT_S);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	if (g->conf.events_log_user[0] != '\0') {
		curl_easy_setopt(easy, CURLOPT_USERNAME,
		    g->conf.events_log_user);
		curl_easy_setopt(easy, CURLOPT_PASSWORD,
		    g->password != NULL ? g->password : "");
		curl_easy_setopt(easy, CURLOPT_HTTPAUTH,
		    (long)(CURLAUTH_BASIC | CURLAUTH_DIGEST));
	}
	f->easy = easy;
	if (fh_curl_add(g->curl, easy, gerrit_fill_done_cb, g) != 0) {
		f->easy = NULL;
		curl_easy_cleanup(easy);
		gerrit_fill_failed(g, f, "cannot start the request");
	}
}

void
gerrit_fill_request(struct gerrit *g, time_t from)
{
	struct gerrit_fill	*f;

	if (g->curl == NULL) {
		fh_log(LOG_WARNING, "source %s: events since the last one "
		    "seen may be lost (set events_log_url to fill gaps)",
		    g->name);
		return;
	}
	if (g->fill != NULL) {
		if (!g->fill_pending || from < g->pending_from)
			g->pending_from = from;
		g->fill_pending = true;
		return;
	}
	fh_log(LOG_INFO, "source %s: filling the gap from events-log",
	    g->name);
	f = fh_xcalloc(1, sizeof *f);
	f->from = f->t1 = from;
	f->t2 = time(NULL);
	gerrit_lines_init(&f->lines, g->conf.max_line);
	g->fill = f;
	gerrit_fill_page(g);
}

