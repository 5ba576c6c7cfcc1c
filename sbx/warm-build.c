// SPDX-License-Identifier: MIT
/*
 * Building a warm base (sbx/warm.h): boot the image with a new task disk,
 * send a bundle of one commit, clone it in the guest, run sbx.setup, save
 * the idle guest, and put the directory in place under the key's lock.
 */
#include "sbx/warm.h"
#include "sbx/audit.h"
#include "sbx/bundle.h"
#include "sbx/config.h"
#include "sbx/fsutil.h"
#include "sbx/machine.h"
#include "sbx/repo.h"
#include "sbx/sandbox.h"
#include "sbx/task-env.h"
#include "sbx/task-net.h"
#include "sbx/task-run.h"
#include "sbx/task-scripts.h"
#include "util/error.h"
#include "util/log.h"
#include "util/quote.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AGENT_UID 1000
#define START_TIMEOUT_MS (30 * 1000)
#define HOST_GRACE_MS (30 * 1000)
#define CLONE_TIMEOUT_MS (10 * 60 * 1000)
#define TAIL_MAX 1024
#define WARM_BRANCH "sbx/warm"

struct build {
	struct sbx_repo *repo;
	const struct sbx_warm_build_opts *o;
	const char *key;
	char *dir;			/* .build-<key>.<pid> */
	struct sbx_sandbox *sb;
	struct sbx_session *s;
	struct sbx_task_net *net;
	char tail[TAIL_MAX + 1];
	size_t tail_len;
	bool setup_failed;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void progress(const struct sbx_warm_build_opts *o, const char *fmt, ...) SBX_PRINTF(2, 3);
static void progress(const struct sbx_warm_build_opts *o, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!o->progress)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	o->progress(o->progress_opaque, buf);
}

/* The last line of the step's stderr, printable. */
static const char *tail_line(struct build *b)
{
	return sbx_tail_last_line(b->tail, b->tail_len);
}

/* A step's stderr: its tail; the setup's output also to the caller. */
static int step_sink(void *opaque, int fd, const uint8_t *data, size_t len)
{
	struct build *b = opaque;

	if (fd == 2)
		sbx_tail_add(b->tail, &b->tail_len, TAIL_MAX, data, len);
	return 0;
}

static int setup_sink(void *opaque, int fd, const uint8_t *data, size_t len)
{
	struct build *b = opaque;

	if (fd == 2)
		sbx_tail_add(b->tail, &b->tail_len, TAIL_MAX, data, len);
	return b->o->output ? b->o->output(b->o->output_opaque, fd, data, len) : 0;
}

static int step(struct build *b, const char *what, const char *const *argv,
		const char *const *env, bool as_agent, int in_fd, uint64_t timeout_ms,
		sbx_sink_fn sink)
{
	struct sbx_exec_opts eo = SBX_EXEC_OPTS_INIT;
	struct sbx_exec_result res;
	int err;

	eo.argv = argv;
	eo.env = env;
	eo.cwd = as_agent ? "/workspace" : "/";
	eo.set_user = as_agent;
	eo.uid = eo.gid = AGENT_UID;
	eo.timeout_ms = timeout_ms;
	eo.host_timeout_ms = timeout_ms + HOST_GRACE_MS;
	eo.start_timeout_ms = START_TIMEOUT_MS;
	eo.stdin_fd = in_fd;
	eo.sink = sink ? sink : step_sink;
	eo.opaque = b;
	b->tail_len = 0;
	b->tail[0] = 0;
	err = sbx_session_exec(b->s, &eo, &res);
	if (err)
		return sbx_error_prefix(err, "%s", what);
	if (res.flags & PROTO_EXIT_TIMEOUT)
		return sbx_error_set(SBX_ETIMEDOUT, "%s: timed out after %llu s", what,
				     (unsigned long long)timeout_ms / 1000);
	if (res.code)
		return sbx_error_set(SBX_ERROR, "%s: exit %d: %s", what, res.code, tail_line(b));
	return 0;
}

