// SPDX-License-Identifier: MIT
/* A task's transfers: the base, prompt and CA in; the result out (sbx/task-run-int.h). */
#include "sbx/task-run-int.h"
#include "sbx/agent.h"
#include "sbx/bundle.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/task.h"
#include "sbx/task-net.h"
#include "sbx/task-scripts.h"
#include "sbx/tar.h"
#include "sbx/warm.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The result bundle: stdout into the import, stderr as a step's. */
static int collect_sink(void *opaque, int fd, const uint8_t *data, size_t len)
{
	struct run *r = opaque;
	int err;

	if (fd != 1)
		return run_step_sink(opaque, fd, data, len);
	if (r->imp_err)
		return r->imp_err;
	err = sbx_bundle_import_write(r->imp, data, len);
	if (err) {
		r->imp_err = err;
		snprintf(r->imp_msg, sizeof(r->imp_msg), "%s", sbx_error());
	}
	return err;
}

int run_stage(struct run *r, const char *name, const char *mode, const uint8_t *buf,
		 size_t len, int fd)
{
	const char *argv[] = { "sh", "-c", sbx_task_stage_script, "sbx-stage", name, mode, NULL };
	const char *env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	struct sbx_exec_result res;
	char what[64];
	int err;

	snprintf(what, sizeof(what), "sending %s", name);
	if ((err = run_exec_step(r, what, argv, env, false, buf, len, fd, NULL, &res)))
		return err;
	if (res.code)
		return sbx_error_set(SBX_ERROR, "the guest could not store %s (exit %d: %s)", name,
				     res.code, run_tail_line(r));
	return 0;
}

/*
 * What a task stages in the guest's /run/sbx (the base's bundle, the
 * prompt, a script agent) goes as one archive, <task dir>/stage.tar,
 * extracted by one `tar -x` as root: one exec, not one per file.
 */
struct stage {
	struct sbx_tar tar;
	int fd;
	char *path;
};

static int stage_open(struct run *r, struct stage *st)
{
	st->fd = -1;
	if (!(st->path = sbx_path_join(r->task->dir, "stage.tar")))
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	st->fd = open(st->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (st->fd < 0)
		return sbx_error_errno(SBX_EIO, "cannot create '%s'", st->path);
	sbx_tar_init(&st->tar, st->fd);
	return 0;
}

static void stage_close(struct stage *st)
{
	if (st->fd >= 0)
		close(st->fd);
	if (st->path)
		unlink(st->path);
	free(st->path);
}

/* The prompt and a script agent. */
static int stage_task_files(struct run *r, struct stage *st)
{
	const char *prompt = r->resume_prompt ? r->resume_prompt : r->task->prompt;
	int err = sbx_tar_add(&st->tar, "prompt", 0644, prompt, strlen(prompt));

	if (!err && r->o->agent->script)
		err = sbx_tar_add(&st->tar, "agent", 0755, r->o->agent->script,
				  r->o->agent->script_len);
	return err;
}

/*
 * The base's bundle (whole, or with bo->have only what the warm base's
 * guest lacks) as base.bundle; r->shallow gets the cut.  With bo->have and
 * the guest up to date nothing is added (*sent false); SBX_ELIMIT leaves
 * nothing behind either.
 */
static int stage_bundle(struct run *r, struct stage *st, const struct sbx_bundle_create_opts *bo,
			bool *sent)
{
	struct sbx_bundle_info info = { 0 };
	size_t i;
	int err;

	*sent = false;
	if ((err = sbx_tar_begin(&st->tar, "base.bundle", 0644)))
		return err;
	err = sbx_bundle_create_fd(&info, r->repo->git, &r->task->base, bo, st->fd);
	if (err) {
		sbx_tar_drop(&st->tar);
		if (err != SBX_ELIMIT || !bo->have)
			sbx_error_prefix(err, "cannot pack the base");
		goto out;
	}
	free(r->shallow);
	r->shallow = calloc(info.nshallow ? info.nshallow : 1, GIT_OID_HEXSZ + 1);
	if (!r->shallow) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < info.nshallow; i++) {
		if (i)
			strcat(r->shallow, " ");
		git_oid_tostr(r->shallow + strlen(r->shallow), GIT_OID_HEXSZ + 1, &info.shallow[i]);
	}
	if (info.up_to_date) {
		run_progress(r, "sending the base: the warm base has it");
		err = sbx_tar_drop(&st->tar);
		goto out;
	}
	if (bo->have)
		run_progress(r, "sending the commits since the warm base: %zu commits, %zu objects, "
			     "%llu bytes", info.ncommits, info.nobjects, (unsigned long long)info.bytes);
	else
		run_progress(r, "sending the base: %zu commits, %zu objects, %llu bytes", info.ncommits,
			     info.nobjects, (unsigned long long)info.bytes);
	if (!(err = sbx_tar_end(&st->tar)))
		*sent = true;
out:
	sbx_bundle_info_clear(&info);
	return err;
}

