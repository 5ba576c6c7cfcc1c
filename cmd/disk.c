// SPDX-License-Identifier: MIT
/* git sbx disk: qcow2 images for people and tests. */
#include "cmd/builtin.h"
#include "sbx/disk.h"
#include "util/error.h"
#include "util/json.h"
#include "util/parse.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Print a JSON object indented as qemu-img --output=json does; takes `o`. */
static void print_json(json_t *o, int err)
{
	if (err || sbx_json_print(stdout, o, JSON_INDENT(4)))
		die("cannot print JSON (out of memory)");
	putchar('\n');
	json_decref(o);
}

static const char *const create_usage[] = {
	"git sbx disk create [--subclusters] [--cluster-size <size>] [--backing <image>"
	" [--backing-format <fmt>]] <image> [<size>]",
	NULL,
};

static int disk_create(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_disk_create_opts o = SBX_DISK_CREATE_OPTS_INIT;
	const char *size = NULL, *cluster = NULL, *backing = NULL, *fmt = NULL;
	bool sub = false;
	const struct option opts[] = {
		OPT_STRING('s', "size", &size, "size", "virtual size (e.g. 10G); default: the backing file's"),
		OPT_STRING(0, "cluster-size", &cluster, "size", "cluster size, 512 to 2M (default 64k)"),
		OPT_BOOL(0, "subclusters", &sub, "extended L2 entries: 32 subclusters per cluster"),
		OPT_STRING('b', "backing", &backing, "image", "backing file (relative to the new image)"),
		OPT_STRING('F', "backing-format", &fmt, "fmt", "backing file format: qcow2 (default) or raw"),
		OPT_END(),
	};
	int n = parse_options(argc, argv, opts, create_usage, 0);

	(void)ctx;
	if (n < 1 || n > 2 || (n == 2 && size))
		usage_with_options(create_usage, opts);
	if (n == 2)
		size = argv[1];
	if (size && parse_size(size, 1, &o.size))
		die("invalid size '%s' (%s)", size, sbx_error());
	if (cluster && parse_size(cluster, 1, &o.cluster_size))
		die("invalid cluster size '%s' (%s)", cluster, sbx_error());
	if (fmt && !backing)
		usage_msg_opt("--backing-format needs --backing", create_usage, opts);
	if (!size && !backing)
		usage_msg_opt("a size or a backing file is needed", create_usage, opts);
	o.subclusters = sub;
	o.backing = backing;
	o.backing_format = fmt;
	if (sbx_disk_create(argv[0], &o))
		die("cannot create '%s' (%s)", argv[0], sbx_error());
	return 0;
}

static const char *const info_usage[] = {
	"git sbx disk info [--json] <image>",
	NULL,
};

static int disk_info(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_disk_info i;
	bool json = false;
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "print JSON"),
		OPT_END(),
	};

	(void)ctx;
	if (parse_options(argc, argv, opts, info_usage, 0) != 1)
		usage_with_options(info_usage, opts);
	if (sbx_disk_info(argv[0], &i))
		die("cannot read '%s' (%s)", argv[0], sbx_error());
	if (json) {
		json_t *o = json_object();
		int err = !o;

		err = err ?: sbx_json_set(o, "filename", sbx_json_str(argv[0]));
		err = err ?: sbx_json_set(o, "format", json_string("qcow2"));
		err = err ?: sbx_json_set(o, "virtual-size", json_integer((json_int_t)i.size));
		err = err ?: sbx_json_set(o, "cluster-size", json_integer((json_int_t)i.cluster_size));
		err = err ?: sbx_json_set(o, "extended-l2", json_boolean(i.subclusters));
		err = err ?: sbx_json_set(o, "compression-type", sbx_json_str(i.compression));
		err = err ?: sbx_json_set(o, "lazy-refcounts", json_boolean(i.lazy_refcounts));
		err = err ?: sbx_json_set(o, "refcount-bits", json_integer(i.refcount_bits));
		err = err ?: sbx_json_set(o, "dirty", json_boolean(i.dirty));
		err = err ?: sbx_json_set(o, "corrupt", json_boolean(i.corrupt));
		err = err ?: sbx_json_set(o, "snapshots", json_integer(i.snapshots));
		err = err ?: sbx_json_set(o, "actual-size", json_integer((json_int_t)i.disk_bytes));
		err = err ?: sbx_json_set(o, "file-size", json_integer((json_int_t)i.file_bytes));
		if (i.backing[0]) {
			err = err ?: sbx_json_set(o, "backing-filename", sbx_json_str(i.backing));
			err = err ?: sbx_json_set(o, "backing-filename-format", sbx_json_str(i.backing_format));
		}
		print_json(o, err);
		return 0;
	}
	printf("image: %s\nformat: qcow2 (version 3)\nvirtual size: %" PRIu64 " bytes\n"
	       "disk size: %" PRIu64 " bytes\ncluster size: %" PRIu64 "%s\n"
	       "compression type: %s\nlazy refcounts: %s\nrefcount bits: %u\n",
	       argv[0], i.size, i.disk_bytes, i.cluster_size,
	       i.subclusters ? " (32 subclusters each)" : "", i.compression,
	       i.lazy_refcounts ? "true" : "false", i.refcount_bits);
	if (i.backing[0])
		printf("backing file: %s (format %s)\n", i.backing,
		       i.backing_format[0] ? i.backing_format : "unspecified");
	if (i.snapshots)
		printf("internal snapshots: %" PRIu32 " (read-only for git sbx)\n", i.snapshots);
	if (i.dirty)
		printf("dirty: yes (not closed cleanly, or open for writing now)\n");
	if (i.corrupt)
		printf("corrupt: yes (marked by qemu)\n");
	return 0;
}