/* The base, as a task's cold boot sends it: a bundle staged in /run/sbx, cloned on sbx/warm. */
static int clone_base(struct build *b)
{
	static const char rm_script[] = "rm -f /run/sbx/base.bundle";
	struct sbx_bundle_create_opts bo = SBX_BUNDLE_CREATE_OPTS_INIT;
	struct sbx_bundle_info info = { 0 };
	const char *stage[] = { "sh", "-c", sbx_task_stage_script, "sbx-stage", "base.bundle", "644", NULL };
	const char *clone[] = { "sh", "-c", sbx_task_clone_script, NULL };
	const char *rm[] = { "sh", "-c", rm_script, NULL };
	const char *root_env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	char *path = sbx_path_join(b->dir, "base.bundle"), *shallow = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	struct envb env;
	size_t i;
	int fd = -1, err;

	if (!path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = sbx_error_errno(SBX_EIO, "cannot create '%s'", path);
		goto out;
	}
	bo.branch = WARM_BRANCH;
	bo.depth = b->o->depth;
	if ((err = sbx_bundle_create_fd(&info, b->repo->git, &b->o->base, &bo, fd))) {
		sbx_error_prefix(err, "cannot pack the base");
		goto out;
	}
	progress(b->o, "building the warm base (one time): cloning %.12s (%zu commits, %llu bytes)",
		 git_oid_tostr(hex, sizeof(hex), &b->o->base), info.ncommits,
		 (unsigned long long)info.bytes);
	shallow = calloc(info.nshallow + 1, GIT_OID_HEXSZ + 1);
	if (!shallow) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < info.nshallow; i++) {
		if (i)
			strcat(shallow, " ");
		strcat(shallow, git_oid_tostr(hex, sizeof(hex), &info.shallow[i]));
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		err = sbx_error_errno(SBX_EIO, "cannot rewind the bundle");
		goto out;
	}
	if ((err = step(b, "sending the base", stage, root_env, false, fd, CLONE_TIMEOUT_MS, NULL)))
		goto out;
	memset(&env, 0, sizeof(env));
	for (i = 0; i < NBASE_ENV; i++)
		env.v[env.n++] = (char *)sbx_task_base_env[i];
	git_oid_tostr(hex, sizeof(hex), &b->o->base);
	/* Placeholders: each task sets its own user.name and user.email after the restore. */
	if (!(err = env_add(&env, "SBX_BRANCH", WARM_BRANCH)) &&
	    !(err = env_add(&env, "SBX_BASE", hex)) &&
	    !(err = env_add(&env, "SBX_SHALLOW", shallow)) &&
	    !(err = env_add(&env, "SBX_USER_NAME", "git-sbx")) &&
	    !(err = env_add(&env, "SBX_USER_EMAIL", "sbx@localhost")))
		err = step(b, "cloning the base in the guest", clone, (const char *const *)env.v, true,
			   -1, CLONE_TIMEOUT_MS, NULL);
	env_free(&env);
	/* Nothing of the build may be left for a restored task to find. */
	if (!err)
		err = step(b, "removing the staged bundle", rm, root_env, false, -1, 60000, NULL);
out:
	sbx_bundle_info_clear(&info);
	free(shallow);
	if (fd >= 0)
		close(fd);
	if (path)
		unlink(path);
	free(path);
	return err;
}

static int run_setup(struct build *b)
{
	const char *argv[] = { "sh", "-c", b->o->setup, NULL };

	progress(b->o, "building the warm base (one time): running sbx.setup '%s'", b->o->setup);
	return step(b, "sbx.setup", argv, sbx_task_base_env, true, -1,
		    b->o->setup_timeout_ms ? b->o->setup_timeout_ms : SBX_WARM_DEFAULT_SETUP_TIMEOUT_MS,
		    setup_sink);
}

/*
 * The clone wrote the files and the index within the same second, so git
 * sees every entry as "racily clean" and rehashes each file on the next
 * checkout: in each restored task, for the whole tree.  A second later, a
 * refresh writes an index newer than the files, once, here.
 */
static int settle_index(struct build *b)
{
	static const char script[] = "sleep 1; git update-index -q --refresh >/dev/null 2>&1; exit 0";
	const char *argv[] = { "sh", "-c", script, NULL };

	return step(b, "refreshing the index", argv, sbx_task_base_env, true, -1, CLONE_TIMEOUT_MS,
		    NULL);
}

static int open_net(struct build *b)
{
	struct sbx_task_net_opts no = SBX_TASK_NET_OPTS_INIT;
	struct sbx_config *cfg = NULL;
	char *audit = sbx_path_join(b->dir, "audit.jsonl");
	int err;

	if (!audit)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	if (!(err = sbx_config_open(&cfg, b->repo))) {
		/* git config's rules only: nothing of a task's (its agent, --allow, secrets) */
		no.audit_path = audit;
		no.no_secrets = true;
		err = sbx_task_net_open(&b->net, cfg, NULL, &no);
		sbx_config_free(cfg);
	}
	free(audit);
	if (err)
		return sbx_error_prefix(err, "the warm base build's network");
	sbx_audit_start(sbx_task_net_audit(b->net), 0, "sbx.setup", b->o->image->id);
	return 0;
}

