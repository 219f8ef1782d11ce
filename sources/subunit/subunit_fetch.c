/*
 * A subunit job's fetch, inflate and complete path: source_url + ".gz"
 * (then source_url on a 4xx) with libcurl, gzip inflated here when the
 * body is gzip, the bytes streamed into the subunit parser, then the job
 * finished (subunit_job.c).
 */
#include "sources/subunit/subunit_int.h"

static int
subunit_fetch_feed(struct subunit_job *j, const uint8_t *buf, size_t len)
{
	struct subunit	*su = j->su;

	if (len == 0)
		return 0;
	if (j->stream + len > su->max_stream_size) {
		subunit_job_stop(j, "too_large", fh_xasprintf("stream larger "
		    "than max_stream_size (%zu bytes)", su->max_stream_size));
		return -1;
	}
	j->stream += len;
	if (subunit_parser_feed(j->parser, buf, len) != 0) {
		subunit_job_stop(j, "corrupt", fh_xasprintf("more than %d "
		    "corrupt packets; gave up", SUBUNIT_MAX_CORRUPT));
		return -1;
	}
	return 0;
}

/* Inflate gzip (members back to back) into the parser. */
static int
subunit_fetch_inflate(struct subunit_job *j, const uint8_t *buf, size_t len)
{
	uint8_t	out[16384];
	int	zrc;

	j->z.next_in = (Bytef *)(uintptr_t)buf;
	j->z.avail_in = (uInt)len;
	while (j->z.avail_in > 0) {
		if (j->z_end) {
			inflateReset(&j->z);
			j->z_end = false;
		}
		j->z.next_out = out;
		j->z.avail_out = sizeof out;
		zrc = inflate(&j->z, Z_NO_FLUSH);
		if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
			subunit_job_stop(j, "corrupt", fh_xasprintf("bad gzip "
			    "data: %s", j->z.msg ? j->z.msg : "inflate failed"));
			return -1;
		}
		if (subunit_fetch_feed(j, out,
		    sizeof out - j->z.avail_out) != 0)
			return -1;
		if (zrc == Z_STREAM_END)
			j->z_end = true;
		else if (zrc == Z_BUF_ERROR)
			break;
	}
	return 0;
}

/* Decide gzip or not on the first two bytes, then pass bytes on. */
static int
subunit_fetch_data(struct subunit_job *j, const uint8_t *buf, size_t len)
{
	while (j->gz < 0 && len > 0 && j->nsniff < 2) {
		j->sniff[j->nsniff++] = *buf++;
		len--;
	}
	if (j->gz < 0) {
		if (j->nsniff < 2)
			return 0;
		j->gz = j->sniff[0] == 0x1f && j->sniff[1] == 0x8b;
		if (j->gz) {
			if (inflateInit2(&j->z, 15 + 16) != Z_OK) {
				subunit_job_stop(j, "corrupt",
				    fh_xstrdup("inflateInit failed"));
				return -1;
			}
			j->z_init = true;
		}
		if ((j->gz ? subunit_fetch_inflate(j, j->sniff, 2) :
		    subunit_fetch_feed(j, j->sniff, 2)) != 0)
			return -1;
	}
	if (len == 0)
		return 0;
	return j->gz ? subunit_fetch_inflate(j, buf, len) :
	    subunit_fetch_feed(j, buf, len);
}

static size_t
subunit_fetch_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct subunit_job	*j = arg;
	size_t			 len = size * nmemb;

	j->raw += len;
	if (subunit_fetch_data(j, (const uint8_t *)ptr, len) != 0)
		return 0;
	return len;
}

static bool
subunit_fetch_url_is_gz(const char *url)
{
	size_t	n = strlen(url);

	return n > 3 && strcmp(url + n - 3, ".gz") == 0;
}

static void subunit_fetch_done(CURL *, CURLcode, void *);

static void
subunit_fetch_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	subunit_fetch_start(arg);
}

/* No curl handle to be had now (out of memory): the job waits and tries
 * again after a backoff, as every source does; the daemon goes on. */
static void
subunit_fetch_retry(struct subunit_job *j)
{
	struct timeval	tv;
	long		ms;

	if (j->retry == NULL) {
		j->retry = evtimer_new(j->su->base, subunit_fetch_retry_cb, j);
		fh_backoff_init(&j->backoff, SUBUNIT_BACKOFF_MIN,
		    SUBUNIT_BACKOFF_MAX);
	}
	ms = fh_backoff_next(&j->backoff);
	fh_log(LOG_WARNING, "subunit %s: job %s: cannot allocate a curl "
	    "handle; trying again in %ldms", j->su->instance, j->handle, ms);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(j->retry, &tv);
}

