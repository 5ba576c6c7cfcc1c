// SPDX-License-Identifier: MIT
#include "sbx/config.h"
#include "sbx/repo.h"
#include "util/error.h"
#include "util/parse.h"

#include <git2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sbx_config {
	git_config *snap;	/* a snapshot: values stay valid while we hold it */
};

int sbx_config_open(struct sbx_config **out, struct sbx_repo *repo)
{
	struct sbx_config *cfg;
	git_config *live = NULL;
	int err;

	*out = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (repo)
		err = git_repository_config(&live, repo->git);
	else
		err = git_config_open_default(&live);
	if (err < 0) {
		free(cfg);
		return sbx_git_error(SBX_ERROR, "cannot read git config");
	}
	err = git_config_snapshot(&cfg->snap, live);
	git_config_free(live);
	if (err < 0) {
		free(cfg);
		return sbx_git_error(SBX_ERROR, "cannot read git config");
	}
	*out = cfg;
	return 0;
}

void sbx_config_free(struct sbx_config *cfg)
{
	if (!cfg)
		return;
	git_config_free(cfg->snap);
	free(cfg);
}

static int get(struct sbx_config *cfg, const char *key, const char **out)
{
	int err = git_config_get_string(out, cfg->snap, key);

	if (err == GIT_ENOTFOUND)
		return SBX_ENOTFOUND;
	if (err < 0)
		return sbx_git_error(SBX_ERROR, key);
	return 0;
}

int sbx_config_string(struct sbx_config *cfg, const char *key, char **out)
{
	const char *v;
	int err = get(cfg, key, &v);

	if (err)
		return err;
	*out = strdup(v);
	return *out ? 0 : sbx_error_set(SBX_ENOMEM, "out of memory");
}

int sbx_config_bool(struct sbx_config *cfg, const char *key, bool *out)
{
	int v, err = git_config_get_bool(&v, cfg->snap, key);

	if (err == GIT_ENOTFOUND)
		return SBX_ENOTFOUND;
	if (err < 0)
		return sbx_git_error(SBX_EINVAL, key);
	*out = v;
	return 0;
}

int sbx_config_size(struct sbx_config *cfg, const char *key, uint64_t unit, uint64_t *out)
{
	const char *v;
	int err = get(cfg, key, &v);

	if (err)
		return err;
	if (parse_size(v, unit, out))
		return sbx_error_prefix(SBX_EINVAL, "bad config value for '%s'", key);
	return 0;
}

int sbx_config_duration_ms(struct sbx_config *cfg, const char *key, uint64_t *out)
{
	const char *v;
	int err = get(cfg, key, &v);

	if (err)
		return err;
	if (parse_duration_ms(v, out))
		return sbx_error_prefix(SBX_EINVAL, "bad config value for '%s'", key);
	return 0;
}

struct strv {
	char **v;
	size_t n;
	int err;
};

static int strv_add(const git_config_entry *e, void *payload)
{
	struct strv *sv = payload;
	char **nv = realloc(sv->v, (sv->n + 2) * sizeof(*nv));

	if (!nv || !(nv[sv->n] = strdup(e->value ? e->value : ""))) {
		if (nv)
			sv->v = nv;
		sv->err = sbx_error_set(SBX_ENOMEM, "out of memory");
		return -1;
	}
	sv->v = nv;
	sv->v[++sv->n] = NULL;
	return 0;
}

int sbx_config_strings(struct sbx_config *cfg, const char *key, char ***out, size_t *n)
{
	struct strv sv = { NULL, 0, 0 };
	int err = git_config_get_multivar_foreach(cfg->snap, key, NULL, strv_add, &sv);

	if (err < 0 && err != GIT_ENOTFOUND && !sv.err)
		sv.err = sbx_git_error(SBX_ERROR, key);
	if (sv.err) {
		sbx_strv_free(sv.v, sv.n);
		return sv.err;
	}
	*out = sv.v;
	*n = sv.n;
	return 0;
}

void sbx_strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

struct subs {
	struct strv sv;
	const char *section;
	size_t plen;
};

static int subs_add(const git_config_entry *e, void *payload)
{
	struct subs *s = payload;
	const char *name, *dot;
	char **nv, *sub;
	size_t i, len;

	/* Section names are case-insensitive; libgit2 gives them in lower case. */
	if (strncasecmp(e->name, s->section, s->plen) || e->name[s->plen] != '.')
		return 0;
	name = e->name + s->plen + 1;
	dot = strrchr(name, '.');
	if (!dot || dot == name)
		return 0;
	len = (size_t)(dot - name);
	for (i = 0; i < s->sv.n; i++)
		if (strlen(s->sv.v[i]) == len && !memcmp(s->sv.v[i], name, len))
			return 0;
	nv = realloc(s->sv.v, (s->sv.n + 2) * sizeof(*nv));
	if (nv)
		s->sv.v = nv;
	if (!nv || !(sub = strndup(name, len))) {
		s->sv.err = sbx_error_set(SBX_ENOMEM, "out of memory");
		return -1;
	}
	s->sv.v[s->sv.n++] = sub;
	s->sv.v[s->sv.n] = NULL;
	return 0;
}

int sbx_config_subsections(struct sbx_config *cfg, const char *section, char ***out, size_t *n)
{
	struct subs s = { { NULL, 0, 0 }, section, strlen(section) };
	int err;

	/* Every entry, filtered here: libgit2 1.5's regex matching leaks pcre2 match data. */
	err = git_config_foreach(cfg->snap, subs_add, &s);
	if (err < 0 && !s.sv.err)
		s.sv.err = sbx_git_error(SBX_ERROR, section);
	if (s.sv.err) {
		sbx_strv_free(s.sv.v, s.sv.n);
		return s.sv.err;
	}
	*out = s.sv.v;
	*n = s.sv.n;
	return 0;
}