/* Without tar in the guest: each entry of the archive staged on its own. */
static int stage_each(struct run *r, struct stage *st)
{
	char *part = sbx_path_join(r->task->dir, "stage.part");
	uint64_t off = 0;
	int fd = -1, err = 0;

	if (!part)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	pr_debug("task: the guest has no tar; staging file by file");
	while (!err && off + SBX_TAR_BLOCK <= st->tar.off) {
		uint8_t h[SBX_TAR_BLOCK], buf[65536];
		char name[101], mode[8];
		uint64_t size, left;

		if (pread(st->fd, h, sizeof(h), (off_t)off) != (ssize_t)sizeof(h)) {
			err = sbx_error_errno(SBX_EIO, "cannot read '%s'", st->path);
			break;
		}
		if (!h[0])
			break;	/* the end blocks */
		memcpy(name, h, 100);
		name[100] = 0;
		snprintf(mode, sizeof(mode), "%.3s", (const char *)h + 104);
		size = strtoull((const char *)h + 124, NULL, 8);
		off += SBX_TAR_BLOCK;
		fd = open(part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			err = sbx_error_errno(SBX_EIO, "cannot create '%s'", part);
			break;
		}
		for (left = size; left && !err; ) {
			size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);

			if (pread(st->fd, buf, n, (off_t)(off + size - left)) != (ssize_t)n ||
			    write(fd, buf, n) != (ssize_t)n)
				err = sbx_error_errno(SBX_EIO, "cannot copy '%s'", name);
			left -= n;
		}
		if (!err && lseek(fd, 0, SEEK_SET) < 0)
			err = sbx_error_errno(SBX_EIO, "cannot rewind '%s'", part);
		if (!err)
			err = run_stage(r, name, mode, NULL, 0, fd);
		close(fd);
		fd = -1;
		off += (size + SBX_TAR_BLOCK - 1) / SBX_TAR_BLOCK * SBX_TAR_BLOCK;
	}
	unlink(part);
	free(part);
	return err;
}

/* The archive, extracted in /run/sbx by root. */
static int stage_send(struct run *r, struct stage *st)
{
	const char *argv[] = { "sh", "-c", sbx_task_stage_tar_script, NULL };
	const char *env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	struct sbx_exec_result res;
	int err;

	if ((err = sbx_tar_finish(&st->tar)))
		return err;
	if (lseek(st->fd, 0, SEEK_SET) < 0)
		return sbx_error_errno(SBX_EIO, "cannot rewind '%s'", st->path);
	if ((err = run_exec_step(r, "sending the base and the prompt", argv, env, false, NULL, 0,
				 st->fd, NULL, &res)))
		return err;
	if (res.code == 127)
		return stage_each(r, st);	/* an image without tar */
	if (res.code)
		return sbx_error_set(SBX_ERROR, "the guest could not store the base and the prompt "
				     "(exit %d: %s)", res.code, run_tail_line(r));
	return 0;
}

