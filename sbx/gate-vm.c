// SPDX-License-Identifier: MIT
/*
 * The check VM (sbx/gate.h): a fresh sandbox from the image with one commit
 * checked out in /workspace, for the hook gate and `git sbx run --staged`.
 * The commit goes in as a task's base does: a bundle staged in /run/sbx
 * and fetched by the agent user (sbx/task-scripts.c's clone script).
 */
#include "sbx/gate.h"
#include "sbx/bundle.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/task-env.h"
#include "sbx/task-scripts.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK_UID 1000
#define CHECK_BRANCH "sbx-check"
#define CHECK_START_TIMEOUT_MS (30 * 1000)
#define CHECK_GRACE_MS (30 * 1000)
#define CHECK_TRANSFER_TIMEOUT_MS (10 * 60 * 1000)
/* Commits of history sent so the base is there; past this, only the commit. */
#define CHECK_MAX_DEPTH 1000

struct sbx_check_vm {
	struct sbx_sandbox *sb;
	struct sbx_session *s;
	char *disk;
	char tail[512];
	size_t tail_len;
};

static void progress(const struct sbx_check_vm_opts *o, const char *what)
{
	if (o->progress)
		o->progress(o->progress_opaque, what);
}

/* A step's stderr: its last bytes, for the message when it fails. */
static int tail_sink(void *opaque, int fd, const uint8_t *data, size_t len)
{
	struct sbx_check_vm *vm = opaque;
	size_t i;

	if (fd != 2)
		return 0;
	if (len >= sizeof(vm->tail) - 1) {
		data += len - (sizeof(vm->tail) - 1);
		len = sizeof(vm->tail) - 1;
		vm->tail_len = 0;
	}
	if (vm->tail_len + len > sizeof(vm->tail) - 1) {
		size_t drop = vm->tail_len + len - (sizeof(vm->tail) - 1);

		memmove(vm->tail, vm->tail + drop, vm->tail_len - drop);
		vm->tail_len -= drop;
	}
	memcpy(vm->tail + vm->tail_len, data, len);
	vm->tail_len += len;
	vm->tail[vm->tail_len] = 0;
	for (i = 0; i < vm->tail_len; i++)
		if ((unsigned char)vm->tail[i] < 0x20 || (unsigned char)vm->tail[i] >= 0x7f)
			vm->tail[i] = vm->tail[i] == '\n' ? '\n' : '?';
	return 0;
}

static const char *tail_line(struct sbx_check_vm *vm)
{
	char *end = vm->tail + vm->tail_len, *start;

	while (end > vm->tail && end[-1] == '\n')
		*--end = 0;
	start = strrchr(vm->tail, '\n');
	start = start ? start + 1 : vm->tail;
	return *start ? start : "no message";
}

static int exec_step(struct sbx_check_vm *vm, const char *what, const char *const *argv,
		     const char *const *env, bool as_user, int in_fd, const uint8_t *in,
		     size_t in_len)
{
	struct sbx_exec_opts eo = SBX_EXEC_OPTS_INIT;
	struct sbx_exec_result res;
	int err;

	eo.argv = argv;
	eo.env = env;
	eo.cwd = as_user ? "/workspace" : "/";
	eo.set_user = as_user;
	eo.uid = eo.gid = CHECK_UID;
	eo.timeout_ms = CHECK_TRANSFER_TIMEOUT_MS;
	eo.host_timeout_ms = CHECK_TRANSFER_TIMEOUT_MS + CHECK_GRACE_MS;
	eo.start_timeout_ms = CHECK_START_TIMEOUT_MS;
	eo.stdin_fd = in_fd;
	eo.stdin_buf = in;
	eo.stdin_len = in_len;
	eo.sink = tail_sink;
	eo.opaque = vm;
	vm->tail_len = 0;
	vm->tail[0] = 0;
	if ((err = sbx_session_exec(vm->s, &eo, &res)))
		return sbx_error_prefix(err, "the check VM, %s", what);
	if (res.code)
		return sbx_error_set(SBX_ERROR, "the check VM, %s: exit %d: %s", what, res.code,
				     tail_line(vm));
	return 0;
}

static int stage(struct sbx_check_vm *vm, const char *name, const char *mode, int fd)
{
	const char *argv[] = { "sh", "-c", sbx_task_stage_script, "sbx-stage", name, mode, NULL };
	const char *env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	char what[64];

	snprintf(what, sizeof(what), "sending %s", name);
	return exec_step(vm, what, argv, env, false, fd, NULL, 0);
}

