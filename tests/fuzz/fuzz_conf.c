/*
 * libFuzzer target: the INI config parser (fh_conf_parse), then what the
 * gateway does with a parsed file: walk the sections, apply a schema table
 * with every value type, look up keys and "file:line" positions, and run
 * the shared value parsers on every value.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/conf.h"

struct fuzz_obj {
	char	*s;
	char	*req;
	int	 i;
	bool	 b;
	size_t	 sz;
	long	 ms;
	int	 qos;
};

static const struct fh_conf_var fuzz_vars[] = {
	FH_CONF_STR("str", struct fuzz_obj, s, "x"),
	FH_CONF_STR_REQ("type", struct fuzz_obj, req),
	FH_CONF_INT("int", struct fuzz_obj, i, "1"),
	FH_CONF_BOOL("bool", struct fuzz_obj, b, "false"),
	FH_CONF_SIZE("size", struct fuzz_obj, sz, "1M"),
	FH_CONF_DURATION("wait", struct fuzz_obj, ms, "30s"),
	FH_CONF_QOS("qos", struct fuzz_obj, qos, "0"),
	FH_CONF_END
};

/*
 * Oracle for the scaled parsers: a value that parses is the leading
 * number times one of the unit scales, exactly (no wrap-around).
 */
static void
fuzz_check_scaled(const char *v, unsigned long long got,
    const unsigned long long *scales)
{
	unsigned long long	n;
	char			*end;
	int			i;

	n = strtoull(v, &end, 10);
	if (n == 0) {
		if (got != 0)
			abort();
		return;
	}
	if (got % n != 0)
		abort();
	for (i = 0; scales[i] != 0; i++)
		if (got / n == scales[i])
			return;
	abort();
}

static void
fuzz_values(const struct fh_section *sec)
{
	static const char *const keys[] = { "str", "type", "int", "bool",
	    "size", "wait", "qos", "bind", NULL };
	static const unsigned long long size_scales[] = { 1, 1024,
	    1024 * 1024, 1024 * 1024 * 1024ULL, 0 };
	static const unsigned long long ms_scales[] = { 1, 1000, 60000,
	    3600000, 86400000, 0 };
	const char	*v;
	char		*host, *where;
	bool		 b;
	int		 i, port;
	size_t		 sz;
	long		 ms;

	for (i = 0; keys[i] != NULL; i++) {
		where = fh_section_where(sec, keys[i]);
		free(where);
		if ((v = fh_section_get(sec, keys[i])) == NULL)
			continue;
		(void)fh_parse_bool(v, &b);
		(void)fh_parse_int(v, &port);
		if (fh_parse_size(v, &sz) == 0)
			fuzz_check_scaled(v, sz, size_scales);
		if (fh_parse_duration(v, &ms) == 0)
			fuzz_check_scaled(v, (unsigned long long)ms, ms_scales);
		if (fh_parse_hostport(v, &host, &port) == 0)
			free(host);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fh_conf		*conf;
	const struct fh_section	*sec;
	struct fuzz_obj		 obj;
	char			*err = NULL;

	conf = fh_conf_parse("fuzz.conf", (const char *)data, size, &err);
	if (conf == NULL) {
		if (err == NULL || strncmp(err, "fuzz.conf:", 10) != 0)
			abort();	/* errors always say file:line */
		free(err);
		return 0;
	}
	if (err != NULL)
		abort();
	for (sec = NULL; (sec = fh_conf_next(conf, sec, NULL)) != NULL;) {
		(void)fh_section_type(sec);
		(void)fh_section_name(sec);
		(void)fh_section_line(sec);
		fuzz_values(sec);
		if (strcmp(fh_section_type(sec), "claim") == 0) {
			fh_section_claim(sec, "type");
			continue;
		}
		memset(&obj, 0, sizeof obj);
		if (fh_conf_apply(sec, fuzz_vars, &obj, &err) != 0) {
			if (err == NULL)
				abort();
			free(err);
			err = NULL;
		}
		fh_conf_clear(fuzz_vars, &obj);
	}
	(void)fh_conf_find(conf, "listener");
	(void)fh_conf_unclaimed(conf);
	(void)fh_conf_path(conf);
	fh_conf_free(conf);
	return 0;
}