static const char *const check_usage[] = {
	"git sbx disk check [--json] [-r | --repair] <image>",
	"",
	"Exit status (as qemu-img check): 0 clean, 2 corruption, 3 only leaks,",
	"1 the check could not run, 63 the image uses a feature we do not support.",
	NULL,
};

static int disk_check(int argc, const char **argv, struct cmd_ctx *ctx)
{
	struct sbx_disk_check r;
	bool json = false, repair = false;
	const struct option opts[] = {
		OPT_BOOL(0, "json", &json, "print JSON"),
		OPT_BOOL('r', "repair", &repair, "rebuild refcounts when there are only leaks"),
		OPT_END(),
	};
	int err;

	(void)ctx;
	if (parse_options(argc, argv, opts, check_usage, 0) != 1)
		usage_with_options(check_usage, opts);
	err = sbx_disk_check(argv[0], repair, &r);
	if (err) {
		error_msg("cannot check '%s' (%s)", argv[0], sbx_error());
		return err == SBX_EUNSUPPORTED ? 63 : 1;
	}
	if (json) {
		json_t *o = json_object();
		int e = !o;

		e = e ?: sbx_json_set(o, "filename", sbx_json_str(argv[0]));
		e = e ?: sbx_json_set(o, "format", json_string("qcow2"));
		e = e ?: sbx_json_set(o, "check-errors", json_integer(0));
		e = e ?: sbx_json_set(o, "corruptions", json_integer((json_int_t)r.corruptions));
		e = e ?: sbx_json_set(o, "leaks", json_integer((json_int_t)r.leaks));
		e = e ?: sbx_json_set(o, "stale-refcounts", json_integer((json_int_t)r.stale_refcounts));
		e = e ?: sbx_json_set(o, "repaired", json_integer((json_int_t)r.repaired));
		e = e ?: sbx_json_set(o, "dirty", json_boolean(r.dirty));
		e = e ?: sbx_json_set(o, "allocated-clusters", json_integer((json_int_t)r.allocated_clusters));
		e = e ?: sbx_json_set(o, "total-clusters", json_integer((json_int_t)r.total_clusters));
		e = e ?: sbx_json_set(o, "compressed-clusters", json_integer((json_int_t)r.compressed_clusters));
		e = e ?: sbx_json_set(o, "image-end-offset", json_integer((json_int_t)r.image_end_offset));
		if (r.first_error[0])
			e = e ?: sbx_json_set(o, "first-error", sbx_json_str(r.first_error));
		print_json(o, e);
	} else {
		if (r.repaired)
			printf("Repaired %" PRIu64 " refcounts (leaked clusters or refcounts left stale "
			       "by a crash).\n", r.repaired);
		if (r.corruptions)
			printf("%" PRIu64 " errors were found on the image; the first: %s\n"
			       "Data may be corrupted; git sbx does not repair this.\n",
			       r.corruptions, r.first_error);
		if (r.leaks || r.stale_refcounts)
			printf("%" PRIu64 " leaked clusters and %" PRIu64 " stale refcounts were found%s.\n"
			       "This wastes space but no data; 'git sbx disk check -r' repairs it.\n",
			       r.leaks, r.stale_refcounts, r.dirty ? " (the image was not closed cleanly)" : "");
		if (!r.corruptions && !r.leaks && !r.stale_refcounts)
			printf("No errors were found on the image.\n");
		printf("%" PRIu64 "/%" PRIu64 " clusters allocated, %" PRIu64 " compressed\n"
		       "Image end offset: %" PRIu64 "\n", r.allocated_clusters, r.total_clusters,
		       r.compressed_clusters, r.image_end_offset);
	}
	if (r.corruptions)
		return 2;
	return r.leaks || r.stale_refcounts ? 3 : 0;
}

static const char *const seal_usage[] = {
	"git sbx disk seal [-o <output>] <image>",
	NULL,
};

static int disk_seal(int argc, const char **argv, struct cmd_ctx *ctx)
{
	const char *out = NULL;
	const struct option opts[] = {
		OPT_STRING('o', "output", &out, "file", "write here instead of replacing <image>"),
		OPT_END(),
	};

	(void)ctx;
	if (parse_options(argc, argv, opts, seal_usage, 0) != 1)
		usage_with_options(seal_usage, opts);
	if (sbx_disk_seal(argv[0], out))
		die("cannot seal '%s' (%s)", argv[0], sbx_error());
	return 0;
}

static const char *const squash_usage[] = {
	"git sbx disk squash [--base <image>] <top> <output>",
	NULL,
};

static int disk_squash(int argc, const char **argv, struct cmd_ctx *ctx)
{
	const char *base = NULL;
	const struct option opts[] = {
		OPT_STRING(0, "base", &base, "image",
			   "keep this layer of the chain as the output's backing file"),
		OPT_END(),
	};

	(void)ctx;
	if (parse_options(argc, argv, opts, squash_usage, 0) != 2)
		usage_with_options(squash_usage, opts);
	if (sbx_disk_squash(argv[0], base, argv[1]))
		die("cannot squash '%s' into '%s' (%s)", argv[0], argv[1], sbx_error());
	return 0;
}

static const struct cmd_struct disk_commands[] = {
	{ "check", disk_check, 0, "check an image; -r repairs leaks" },
	{ "create", disk_create, 0, "create a qcow2 image, optionally over a backing file" },
	{ "info", disk_info, 0, "describe an image (--json for scripts)" },
	{ "seal", disk_seal, 0, "rewrite an image zstd-compressed and read-only" },
	{ "squash", disk_squash, 0, "merge a backing chain into one image" },
	{ NULL, NULL, 0, NULL },
};

int cmd_disk(int argc, const char **argv, struct cmd_ctx *ctx)
{
	return run_subcommand("disk", disk_commands, argc, argv, ctx);
}
