/*
 * The live page (GET / on ws/wss listeners): files from sinks/log/page/,
 * compiled in by tools/fh-embed, served with their type, an ETag and a
 * strict Content-Security-Policy.
 */
#ifndef LOG_PAGE_H
#define LOG_PAGE_H

#include <stdbool.h>
#include <stddef.h>

struct fh_sink_ops;

struct page_file {
	const char		*name;	/* "index.html", "app.js" ... */
	const unsigned char	*data;	/* NUL after len, not counted */
	size_t			 len;
	const char		*etag;	/* quoted, as sent */
};

/* The embedded files (page_data.c, generated), ended by a NULL name. */
extern const struct page_file page_files[];

/* The policy sent with every page file: our own files only, no inline
 * script or style, no framing; connect-src 'self' covers the broker's
 * WebSocket on the same host and port, and /v1/events. */
#define PAGE_CSP	"default-src 'none'; script-src 'self'; " \
	"style-src 'self'; img-src 'self'; connect-src 'self'; " \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* The file for a request path ("/" is index.html, "/static/NAME" the
 * others; a query string is ignored), or NULL. */
const struct page_file *page_lookup(const char *path, size_t len);
/* Its Content-Type, from the name's extension. */
const char	*page_content_type(const struct page_file *);
/* Does an If-None-Match value (NULL: none) match the file's ETag? */
bool		 page_etag_matches(const struct page_file *, const char *inm,
		    size_t len);
/* The module: routes GET / and GET /static/NAME while started. */
extern const struct fh_sink_ops fh_sink_page;

#endif