int run_transfer_in(struct run *r)
{
	struct sbx_bundle_create_opts bo = SBX_BUNDLE_CREATE_OPTS_INIT;
	const char *argv[] = { "sh", "-c", sbx_task_clone_script, NULL };
	struct sbx_exec_result res;
	struct stage st = { 0 };
	struct envb env;
	bool sent;
	int err;

	bo.branch = r->task->branch;
	bo.depth = r->depth;
	err = stage_open(r, &st);
	if (!err)
		err = stage_bundle(r, &st, &bo, &sent);
	if (!err)
		err = stage_task_files(r, &st);
	if (!err)
		err = stage_send(r, &st);
	stage_close(&st);
	if (err || (err = run_env_init(&env, r)))
		return err;
	if (!(err = env_add(&env, "SBX_SHALLOW", r->shallow)) &&
	    !(err = env_add(&env, "SBX_USER_NAME", r->user_name)) &&
	    !(err = env_add(&env, "SBX_USER_EMAIL", r->user_email)))
		err = run_exec_step(r, "cloning the base in the guest", argv, (const char *const *)env.v,
				true, NULL, 0, -1, NULL, &res);
	env_free(&env);
	if (!err && res.code)
		err = sbx_error_set(SBX_ERROR, "the guest could not check out the base (exit %d: %s)",
				    res.code, run_tail_line(r));
	return err;
}

int run_transfer_in_warm(struct run *r)
{
	struct sbx_bundle_create_opts bo = SBX_BUNDLE_CREATE_OPTS_INIT;
	const char *argv[] = { "sh", "-c", sbx_task_update_script, NULL };
	struct sbx_exec_result res;
	struct stage st = { 0 };
	struct envb env;
	bool sent = false;
	int err = 0;

	bo.branch = r->task->branch;
	bo.depth = r->warm->depth;
	if ((err = stage_open(r, &st)))
		goto out;
	if (git_oid_cmp(&r->task->base, &r->warm->base)) {
		/* Only what the guest lacks; past depth commits of it, or other history, all of it. */
		bo.have = &r->warm->base;
		bo.max_new = r->warm->depth;
		err = stage_bundle(r, &st, &bo, &sent);
		if (err == SBX_ELIMIT) {
			run_progress(r, "the base is far from the warm base's (%s): sending it whole",
				     sbx_error());
			bo.have = NULL;
			bo.max_new = 0;
			err = stage_bundle(r, &st, &bo, &sent);
		}
	} else {
		run_progress(r, "sending the base: the warm base has it");
	}
	if (!err)
		err = stage_task_files(r, &st);
	if (!err)
		err = stage_send(r, &st);
out:
	stage_close(&st);
	if (err || (err = run_env_init(&env, r)))
		return err;
	if (!(err = env_add(&env, "SBX_SHALLOW", r->shallow ? r->shallow : "")) &&
	    !(err = env_add(&env, "SBX_FETCH", sent ? "1" : "")) &&
	    !(err = env_add(&env, "SBX_USER_NAME", r->user_name)) &&
	    !(err = env_add(&env, "SBX_USER_EMAIL", r->user_email)))
		err = run_exec_step(r, "checking out the base in the restored guest", argv,
				    (const char *const *)env.v, true, NULL, 0, -1, NULL, &res);
	env_free(&env);
	if (!err && res.code)
		err = sbx_error_set(SBX_ERROR, "the restored guest could not check out the base "
				    "(exit %d: %s)", res.code, run_tail_line(r));
	return err;
}

/* The setup's output: both streams to the log, stderr's tail kept. */
static int setup_sink(void *opaque, int fd, const uint8_t *data, size_t len)
{
	struct run *r = opaque;

	if (fd == 1)
		run_write_log(r, data, len);
	return run_step_sink(opaque, fd, data, len);
}

