// SPDX-License-Identifier: MIT
/* git sbx warm: build the repository's warm base ahead of the first task, or list them. */
#include "cmd/builtin.h"
#include "cmd/task-print.h"
#include "sbx/repo.h"
#include "sbx/sysinfo.h"
#include "sbx/warm.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/quote.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const warm_usage[] = {
	"git sbx warm [--rebuild] [--image <name>] [--cpus <n>] [--memory <size>] [--base <rev>]",
	"git sbx warm --list",
	"",
	"A warm base is a memory snapshot of a VM that cloned a commit of this",
	"repository and ran `git config sbx.setup` (e.g. `npm ci`), saved idle.",
	"`git sbx task` restores it instead of booting, cloning and setting up,",
	"and sends only the commits since.  The first task builds one when there",
	"is none; this builds it ahead of time, for the image, --cpus and --memory",
	"a task would use (a task with others uses another warm base).  A changed",
	"image, sbx-init or sbx.setup makes a new one; `git sbx gc` removes those",
	"no task used for sbx.warmExpiry (168h).  Needs KVM (our VMM).",
	NULL,
};

static void show_progress(void *opaque, const char *what)
{
	(void)opaque;
	fputs("warm: ", stderr);
	sbx_quote_fputs(what, stderr);
	fputc('\n', stderr);
}

/* The setup's output, escaped: it is the repository's, run in the guest. */
static int show_output(void *opaque, int fd, const uint8_t *data, size_t len)
{
	char buf[SBX_QUOTE_MAX(4096)];
	struct sbx_quote *q = opaque;

	(void)fd;
	while (len) {
		size_t k = len < 4096 ? len : 4096;

		fwrite(buf, 1, sbx_quote_mem(q, buf, data, k), stderr);
		data += k;
		len -= k;
	}
	return 0;
}

static uint64_t du_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char p[4096];
		struct stat st;

		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (de->d_name[0] != '.' && !lstat(p, &st) && S_ISREG(st.st_mode))
			n += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return n;
}

static int list(struct cmd_ctx *ctx)
{
	struct sbx_warm **v = NULL;
	size_t n, nbad, i;

	if (sbx_warm_list(&v, &n, &nbad, ctx->repo))
		die_sbx("cannot list the warm bases");
	for (i = 0; i < n; i++) {
		char made[32], used[32], hex[GIT_OID_HEXSZ + 1];

		format_age(made, sizeof(made), v[i]->created_ms);
		format_age(used, sizeof(used), v[i]->used_ms);
		printf("%.12s  base %.12s  image %.12s  %u cpus %llu MiB  built %s, used %s  %llu MiB on disk",
		       v[i]->key, git_oid_tostr(hex, sizeof(hex), &v[i]->base), v[i]->image_id,
		       v[i]->cpus, (unsigned long long)(v[i]->memory >> 20), made, used,
		       (unsigned long long)(du_dir(v[i]->dir) >> 20));
		if (v[i]->setup) {
			fputs("  setup: ", stdout);
			sbx_quote_fputs(v[i]->setup, stdout);
		}
		putchar('\n');
	}
	if (nbad)
		printf("%zu damaged (git sbx gc removes them)\n", nbad);
	sbx_warm_list_free(v, n);
	return 0;
}

int cmd_warm(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_warm_build_opts o = { 0 };
	struct sbx_warm_get_result res;
	struct sbx_quote q = SBX_QUOTE_INIT;
	struct sbx_warm *w = NULL;
	struct sbx_image img;
	const char *image = NULL, *memory = NULL, *base = "HEAD";
	char *setup = NULL, hex[GIT_OID_HEXSZ + 1], buf[SBX_QUOTE_MAX(0)];
	bool rebuild = false, do_list = false;
	git_object *obj = NULL, *c = NULL;
	uint64_t mem = 1ULL << 30;
	int cpus = 2;
	const struct option opts[] = {
		OPT_BOOL(0, "rebuild", &rebuild, "build it again even if there is one"),
		OPT_STRING(0, "image", &image, "name", "the image tasks run in (default \"default\")"),
		OPT_INT(0, "cpus", &cpus, "n", "virtual CPUs, as tasks get them (default 2)"),
		OPT_STRING(0, "memory", &memory, "size", "guest memory, as tasks get it (default 1G)"),
		OPT_STRING(0, "base", &base, "rev", "the commit its guest clones (default HEAD)"),
		OPT_BOOL(0, "list", &do_list, "list this repository's warm bases"),
		OPT_END(),
	};

	if (parse_options(argc, argv, opts, warm_usage, 0))
		usage_with_options(warm_usage, opts);
	if (do_list) {
		if (rebuild || image || memory)
			usage_msg_opt("--list takes no other option", warm_usage, opts);
		return list(ctx);
	}
	if (cpus < 1 || cpus > 64)
		usage_msg_opt("--cpus must be 1..64", warm_usage, opts);
	if (memory && parse_size(memory, 1 << 20, &mem))
		usage_msg_opt(sbx_error(), warm_usage, opts);
	if (sbx_kvm_check(NULL))
		die("warm bases need KVM (our VMM): %s", sbx_error());
	if (git_revparse_single(&obj, ctx->repo->git, base) < 0 ||
	    git_object_peel(&c, obj, GIT_OBJECT_COMMIT) < 0) {
		sbx_git_error(SBX_ENOTFOUND, base);
		die_sbx("no base commit");
	}
	if (sbx_image_resolve(&img, image))
		die_sbx("no image (git sbx image build makes one)");
	if (sbx_warm_opts_from_config(&o, &setup, ctx->repo) || sbx_image_init_hash(o.init_hash))
		die_sbx("cannot read the configuration");
	o.image = &img;
	o.base = *git_object_id(c);
	o.cpus = (unsigned)cpus;
	o.memory = (mem + (2ULL << 20) - 1) & ~((2ULL << 20) - 1);
	o.rebuild = rebuild;
	o.progress = show_progress;
	o.output = show_output;
	o.output_opaque = &q;
	git_object_free(c);
	git_object_free(obj);
	if (sbx_warm_get(&w, &res, ctx->repo, &o))
		die_sbx("cannot build the warm base");
	fwrite(buf, 1, sbx_quote_end(&q, buf), stderr);
	git_oid_tostr(hex, sizeof(hex), &w->base);
	if (res.built) {
		printf("warm base %.12s: image '%s', base %.12s, built in %.1f s\n", w->key, img.name,
		       hex, (double)res.build_ms / 1000);
	} else {
		char age[32];

		format_age(age, sizeof(age), w->created_ms);
		printf("warm base %.12s: image '%s', base %.12s, built %s (--rebuild builds it again)\n",
		       w->key, img.name, hex, age);
	}
	sbx_warm_free(w);
	free(setup);
	return 0;
}