/* Boot, clone, set up, save into b->dir; then the record. */
static int build_in(struct build *b, uint64_t *took_ms)
{
	struct sbx_sandbox_opts so = SBX_SANDBOX_OPTS_INIT;
	struct sbx_machine m = SBX_MACHINE_INIT;
	struct sbx_sandbox_saved saved;
	struct sbx_sandbox_end end;
	struct sbx_warm w;
	char *disk = NULL, *console = NULL, *record = NULL, *buf = NULL;
	uint64_t t0 = mono_ms(), setup_ms;
	int mem_fd = -1, state_fd = -1, err;
	size_t len;

	memset(&w, 0, sizeof(w));
	disk = sbx_path_join(b->dir, "disk.qcow2");
	console = sbx_path_join(b->dir, "console.log");
	record = sbx_path_join(b->dir, "record");
	if (!disk || !console || !record) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = sbx_sandbox_make_disk(b->o->image, disk))) {
		sbx_error_prefix(err, "cannot create the warm base's disk");
		goto out;
	}
	if ((err = sbx_snapdir_prepare(b->dir, &mem_fd, &state_fd)) || (err = open_net(b)))
		goto out;
	so.image = b->o->image;
	so.task_disk = disk;
	so.cpus = b->o->cpus;
	so.memory = b->o->memory;
	so.serial_log = console;
	so.serial_max = b->o->console_max ? b->o->console_max : SBX_SANDBOX_DEFAULT_SERIAL_MAX;
	so.backend = SBX_BACKEND_VMM;
	so.disk_limit = b->o->disk_limit;
	so.boot_timeout_ms = b->o->boot_timeout_ms;
	setup_ms = b->o->setup_timeout_ms ? b->o->setup_timeout_ms : SBX_WARM_DEFAULT_SETUP_TIMEOUT_MS;
	so.vm_timeout_ms = (b->o->boot_timeout_ms ? b->o->boot_timeout_ms : 120000) + setup_ms +
			   3 * (CLONE_TIMEOUT_MS + HOST_GRACE_MS) + 120000;
	so.quiet = b->o->quiet;
	so.save = true;
	so.save_mem_fd = mem_fd;
	so.save_state_fd = state_fd;
	progress(b->o, "building the warm base (one time): booting image '%s'", b->o->image->name);
	if ((err = sbx_sandbox_start(&b->sb, &so))) {
		sbx_error_prefix(err, "cannot start the sandbox");
		goto out;
	}
	b->s = sbx_sandbox_session(b->sb);
	sbx_session_set_stream_open(b->s, sbx_task_net_stream_open, b->net);
	err = clone_base(b);
	if (!err && b->o->setup && *b->o->setup) {
		err = run_setup(b);
		b->setup_failed = err != 0;
	}
	if (!err)
		err = settle_index(b);
	if (err) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", sbx_error());
		sbx_sandbox_stop(b->sb, true, &end);
		b->sb = NULL;
		sbx_error_set(err, "%s", msg);
		goto out;
	}
	progress(b->o, "building the warm base (one time): saving the guest (%llu MiB of memory)",
		 (unsigned long long)(b->o->memory >> 20));
	err = sbx_sandbox_save(b->sb, &saved);
	b->sb = NULL;
	b->s = NULL;
	if (err) {
		sbx_error_prefix(err, "cannot save the warm base");
		goto out;
	}
	m.cpus = b->o->cpus;
	m.memory = b->o->memory;
	m.rng = true;
	m.console_port = SBX_CHANNEL_PORT;
	if ((err = sbx_snapdir_commit(b->dir, &m)))
		goto out;
	/* The layer every restore writes a new overlay over: never written again. */
	if (chmod(disk, 0444)) {
		err = sbx_error_errno(SBX_EIO, "cannot make '%s' read-only", disk);
		goto out;
	}
	memcpy(w.key, b->key, 65);
	w.base = b->o->base;
	snprintf(w.image_id, sizeof(w.image_id), "%s", b->o->image->id);
	memcpy(w.init_hash, b->o->init_hash, 65);
	w.kernel_version = (char *)b->o->image->kernel_version;
	w.setup = b->o->setup && *b->o->setup ? (char *)b->o->setup : NULL;
	w.cpus = b->o->cpus;
	w.memory = b->o->memory;
	w.depth = b->o->depth;
	w.created_ms = real_ms();
	w.build_ms = mono_ms() - t0;
	if ((err = sbx_warm_record_format(&buf, &len, &w)) ||
	    (err = sbx_write_atomic(record, buf, len)))
		goto out;
	*took_ms = w.build_ms;
	pr_debug("warm: saved %.12s: paused %.1f ms, %llu bytes of RAM data, state %llu bytes",
		 b->key, (double)saved.pause_ns / 1e6, (unsigned long long)saved.mem_bytes,
		 (unsigned long long)saved.state_bytes);
out:
	if (b->sb) {
		sbx_sandbox_stop(b->sb, false, &end);
		b->sb = NULL;
	}
	if (mem_fd >= 0)
		close(mem_fd);
	if (state_fd >= 0)
		close(state_fd);
	if (err)
		sbx_snapdir_abort(b->dir);
	sbx_task_net_free(b->net);
	b->net = NULL;
	free(disk);
	free(console);
	free(record);
	free(buf);
	return err;
}