void
subunit_fetch_start(struct subunit_job *j)
{
	struct subunit	*su = j->su;

	free(j->url);
	j->url = j->plain || subunit_fetch_url_is_gz(j->info.source_url) ?
	    fh_xstrdup(j->info.source_url) :
	    fh_xasprintf("%s.gz", j->info.source_url);
	subunit_parser_free(j->parser);
	j->parser = subunit_parser_create(SUBUNIT_MAX_FAILING,
	    SUBUNIT_MAX_CORRUPT);
	if (j->z_init)
		inflateEnd(&j->z);
	memset(&j->z, 0, sizeof j->z);
	j->z_init = j->z_end = false;
	j->gz = -1;
	j->nsniff = 0;
	j->raw = j->stream = 0;
	if (j->easy == NULL)
		j->easy = curl_easy_init();
	else
		curl_easy_reset(j->easy);
	if (j->easy == NULL) {
		subunit_fetch_retry(j);
		return;
	}
	curl_easy_setopt(j->easy, CURLOPT_URL, j->url);
	curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION,
	    subunit_fetch_write_cb);
	curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(j->easy, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(j->easy, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(j->easy, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(j->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(j->easy, CURLOPT_REDIR_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, su->fetch_timeout);
	/* Content-Encoding is curl's; a .gz body we inflate ourselves. */
	curl_easy_setopt(j->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(j->easy, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)su->max_stream_size);
	curl_easy_setopt(j->easy, CURLOPT_USERAGENT, PACKAGE_NAME "/"
	    PACKAGE_VERSION " subunit");
	if (su->ca_file[0] != '\0')
		curl_easy_setopt(j->easy, CURLOPT_CAINFO, su->ca_file);
	if (fh_curl_add(su->curl, j->easy, subunit_fetch_done, j) != 0) {
		su->st.fetch_errors++;
		subunit_job_finish(j, "failed", "cannot start the download",
		    NULL);
	}
}

static void
subunit_fetch_done(CURL *easy, CURLcode rc, void *arg)
{
	struct subunit_job		*j = arg;
	struct subunit			*su = j->su;
	const struct subunit_summary	*s;
	long				 code = 0;
	char				*error = NULL;
	const char			*status = "failed";
	json_t				*summary = NULL;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_HTTP_RETURNED_ERROR && code >= 400 && code < 500 &&
	    !j->plain && strcmp(j->url, j->info.source_url) != 0) {
		/* No .gz: try the plain file. */
		j->plain = true;
		subunit_fetch_start(j);
		return;
	}
	if (rc == CURLE_OK && j->gz < 0 && j->nsniff > 0) {
		j->gz = 0;	/* a one-byte file */
		subunit_fetch_feed(j, j->sniff, j->nsniff);
	}
	if (j->error != NULL) {
		/* we stopped it: too large or corrupt */
		error = fh_xstrdup(j->error);
		if (strcmp(j->counter, "too_large") == 0)
			su->st.too_large++;
		else
			su->st.corrupt++;
	} else if (rc == CURLE_FILESIZE_EXCEEDED) {
		su->st.too_large++;
		error = fh_xasprintf("stream larger than max_stream_size "
		    "(%zu bytes)", su->max_stream_size);
	} else if (rc == CURLE_HTTP_RETURNED_ERROR) {
		if (code == 404)
			su->st.not_found++;
		else
			su->st.fetch_errors++;
		error = fh_xasprintf("HTTP %ld", code);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		su->st.fetch_errors++;
		error = fh_xasprintf("download timed out after %ld ms",
		    su->fetch_timeout);
	} else if (rc != CURLE_OK) {
		su->st.fetch_errors++;
		error = fh_xstrdup(curl_easy_strerror(rc));
	} else if (j->gz == 1 && !j->z_end) {
		su->st.corrupt++;
		error = fh_xstrdup("gzip stream cut short");
	}
	if (j->raw > 0 || rc == CURLE_OK) {
		subunit_parser_finish(j->parser);
		s = subunit_parser_summary(j->parser);
		su->st.bytes += s->bytes;
		su->st.packets += s->packets;
		summary = subunit_summary_json(s);
		if (error == NULL && s->corrupt > 0) {
			su->st.corrupt++;
			error = fh_xasprintf("corrupt subunit packet at offset "
			    "%llu: %s", (unsigned long long)s->error_offset,
			    s->error);
		} else if (error == NULL && s->packets == 0 && s->bytes > 0) {
			su->st.corrupt++;
			error = fh_xstrdup("not a subunit v2 stream");
		}
	}
	if (error == NULL)
		status = "success";
	else
		fh_log(LOG_INFO, "subunit %s: job %s: %s: %s", su->instance,
		    j->handle, j->url,
		    error);
	subunit_job_finish(j, status, error, summary);
	free(error);
}

