/* SPDX-License-Identifier: MIT */
/*
 * Settings come from git config (sbx.*): the repository's config when there
 * is a repository, the user's and system's otherwise.
 */
#ifndef SBX_SBX_CONFIG_H
#define SBX_SBX_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbx_repo;
struct sbx_config;

int sbx_config_open(struct sbx_config **out, struct sbx_repo *repo);
void sbx_config_free(struct sbx_config *cfg);

/* Each returns 0 and sets *out, SBX_ENOTFOUND when unset (leaving *out), or an error. */
int sbx_config_string(struct sbx_config *cfg, const char *key, char **out);
int sbx_config_bool(struct sbx_config *cfg, const char *key, bool *out);
/* A size like "2G"; a bare number is multiplied by `unit`. */
int sbx_config_size(struct sbx_config *cfg, const char *key, uint64_t unit, uint64_t *out);
int sbx_config_duration_ms(struct sbx_config *cfg, const char *key, uint64_t *out);
/* Every value of a multi-valued key, in config order (*n may be 0); free with sbx_strv_free(). */
int sbx_config_strings(struct sbx_config *cfg, const char *key, char ***out, size_t *n);
void sbx_strv_free(char **v, size_t n);
/*
 * The subsection names under `section` (e.g. "sbx-secret" for
 * sbx-secret.<name>.*), each once, in config order (*n may be 0).
 */
int sbx_config_subsections(struct sbx_config *cfg, const char *section, char ***out, size_t *n);

#endif