int sbx_warm_opts_from_config(struct sbx_warm_build_opts *o, char **setup, struct sbx_repo *repo)
{
	struct sbx_config *cfg = NULL;
	int err;

	*setup = NULL;
	o->disk_limit = SBX_TASK_DEFAULT_DISK_LIMIT;
	o->console_max = SBX_SANDBOX_DEFAULT_SERIAL_MAX;
	if ((err = sbx_bundle_config_depth(repo->git, &o->depth)) || (err = sbx_config_open(&cfg, repo)))
		return err;
	err = sbx_config_string(cfg, "sbx.setup", setup);
	if (err == SBX_ENOTFOUND || !err)
		err = sbx_config_duration_ms(cfg, "sbx.setupTimeout", &o->setup_timeout_ms);
	if (err == SBX_ENOTFOUND || !err)
		err = sbx_config_size(cfg, "sbx.diskLimit", 1, &o->disk_limit);
	if (err == SBX_ENOTFOUND || !err)
		err = sbx_config_duration_ms(cfg, "sbx.bootTimeout", &o->boot_timeout_ms);
	if (err == SBX_ENOTFOUND || !err)
		err = sbx_config_size(cfg, "sbx.maxConsoleLogSize", 1, &o->console_max);
	sbx_config_free(cfg);
	if (*setup && !**setup) {
		free(*setup);
		*setup = NULL;
	}
	o->setup = *setup;
	return err == SBX_ENOTFOUND ? 0 : err;
}

int sbx_warm_params_of(struct sbx_warm_params *p, const struct sbx_warm_build_opts *o)
{
	memset(p, 0, sizeof(*p));
	p->image_id = o->image->id;
	p->init_hash = o->init_hash;
	p->kernel_version = o->image->kernel_version;
	p->cmdline = sbx_sandbox_cmdline;
	p->setup = o->setup;
	p->cpus = o->cpus;
	p->memory = o->memory;
	p->depth = o->depth;
	return 0;
}

int sbx_warm_get(struct sbx_warm **out, struct sbx_warm_get_result *res, struct sbx_repo *repo,
		 const struct sbx_warm_build_opts *o)
{
	struct sbx_warm_params p;
	struct build b;
	char key[65], *name = NULL;
	uint64_t took = 0;
	int lock = -1, err;

	*out = NULL;
	memset(res, 0, sizeof(*res));
	memset(&b, 0, sizeof(b));
	if (o->setup && strlen(o->setup) > SBX_WARM_SETUP_MAX)
		return sbx_error_set(SBX_ELIMIT, "sbx.setup is over %u bytes", SBX_WARM_SETUP_MAX);
	if (o->memory & ((2ULL << 20) - 1))
		return sbx_error_set(SBX_EINVAL, "a warm base's memory is a multiple of 2 MiB");
	sbx_warm_params_of(&p, o);
	if ((err = sbx_warm_key(key, &p)))
		return err;
	err = sbx_warm_lock(&lock, repo, key, true, false);
	if (err == SBX_ELOCKED) {
		progress(o, "waiting for another git-sbx building warm base %.12s", key);
		err = sbx_warm_lock(&lock, repo, key, true, true);
	}
	if (err)
		return err;
	if (!o->rebuild) {
		err = sbx_warm_open(out, repo, key);
		if (err != SBX_ECORRUPT && err != SBX_ENOTFOUND)
			goto out;
		if (err == SBX_ECORRUPT) {
			progress(o, "%s: removed it", sbx_error());
			if ((err = sbx_warm_remove(repo, key)))
				goto out;
		}
	}
	b.repo = repo;
	b.o = o;
	b.key = key;
	if (asprintf(&name, ".build-%s.%ld", key, (long)getpid()) < 0 ||
	    !(b.dir = sbx_warm_path(repo, name))) {
		name = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	if ((err = sbx_rmtree(b.dir)) || (err = sbx_mkdirs(b.dir)))
		goto out;
	err = build_in(&b, &took);
	res->setup_failed = b.setup_failed;
	if (!err)
		err = sbx_warm_install(repo, b.dir, key, o->rebuild);
	if (err) {
		sbx_error_prefix(err, "cannot build the warm base");
		goto out;
	}
	if (!(err = sbx_warm_open(out, repo, key))) {
		res->built = true;
		res->build_ms = took;
	}
	progress(o, "built warm base %.12s in %.1f s", key, (double)took / 1000);
out:
	if (b.dir && err) {
		char msg[1024];

		snprintf(msg, sizeof(msg), "%s", sbx_error());
		sbx_rmtree(b.dir);
		sbx_error_set(err, "%s", msg);
	}
	free(b.dir);
	free(name);
	sbx_unlock(lock);
	return err;
}
