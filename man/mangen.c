/*
 * mangen: make the man pages from their templates and from the config
 * tables the parser itself uses, so that firehose.conf(5) lists exactly
 * the keys firehosed accepts, with their types and defaults.
 *
 * usage: mangen TEMPLATE > PAGE
 *
 * In TEMPLATE, @VERSION@ and @SYSCONFDIR@ are replaced, and a line
 * "@CONFIG_SECTIONS@" becomes one subsection per config section: [gateway],
 * each sink's sections, then [source NAME] once per source type. A key
 * without documentation in its table fails the build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gateway/conf.h"
#include "gateway/gateway.h"
#include "gateway/module.h"

static int	mangen_undocumented;

/* Text into roff: backslashes doubled, no line starting with a control
 * character. */
static void
mangen_text(FILE *out, const char *s)
{
	if (*s == '.' || *s == '\'')
		fputs("\\&", out);
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			fputs("\\e", out);
		else if (*s == '-')
			fputs("\\-", out);
		else
			fputc(*s, out);
	}
}

/* The values an enum or a range takes, from the table itself. */
static void
mangen_domain(FILE *out, const struct fh_conf_var *v)
{
	size_t	i;

	if (v->type == FH_CONF_T_ENUM && v->names != NULL) {
		fputs(" (", out);
		for (i = 0; v->names[i] != NULL; i++) {
			if (i > 0)
				fputs(v->names[i + 1] == NULL ? " or " : ", ",
				    out);
			fputs("\\fB", out);
			mangen_text(out, v->names[i]);
			fputs("\\fR", out);
		}
		fputs(")", out);
	} else if (v->type == FH_CONF_T_RANGE)
		fprintf(out, " (%ld to %ld)", v->lo, v->hi);
}

static void
mangen_vars(FILE *out, const char *section, const struct fh_conf_var *vars)
{
	const struct fh_conf_var	*v;

	for (v = vars; v->key != NULL; v++) {
		fputs(".TP\n\\fB", out);
		mangen_text(out, v->key);
		fprintf(out, "\\fR = \\fI%s\\fR", fh_conf_type_name(v->type));
		mangen_domain(out, v);
		if (v->required)
			fputs(" (required)", out);
		else if (v->def == NULL || *v->def == '\0')
			fputs(" (default: empty)", out);
		else {
			fputs(" (default: \\fB", out);
			mangen_text(out, v->def);
			fputs("\\fR)", out);
		}
		fputc('\n', out);
		if (v->doc == NULL || *v->doc == '\0') {
			fprintf(stderr, "mangen: [%s] %s has no documentation "
			    "in its table\n", section, v->key);
			mangen_undocumented++;
			continue;
		}
		mangen_text(out, v->doc);
		fputc('\n', out);
	}
}

static void
mangen_schema(FILE *out, const struct fh_conf_schema *s, const char *type)
{
	fputs(".SS \"[", out);
	mangen_text(out, s->section);
	fputs("]", out);
	if (type != NULL)
		fprintf(out, " with type = %s", type);
	fputs("\"\n", out);
	if (s->doc != NULL && *s->doc != '\0') {
		mangen_text(out, s->doc);
		fputc('\n', out);
	}
	if (type != NULL)
		fprintf(out, ".TP\n\\fBtype\\fR = \\fI%s\\fR (required)\n"
		    "Selects this source.\n", type);
	mangen_vars(out, s->section, s->vars);
}

static void
mangen_sections(FILE *out)
{
	const struct fh_conf_schema	*s;
	size_t				 i;

	mangen_schema(out, &fh_gateway_schema, NULL);
	for (i = 0; fh_sinks[i] != NULL; i++)
		for (s = fh_sinks[i]->schema; s != NULL && s->section != NULL;
		    s++)
			mangen_schema(out, s, NULL);
	for (i = 0; fh_sources[i] != NULL; i++) {
		if (fh_sources[i]->schema == NULL) {
			fprintf(stderr, "mangen: source %s has no schema\n",
			    fh_sources[i]->name);
			mangen_undocumented++;
			continue;
		}
		mangen_schema(out, fh_sources[i]->schema,
		    fh_sources[i]->name);
	}
}

static void
mangen_line(FILE *out, const char *line)
{
	static const struct {
		const char	*name;
		const char	*value;
	} vars[] = {
		{ "@VERSION@", PACKAGE_VERSION },
		{ "@SYSCONFDIR@", SYSCONFDIR },
		{ NULL, NULL }
	};
	const char	*p, *hit;
	size_t		 i, best;

	for (p = line; *p != '\0';) {
		hit = NULL;
		best = 0;
		for (i = 0; vars[i].name != NULL; i++) {
			const char *h = strstr(p, vars[i].name);

			if (h != NULL && (hit == NULL || h < hit)) {
				hit = h;
				best = i;
			}
		}
		if (hit == NULL) {
			fputs(p, out);
			return;
		}
		fwrite(p, 1, (size_t)(hit - p), out);
		fputs(vars[best].value, out);
		p = hit + strlen(vars[best].name);
	}
}

int
main(int argc, char **argv)
{
	FILE	*in;
	char	 line[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: mangen TEMPLATE > PAGE\n");
		return 2;
	}
	if ((in = fopen(argv[1], "r")) == NULL) {
		perror(argv[1]);
		return 1;
	}
	while (fgets(line, sizeof line, in) != NULL) {
		if (strcmp(line, "@CONFIG_SECTIONS@\n") == 0)
			mangen_sections(stdout);
		else
			mangen_line(stdout, line);
	}
	fclose(in);
	if (mangen_undocumented > 0) {
		fprintf(stderr, "mangen: %d keys without documentation\n",
		    mangen_undocumented);
		return 1;
	}
	return ferror(stdout) ? 1 : 0;
}