/* How much history to send: down to the base when that is near, else the commit alone. */
static unsigned history_depth(struct sbx_repo *repo, const git_oid *commit, const git_oid *base)
{
	size_t ahead = 0, behind = 0;

	if (!base || !git_oid_cmp(commit, base))
		return 1;
	if (git_graph_ahead_behind(&ahead, &behind, repo->git, commit, base) < 0 ||
	    ahead + 1 > CHECK_MAX_DEPTH)
		return 1;
	return (unsigned)ahead + 1;
}

static int send_commit(struct sbx_check_vm *vm, struct sbx_repo *repo, const git_oid *commit,
		       const struct sbx_check_vm_opts *o)
{
	static const char reset[] =
		"if [ -n \"$SBX_CHECK_BASE\" ] && git cat-file -e \"$SBX_CHECK_BASE^{commit}\" 2>/dev/null; then\n"
		"  git reset -q --soft \"$SBX_CHECK_BASE\"\n"
		"fi\n";
	struct sbx_bundle_create_opts bo = SBX_BUNDLE_CREATE_OPTS_INIT;
	struct sbx_bundle_info info = { 0 };
	char *path = sbx_path_join(o->dir, "check.bundle"), *script = NULL, *shallow = NULL;
	char base_hex[GIT_OID_HEXSZ + 1] = "";
	const char *argv[] = { "sh", "-c", NULL, NULL };
	struct envb env = { 0 };
	size_t i;
	int fd = -1, err;

	if (!path)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = sbx_error_errno(SBX_EIO, "cannot create '%s'", path);
		goto out;
	}
	bo.branch = CHECK_BRANCH;
	bo.depth = history_depth(repo, commit, o->base);
	if ((err = sbx_bundle_create_fd(&info, repo->git, commit, &bo, fd))) {
		sbx_error_prefix(err, "cannot pack the tree to check");
		goto out;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		err = sbx_error_errno(SBX_EIO, "cannot rewind '%s'", path);
		goto out;
	}
	if ((err = stage(vm, "base.bundle", "644", fd)))
		goto out;
	if (o->hook) {
		int hfd = open(o->hook, O_RDONLY | O_CLOEXEC);

		if (hfd < 0) {
			err = sbx_error_errno(SBX_EIO, "cannot read the hook '%s'", o->hook);
			goto out;
		}
		err = stage(vm, "pre-commit", "755", hfd);
		close(hfd);
		if (err)
			goto out;
	}
	shallow = calloc(info.nshallow ? info.nshallow : 1, GIT_OID_HEXSZ + 1);
	if (!shallow || asprintf(&script, "%s%s", sbx_task_clone_script, reset) < 0) {
		script = NULL;
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < info.nshallow; i++) {
		if (i)
			strcat(shallow, " ");
		git_oid_tostr(shallow + strlen(shallow), GIT_OID_HEXSZ + 1, &info.shallow[i]);
	}
	if (o->base)
		git_oid_tostr(base_hex, sizeof(base_hex), o->base);
	for (i = 0; i < NBASE_ENV; i++)
		env.v[env.n++] = (char *)sbx_task_base_env[i];
	if ((err = env_add(&env, "SBX_BRANCH", CHECK_BRANCH)) ||
	    (err = env_add(&env, "SBX_SHALLOW", shallow)) ||
	    (err = env_add(&env, "SBX_CHECK_BASE", base_hex)) ||
	    (err = env_add(&env, "SBX_USER_NAME", o->user_name ? o->user_name : "git-sbx")) ||
	    (err = env_add(&env, "SBX_USER_EMAIL", o->user_email ? o->user_email : "sbx@localhost")))
		goto out;
	argv[2] = script;
	err = exec_step(vm, "checking out the tree", argv, (const char *const *)env.v, true, -1,
			NULL, 0);
out:
	env_free(&env);
	if (fd >= 0)
		close(fd);
	if (path)
		unlink(path);
	free(path);
	free(script);
	free(shallow);
	sbx_bundle_info_clear(&info);
	return err;
}