int run_setup(struct run *r)
{
	const char *argv[] = { "sh", "-c", r->setup, NULL };
	struct sbx_exec_result res;
	int err;

	if (!r->setup)
		return 0;
	run_progress(r, "running sbx.setup '%s'", r->setup);
	/* As a warm base's build runs it: nothing of the task's in its environment. */
	err = run_exec_step_timeout(r, "running sbx.setup", argv, sbx_task_base_env, true,
				    NULL, 0, -1, setup_sink, &res, r->setup_timeout_ms);
	if (!err && (res.flags & PROTO_EXIT_TIMEOUT))
		err = sbx_error_set(SBX_ETIMEDOUT, "sbx.setup timed out after %llu s (sbx.setupTimeout)",
				    (unsigned long long)r->setup_timeout_ms / 1000);
	else if (!err && res.code)
		err = sbx_error_set(SBX_ERROR, "sbx.setup failed (exit %d: %s)", res.code,
				    run_tail_line(r));
	return err;
}

int run_transfer_out(struct run *r)
{
	const char *argv[] = { "sh", "-c", sbx_task_collect_script, NULL };
	const char *sweep[] = { "sh", "-c", sbx_task_sweep_script, NULL };
	struct sbx_exec_result res;
	struct envb env;
	int err;

	if ((err = run_exec_step_timeout(r, "stopping the agent's processes", sweep, sbx_task_base_env, true,
				     NULL, 0, -1, NULL, &res, SWEEP_TIMEOUT_MS)))
		return err;

	/* Objects only: the branch moves after the gate (sbx/task-run.c). */
	if ((err = sbx_task_import_begin_ext(&r->imp, &r->old_tip, r->repo, r->task, true)))
		return err;
	if ((err = run_env_init(&env, r)))
		return err;
	err = run_exec_step(r, "bringing the result back", argv, (const char *const *)env.v, true,
			NULL, 0, -1, collect_sink, &res);
	env_free(&env);
	if (r->imp_err)
		return sbx_error_set(r->imp_err, "rejected the result: %s", r->imp_msg);
	if (err)
		return err;
	if (res.code == 3) {
		r->res->no_changes = true;
		return 0;
	}
	if (res.code)
		return sbx_error_set(SBX_ERROR, "the guest sent no result (exit %d: %s)", res.code,
				     run_tail_line(r));
	return 0;
}

/*
 * The task CA (when a secret needs one) goes into the guest's trust store:
 * the Debian bundle that OpenSSL, curl, git and Python read, and a file of
 * its own for NODE_EXTRA_CA_CERTS.
 */
int run_install_ca(struct run *r)
{
	static const char script[] =
		"mkdir -p \"$(dirname \"$1\")\" \"$(dirname \"$2\")\" && cp /run/sbx/ca.pem \"$1\" && "
		"cat /run/sbx/ca.pem >> \"$2\"";
	const char *argv[] = { "sh", "-c", script, "sbx-ca", SBX_TASK_NET_GUEST_CA,
			       SBX_TASK_NET_GUEST_BUNDLE, NULL };
	const char *env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	const char *pem = sbx_task_net_ca_pem(r->net);
	struct sbx_exec_result res;
	int err;

	if (!pem)
		return 0;
	if ((err = run_stage(r, "ca.pem", "644", (const uint8_t *)pem, strlen(pem), -1)) ||
	    (err = run_exec_step(r, "installing the task's CA", argv, env, false, NULL, 0, -1, NULL,
			     &res)))
		return err;
	if (res.code)
		return sbx_error_set(SBX_ERROR, "the guest could not install the task's CA (exit %d: %s)",
				     res.code, run_tail_line(r));
	return 0;
}

int run_transfer_in_resume(struct run *r)
{
	struct stage st = { 0 };
	int err = stage_open(r, &st);

	if (!err)
		err = stage_task_files(r, &st);
	if (!err)
		err = stage_send(r, &st);
	stage_close(&st);
	return err;
}
