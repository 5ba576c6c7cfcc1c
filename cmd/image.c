// SPDX-License-Identifier: MIT
/* git sbx image: build, list and remove guest images. */
#include "cmd/builtin.h"
#include "sbx/image.h"
#include "util/error.h"
#include "util/json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void show_progress(void *opaque, const char *what)
{
	(void)opaque;
	fprintf(stderr, "image: %s\n", what);
}

static const char *const build_usage[] = {
	"git sbx image build [--preset (minimal|default)] [--agent <agent>] [--from-tar <rootfs.tar>]",
	"                    [--name <name>] [--kernel-dir <dir>] [--mirror <url>]",
	NULL,
};

static int image_build(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_image_build_opts o = SBX_IMAGE_BUILD_OPTS_INIT;
	struct sbx_image img;
	const struct option opts[] = {
		OPT_STRING(0, "preset", &o.preset, "preset", "minimal, or default (adds build tools, python3, node)"),
		OPT_STRING(0, "agent", &o.agent, "agent", "also install an agent's CLI: claude, codex, gemini (npm), aider (pipx)"),
		OPT_STRING(0, "from-tar", &o.from_tar, "file", "use this rootfs tarball (e.g. from docker export)"),
		OPT_STRING(0, "name", &o.name, "name", "name the image (default: \"default\")"),
		OPT_STRING(0, "kernel-dir", &o.kernel_dir, "dir", "an extracted linux-image-*-cloud-amd64 package"),
		OPT_STRING(0, "mirror", &o.mirror, "url", "Debian mirror for mmdebstrap"),
		OPT_END(),
	};

	(void)ctx;
	if (parse_options(argc, argv, opts, build_usage, 0))
		usage_with_options(build_usage, opts);
	if (o.from_tar && (o.preset || o.agent))
		usage_msg_opt("--from-tar cannot be combined with --preset or --agent", build_usage, opts);
	o.progress = show_progress;
	if (sbx_image_build(&img, &o))
		return error_sbx("cannot build the image");
	printf("%s %.12s\n", img.name, img.id);
	return 0;
}

struct ls_state {
	bool json;
	int n;
};

static int ls_one(void *opaque, const struct sbx_image *img, const char *names)
{
	struct ls_state *st = opaque;
	char when[32];
	time_t t = (time_t)img->created;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M", localtime(&t));
	if (st->json) {
		json_t *o = json_object();
		int err = !o;

		err = err ?: sbx_json_set(o, "id", sbx_json_str(img->id));
		err = err ?: sbx_json_set(o, "names", sbx_json_str(names));
		err = err ?: sbx_json_set(o, "preset", sbx_json_str(img->preset));
		err = err ?: sbx_json_set(o, "agent", sbx_json_str(img->agent));
		err = err ?: sbx_json_set(o, "kernel", sbx_json_str(img->kernel_version));
		err = err ?: sbx_json_set(o, "created", json_integer((json_int_t)img->created));
		err = err ?: sbx_json_set(o, "bytes", json_integer((json_int_t)img->bytes));
		if (st->n)
			putchar(',');
		if (err || sbx_json_print(stdout, o, JSON_COMPACT))
			die("cannot print JSON (out of memory)");
		json_decref(o);
	} else {
		if (!st->n)
			printf("%-12s  %-16s  %-8s  %-8s  %-16s  %s\n", "ID", "NAMES", "PRESET", "SIZE",
			       "CREATED", "KERNEL");
		printf("%.12s  %-16s  %-8s  %5.0f MB  %-16s  %s\n", img->id, names[0] ? names : "-",
		       img->preset, (double)img->bytes / 1e6, when, img->kernel_version);
	}
	st->n++;
	return 0;
}

static const char *const ls_usage[] = { "git sbx image ls [--json]", NULL };

static int image_ls(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct ls_state st = { 0 };
	const struct option opts[] = {
		OPT_BOOL(0, "json", &st.json, "print JSON"),
		OPT_END(),
	};

	(void)ctx;
	if (parse_options(argc, argv, opts, ls_usage, 0))
		usage_with_options(ls_usage, opts);
	if (st.json)
		putchar('[');
	if (sbx_image_list(ls_one, &st))
		return error_sbx("cannot list images");
	if (st.json)
		printf("]\n");
	else if (!st.n)
		fprintf(stderr, "no images yet; build one with 'git sbx image build'\n");
	return 0;
}

static const char *const rm_usage[] = { "git sbx image rm <name-or-id>...", NULL };

static int image_rm(int argc, const char **argv, struct cmd_ctx *ctx)
{
	const struct option opts[] = { OPT_END() };
	int i, n, ret = 0;

	(void)ctx;
	n = parse_options(argc, argv, opts, rm_usage, 0);
	if (!n)
		usage_with_options(rm_usage, opts);
	for (i = 0; i < n; i++)
		if (sbx_image_remove(argv[i]))
			ret = error_sbx(argv[i]);
	return ret;
}

static const struct cmd_struct image_commands[] = {
	{ "build", image_build, 0, "build an image (kernel bundle + root image)" },
	{ "ls", image_ls, 0, "list images" },
	{ "rm", image_rm, 0, "remove an image name (and the image when unnamed)" },
	{ NULL, NULL, 0, NULL },
};

int cmd_image(int argc, const char **argv, struct cmd_ctx *ctx)
{
	return run_subcommand("image", image_commands, argc, argv, ctx);
}