int sbx_check_vm_start(struct sbx_check_vm **out, struct sbx_repo *repo, const git_oid *commit,
		       const struct sbx_check_vm_opts *o)
{
	struct sbx_sandbox_opts so = SBX_SANDBOX_OPTS_INIT;
	struct sbx_check_vm *vm;
	struct sbx_image img;
	char msg[160];
	int err;

	*out = NULL;
	if ((err = sbx_image_resolve(&img, o->image)))
		return sbx_error_prefix(err, "no image for the check VM");
	vm = calloc(1, sizeof(*vm));
	if (!vm || !(vm->disk = sbx_path_join(o->dir, "check.qcow2"))) {
		free(vm);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	unlink(vm->disk);
	if ((err = sbx_sandbox_make_disk(&img, vm->disk))) {
		sbx_error_prefix(err, "cannot create the check VM's disk");
		goto fail;
	}
	so.image = &img;
	so.task_disk = vm->disk;
	so.cpus = o->cpus ? o->cpus : 2;
	if (o->memory)
		so.memory = o->memory;
	so.boot_timeout_ms = o->boot_timeout_ms;
	so.vm_timeout_ms = o->vm_timeout_ms;
	so.serial_log = o->console_log;
	so.backend = o->backend;
	so.quiet = o->quiet;
	snprintf(msg, sizeof(msg), "booting a fresh VM for the checks (image '%s')",
		 o->image ? o->image : SBX_IMAGE_DEFAULT_NAME);
	progress(o, msg);
	if ((err = sbx_sandbox_start(&vm->sb, &so))) {
		sbx_error_prefix(err, "cannot start the check VM");
		goto fail;
	}
	vm->s = sbx_sandbox_session(vm->sb);
	if ((err = send_commit(vm, repo, commit, o)))
		goto fail;
	*out = vm;
	return 0;
fail:
	sbx_check_vm_stop(vm);
	return err;
}

int sbx_check_vm_exec(struct sbx_check_vm *vm, const char *const *argv, uint64_t timeout_ms,
		      sbx_sink_fn sink, void *opaque, volatile int *interrupt,
		      struct sbx_exec_result *res)
{
	struct sbx_exec_opts eo = SBX_EXEC_OPTS_INIT;
	int err;

	eo.argv = argv;
	eo.env = sbx_task_base_env;
	eo.cwd = "/workspace";
	eo.set_user = true;
	eo.uid = eo.gid = CHECK_UID;
	eo.timeout_ms = timeout_ms;
	eo.host_timeout_ms = timeout_ms ? timeout_ms + CHECK_GRACE_MS : 0;
	eo.start_timeout_ms = CHECK_START_TIMEOUT_MS;
	eo.sink = sink;
	eo.opaque = opaque;
	eo.interrupt = interrupt;
	err = sbx_session_exec(vm->s, &eo, res);
	if (err)
		return sbx_error_prefix(err, "the check VM");
	return 0;
}

const char *sbx_check_vm_backend(const struct sbx_check_vm *vm)
{
	return vm && vm->sb ? sbx_sandbox_backend_name(vm->sb) : "none";
}

uint64_t sbx_check_vm_boot_ms(const struct sbx_check_vm *vm)
{
	return vm && vm->sb ? sbx_sandbox_boot_ms(vm->sb) : 0;
}

void sbx_check_vm_stop(struct sbx_check_vm *vm)
{
	struct sbx_sandbox_end end;

	if (!vm)
		return;
	if (vm->sb)
		sbx_sandbox_stop(vm->sb, true, &end);
	if (vm->disk)
		unlink(vm->disk);
	free(vm->disk);
	free(vm);
}

int sbx_gate_staged_commit(git_oid *out, git_oid *parent, bool *has_parent, struct sbx_repo *repo)
{
	git_index *idx = NULL;
	git_tree *tree = NULL;
	git_commit *head = NULL;
	git_signature *sig = NULL;
	git_oid tree_id;
	int err = 0;

	*has_parent = false;
	if (git_repository_index(&idx, repo->git) < 0 || git_index_read(idx, 0) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot read the index");
		goto out;
	}
	if (git_index_has_conflicts(idx)) {
		err = sbx_error_set(SBX_EINVAL, "the index has unmerged entries");
		goto out;
	}
	if (git_index_write_tree(&tree_id, idx) < 0 ||
	    git_tree_lookup(&tree, repo->git, &tree_id) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot write the index's tree");
		goto out;
	}
	if (git_reference_name_to_id(parent, repo->git, "HEAD") == 0 &&
	    git_commit_lookup(&head, repo->git, parent) == 0)
		*has_parent = true;
	if (git_signature_new(&sig, "git-sbx", "sbx@localhost", 0, 0) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot make a signature");
		goto out;
	}
	if (git_commit_create(out, repo->git, NULL, sig, sig, NULL, "sbx: the staged tree\n", tree,
			      *has_parent ? 1 : 0, (const git_commit **)&head) < 0)
		err = sbx_git_error(SBX_ERROR, "cannot write the staged tree's commit");
out:
	git_signature_free(sig);
	git_commit_free(head);
	git_tree_free(tree);
	git_index_free(idx);
	return err;
}
