/* The live page: lookup and response of the embedded files; see page.h. */
#include "config.h"

#include <string.h>

#include <event2/buffer.h>

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

int
page_respond(const struct page_file *f, const char *inm, size_t inm_len,
    bool head, struct evbuffer *out)
{
	int	status = page_etag_matches(f, inm, inm_len) ? 304 : 200;

	/* no-cache: keep it, but ask each time (a daemon upgrade changes
	 * the files under the same URLs); the ETag makes that a 304. */
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status,
	    status == 200 ? "OK" : "Not Modified");
	if (status == 200)
		evbuffer_add_printf(out, "Content-Type: %s\r\n"
		    "Content-Length: %zu\r\n", page_content_type(f), f->len);
	evbuffer_add_printf(out, "ETag: %s\r\nCache-Control: no-cache\r\n"
	    "Content-Security-Policy: %s\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Referrer-Policy: no-referrer\r\n"
	    "Connection: close\r\n\r\n", f->etag, PAGE_CSP);
	if (status == 200 && !head)
		evbuffer_add(out, f->data, f->len);
	return status;
}
