/* Unit tests: the embedded live page is the sources' bytes; lookup, types
 * and ETags. The responses: tests/integration/88-log-page.py. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "sinks/log/page.h"

static char *
read_source(const char *name, size_t *lenp)
{
	const char	*src = getenv("top_srcdir");
	char		 path[4096];
	char		*buf;
	FILE		*f;
	long		 n;

	snprintf(path, sizeof path, "%s/sinks/log/page/%s",
	    src ? src : ".", name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*lenp = (size_t)n;
	return buf;
}

static uint64_t
fnv1a64(const unsigned char *p, size_t len)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static const struct page_file *
by_name(const char *name)
{
	int	i;

	for (i = 0; page_files[i].name != NULL; i++)
		if (strcmp(page_files[i].name, name) == 0)
			return &page_files[i];
	return NULL;
}

/* Every embedded file is byte for byte its source, NUL-terminated, with
 * the ETag of those bytes. */
static void
test_embedded_match_sources(void **state)
{
	char	 etag[32];
	int	 i;

	(void)state;
	assert_non_null(page_files[0].name);
	for (i = 0; page_files[i].name != NULL; i++) {
		const struct page_file *f = &page_files[i];
		size_t len;
		char *src = read_source(f->name, &len);

		assert_int_equal(f->len, len);
		assert_memory_equal(f->data, src, len);
		assert_int_equal(f->data[f->len], 0);
		snprintf(etag, sizeof etag, "\"%016llx\"",
		    (unsigned long long)fnv1a64(f->data, f->len));
		assert_string_equal(f->etag, etag);
		free(src);
	}
}

/* No file of sinks/log/page/ is left out of the binary. */
static void
test_every_source_embedded(void **state)
{
	const char	*src = getenv("top_srcdir");
	char		 path[4096];
	struct dirent	*de;
	DIR		*d;
	int		 n = 0, i;

	(void)state;
	snprintf(path, sizeof path, "%s/sinks/log/page", src ? src : ".");
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (by_name(de->d_name) == NULL)
			fail_msg("%s is not embedded", de->d_name);
		n++;
	}
	closedir(d);
	for (i = 0; page_files[i].name != NULL; i++)
		;
	assert_int_equal(i, n);
	assert_non_null(by_name("index.html"));
	assert_non_null(by_name("app.js"));
	assert_non_null(by_name("mqtt.js"));
	assert_non_null(by_name("style.css"));
}

static const struct page_file *
lookup(const char *path)
{
	return page_lookup(path, strlen(path));
}

static void
test_lookup(void **state)
{
	static const char *const missing[] = {
		"", "/x", "/index.html", "/static", "/static/",
		"/static/index.html", "/static/../app.js", "/static/a/app.js",
		"/static/app%2ejs", "/static/app.js/", "/static/APP.JS",
		"/staticapp.js", "/static/app.j", NULL
	};
	int	i;

	(void)state;
	assert_ptr_equal(lookup("/"), by_name("index.html"));
	assert_ptr_equal(lookup("/?filter=gerrit/%23"), by_name("index.html"));
	assert_ptr_equal(lookup("/static/app.js"), by_name("app.js"));
	assert_ptr_equal(lookup("/static/style.css?v=1"), by_name("style.css"));
	assert_ptr_equal(lookup("/static/mqtt.js"), by_name("mqtt.js"));
	for (i = 0; missing[i] != NULL; i++)
		if (lookup(missing[i]) != NULL)
			fail_msg("%s found", missing[i]);
	/* The length bounds the path, not a NUL. */
	assert_ptr_equal(page_lookup("/static/app.jsXYZ", 14),
	    by_name("app.js"));
}

static void
test_content_types(void **state)
{
	(void)state;
	assert_string_equal(page_content_type(by_name("index.html")),
	    "text/html; charset=utf-8");
	assert_string_equal(page_content_type(by_name("app.js")),
	    "text/javascript; charset=utf-8");
	assert_string_equal(page_content_type(by_name("style.css")),
	    "text/css; charset=utf-8");
	assert_string_equal(page_content_type(by_name("favicon.svg")),
	    "image/svg+xml");
}

static bool
inm(const struct page_file *f, const char *s)
{
	return page_etag_matches(f, s, s ? strlen(s) : 0);
}

static void
test_etag_matches(void **state)
{
	const struct page_file	*f = by_name("app.js");
	char			 buf[128];

	(void)state;
	assert_false(inm(f, NULL));
	assert_false(inm(f, ""));
	assert_true(inm(f, f->etag));
	assert_true(inm(f, "*"));
	snprintf(buf, sizeof buf, "W/%s", f->etag);
	assert_true(inm(f, buf));
	snprintf(buf, sizeof buf, "\"aa\", %s ,\"bb\"", f->etag);
	assert_true(inm(f, buf));
	assert_false(inm(f, "\"0000000000000000\""));
	assert_false(inm(f, by_name("style.css")->etag));
	/* Unquoted, or a prefix: no match. */
	snprintf(buf, sizeof buf, "%.*s", (int)strlen(f->etag) - 2,
	    f->etag + 1);
	assert_false(inm(f, buf));
	snprintf(buf, sizeof buf, "%.*s", (int)strlen(f->etag) - 1, f->etag);
	assert_false(inm(f, buf));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embedded_match_sources),
		cmocka_unit_test(test_every_source_embedded),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_content_types),
		cmocka_unit_test(test_etag_matches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
