/* The live page: lookup and response of the embedded files; see page.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gateway/http.h"
#include "gateway/module.h"
#include "gateway/xmalloc.h"
#include "sinks/log/page.h"

static const struct {
	const char	*ext;
	const char	*type;
} page_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".json", "application/json" },
	{ NULL, NULL }
};

static const struct page_file *
page_find(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; page_files[i].name != NULL; i++)
		if (strlen(page_files[i].name) == len &&
		    memcmp(page_files[i].name, name, len) == 0)
			return &page_files[i];
	return NULL;
}

const struct page_file *
page_lookup(const char *path, size_t len)
{
	const char	*q;
	size_t		 pre = strlen("/static/");

	if ((q = memchr(path, '?', len)) != NULL)
		len = (size_t)(q - path);
	if (len == 1 && path[0] == '/')
		return page_find("index.html", strlen("index.html"));
	/* Names are a flat list of [A-Za-z0-9._-] (tools/fh-embed), so no
	 * decoding and no "..": anything else is simply not found. */
	if (len <= pre || memcmp(path, "/static/", pre) != 0 ||
	    memchr(path + pre, '/', len - pre) != NULL ||
	    memchr(path + pre, '%', len - pre) != NULL)
		return NULL;
	/* index.html is only "/", so that it has one URL. */
	if (len - pre == strlen("index.html") &&
	    memcmp(path + pre, "index.html", len - pre) == 0)
		return NULL;
	return page_find(path + pre, len - pre);
}

const char *
page_content_type(const struct page_file *f)
{
	size_t	n = strlen(f->name), e;
	int	i;

	for (i = 0; page_types[i].ext != NULL; i++) {
		e = strlen(page_types[i].ext);
		if (n > e && strcmp(f->name + n - e, page_types[i].ext) == 0)
			return page_types[i].type;
	}
	return "application/octet-stream";
}

bool
page_etag_matches(const struct page_file *f, const char *inm, size_t len)
{
	size_t	i = 0, s, e, tl = strlen(f->etag);

	if (inm == NULL)
		return false;
	/* A list of entity tags, weak ones compared weakly (RFC 9110
	 * 13.1.2), or "*". */
	while (i < len) {
		while (i < len && (inm[i] == ' ' || inm[i] == '\t' ||
		    inm[i] == ','))
			i++;
		s = i;
		while (i < len && inm[i] != ',')
			i++;
		e = i;
		while (e > s && (inm[e - 1] == ' ' || inm[e - 1] == '\t'))
			e--;
		if (e - s == 1 && inm[s] == '*')
			return true;
		if (e - s > 2 && inm[s] == 'W' && inm[s + 1] == '/')
			s += 2;
		if (e - s == tl && memcmp(inm + s, f->etag, tl) == 0)
			return true;
	}
	return false;
}

/* GET / and GET /static/NAME. */
static void
page_serve_cb(struct fh_http_request *req, struct fh_http_response *r,
    void *arg)
{
	const struct page_file	*f;
	const char		*path = fh_http_path(req), *inm;

	(void)arg;
	if ((f = page_lookup(path, strlen(path))) == NULL) {
		fh_http_error(r, 404, "no such page");
		return;
	}
	/* no-cache: keep it, but ask each time (a daemon upgrade changes
	 * the files under the same URLs); the ETag makes that a 304. */
	fh_http_add_header(r, "ETag", f->etag);
	fh_http_add_header(r, "Cache-Control", "no-cache");
	fh_http_add_header(r, "Content-Security-Policy", PAGE_CSP);
	fh_http_add_header(r, "X-Content-Type-Options", "nosniff");
	fh_http_add_header(r, "Referrer-Policy", "no-referrer");
	inm = fh_http_header(req, "If-None-Match");
	if (page_etag_matches(f, inm, inm ? strlen(inm) : 0))
		fh_http_reply(r, 304, page_content_type(f), NULL, 0);
	else
		fh_http_reply(r, 200, page_content_type(f), f->data, f->len);
}

/*
 * The page as a module of its own, with no config section: it is there
 * whether or not the event log is enabled (live events need only the
 * broker; "load the last hour" says so when /v1/events is missing).
 */
struct page {
	struct fh_gateway	*gw;
	bool			 routed;
};

static void *
page_create(struct fh_gateway *gw)
{
	struct page	*pg = fh_xcalloc(1, sizeof *pg);

	pg->gw = gw;
	return pg;
}

static int
page_configure(void *self, const struct fh_conf *conf, char **errstr)
{
	(void)self;
	(void)conf;
	(void)errstr;
	return 0;
}

static int
page_start(void *self)
{
	struct page	*pg = self;

	if (fh_gateway_http_route(pg->gw, "/", FH_HTTP_GET, page_serve_cb,
	    pg) != 0 || fh_gateway_http_route(pg->gw, "/static/*",
	    FH_HTTP_GET, page_serve_cb, pg) != 0)
		return -1;
	pg->routed = true;
	return 0;
}

static void
page_stop(void *self)
{
	struct page	*pg = self;

	if (!pg->routed)
		return;
	fh_gateway_http_unroute(pg->gw, "/");
	fh_gateway_http_unroute(pg->gw, "/static/*");
	pg->routed = false;
}

static void
page_destroy(void *self)
{
	free(self);
}

/* Events reach the page through the broker, not the bus. */
static int
page_publish(void *self, struct fh_event *ev)
{
	(void)self;
	(void)ev;
	return 0;
}

static const char *const page_sections[] = { NULL };

const struct fh_sink_ops fh_sink_page = {
	.name = "page",
	.sections = page_sections,
	.create = page_create,
	.configure = page_configure,
	.start = page_start,
	.stop = page_stop,
	.destroy = page_destroy,
	.publish = page_publish,
};
