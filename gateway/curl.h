/*
 * libcurl's multi interface driven by the event loop: transfers never
 * block. A module makes its own fh_curl, adds easy handles, and gets one
 * callback per finished transfer.
 */
#ifndef FH_CURL_H
#define FH_CURL_H

#include <curl/curl.h>

struct event_base;
struct fh_curl;

/* Called once when the transfer ends; the easy handle is the caller's
 * again (clean it up or reuse it). */
typedef void (*fh_curl_done_cb)(CURL *easy, CURLcode rc, void *arg);

struct fh_curl	*fh_curl_create(struct event_base *);
void		 fh_curl_free(struct fh_curl *);	/* aborts transfers */
int		 fh_curl_add(struct fh_curl *, CURL *easy, fh_curl_done_cb,
		    void *arg);
/* Abort a transfer without calling its callback. */
void		 fh_curl_cancel(struct fh_curl *, CURL *easy);

#endif
