// SPDX-License-Identifier: MIT
/*
 * sbx-test-task: drives the host half of a task (sbx/task.c and
 * sbx/bundle.c) without a VM, for the end-to-end tests of list, show, diff,
 * logs, rm and gc and for tests/bench/import.sh.  The result bundles it
 * imports are made by the real git CLI; nothing here fakes the host code.
 *
 *   sbx-test-task create PROMPT [BASE]        -> prints the new id
 *   sbx-test-task import ID BUNDLE            -> imports the result onto sbx/<id>
 *                                                (SBX_TEST_RUSAGE=1: then prints the peak
 *                                                RSS of this process and of its largest
 *                                                child, in KiB, to stderr)
 *   sbx-test-task finish ID STATE EXIT [ERR]  -> start and finish a run (with timings)
 *   sbx-test-task hold ID SECONDS             -> "run" the task, writing to its log
 *   sbx-test-task bundle-import BRANCH BASE BUNDLE  -> sbx_bundle_import alone, timed
 *   sbx-test-task attempt ID STATE EXIT [BUNDLE]  -> add an attempt as its process would
 *                                                leave it: refs/sbx/ID/N at the base, or
 *                                                BUNDLE imported onto it; prints N
 *                                                (SBX_TEST_PROMPT: its own prompt)
 *   sbx-test-task choose ID N                 -> what the attempts' process does when N
 *                                                succeeds: sbx/ID and the worktree to it
 *   sbx-test-task hold-attempt ID N SECONDS   -> hold attempt N's lock (a running attempt)
 *   sbx-test-task checkpoint ID REASON COMMIT -> a checkpoint record (sbx/checkpoint.h) with an
 *                                                empty layer file, made current: what a
 *                                                session files, for the commands that read it
 */
#include "sbx/attempt.h"
#include "sbx/bundle.h"
#include "sbx/checkpoint.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/task.h"
#include "util/error.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what)
{
	fprintf(stderr, "error: %s (%s)\n", what, sbx_error());
	return 1;
}

static struct sbx_task *open_id(struct sbx_repo *repo, const char *arg)
{
	struct sbx_task *t = NULL;
	unsigned id;

	if (sbx_task_parse_id(&id, arg) || sbx_task_open(&t, repo, id))
		return NULL;
	return t;
}

static int parse_state(const char *s, enum sbx_task_state *out)
{
	int i;

	for (i = SBX_TASK_CREATED; strcmp(sbx_task_state_name((enum sbx_task_state)i), "unknown"); i++)
		if (!strcmp(sbx_task_state_name((enum sbx_task_state)i), s)) {
			*out = (enum sbx_task_state)i;
			return 0;
		}
	return -1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct sbx_repo *repo = NULL;
	struct sbx_task *t = NULL;
	int ret = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: sbx-test-task create|import|finish|hold|bundle-import ...\n");
		return 129;
	}
	if (sbx_lib_init() || sbx_repo_open(&repo))
		return fail("cannot open the repository");

	if (!strcmp(argv[1], "create") && (argc == 3 || argc == 4)) {
		struct sbx_task_create_opts opts = SBX_TASK_CREATE_OPTS_INIT;
		git_oid base;

		opts.prompt = argv[2];
		opts.agent = "script:test";
		if (argc == 4) {
			git_object *o = NULL;

			if (git_revparse_single(&o, repo->git, argv[3]) < 0) {
				ret = fail("bad base");
				goto out;
			}
			base = *git_object_id(o);
			git_object_free(o);
			opts.base = &base;
		}
		if (sbx_task_create(&t, repo, &opts)) {
			ret = fail("cannot create the task");
			goto out;
		}
		printf("%u\n", t->id);
	} else if (!strcmp(argv[1], "import") && argc == 4) {
		git_oid tip;
		bool kept;
		int fd;

		if (!(t = open_id(repo, argv[2]))) {
			ret = fail("no such task");
			goto out;
		}
		fd = open(argv[3], O_RDONLY);
		if (fd < 0) {
			perror(argv[3]);
			ret = 1;
			goto out;
		}
		ret = sbx_task_import_fd(&tip, &kept, repo, t, fd);
		if (getenv("SBX_TEST_RUSAGE")) {
			struct rusage self, kids;

			getrusage(RUSAGE_SELF, &self);
			getrusage(RUSAGE_CHILDREN, &kids);
			fprintf(stderr, "maxrss-kib self=%ld children=%ld\n", self.ru_maxrss, kids.ru_maxrss);
		}
		if (ret) {
			close(fd);
			ret = fail("import failed");
			goto out;
		}
		close(fd);
		printf("%s%s\n", git_oid_tostr_s(&tip), kept ? " worktree-kept" : "");
	} else if (!strcmp(argv[1], "finish") && (argc == 5 || argc == 6)) {
		enum sbx_task_state st;
		int lock, phases;

		if (!(t = open_id(repo, argv[2])) || parse_state(argv[3], &st)) {
			ret = fail("no such task or state");
			goto out;
		}
		if (sbx_task_start(&lock, t)) {
			ret = fail("cannot start");
			goto out;
		}
		/* SBX_TEST_PHASES=N: only the first N phases ran (the VM never booted for 0). */
		phases = getenv("SBX_TEST_PHASES") ? atoi(getenv("SBX_TEST_PHASES")) : 5;
		if (phases > 0)
			sbx_task_step_set(t, SBX_STEP_START, 1234);
		if (phases > 1)
			sbx_task_step_set(t, SBX_STEP_TRANSFER_IN, 56);
		if (phases > 2)
			sbx_task_step_set(t, SBX_STEP_AGENT, 7890);
		if (phases > 3)
			sbx_task_step_set(t, SBX_STEP_TRANSFER_OUT, 12);
		if (phases > 4)
			sbx_task_step_set(t, SBX_STEP_IMPORT, 3);
		if (sbx_task_finish(lock, t, st, atoi(argv[4]), argc == 6 ? argv[5] : NULL))
			ret = fail("cannot finish");
	} else if (!strcmp(argv[1], "hold") && argc == 4) {
		char *log;
		FILE *f;
		int lock, i, n = atoi(argv[3]) * 10;

		if (!(t = open_id(repo, argv[2]))) {
			ret = fail("no such task");
			goto out;
		}
		if (sbx_task_start(&lock, t)) {
			ret = fail("cannot start");
			goto out;
		}
		log = sbx_task_log_path(t);
		f = fopen(log, "a");
		for (i = 0; f && i < n; i++) {
			fprintf(f, "agent line %d\n", i);
			fflush(f);
			usleep(100 * 1000);
		}
		if (f) {
			fprintf(f, "agent done\n");
			fclose(f);
		}
		free(log);
		if (sbx_task_finish(lock, t, SBX_TASK_DONE, 0, NULL))
			ret = fail("cannot finish");
	} else if (!strcmp(argv[1], "attempt") && (argc == 5 || argc == 6)) {
		struct sbx_task_attempt *a;
		struct sbx_task *view = NULL;
		git_reference *ref = NULL;
		enum sbx_task_state st;
		char name[64], *dir = NULL;
		bool kept;
		int fd;

		if (!(t = open_id(repo, argv[2])) || parse_state(argv[3], &st)) {
			ret = fail("no such task or state");
			goto out;
		}
		if (sbx_task_attempt_add(&a, t, getenv("SBX_TEST_PROMPT"))) {
			ret = fail("cannot add an attempt");
			goto out;
		}
		sbx_attempt_ref(name, sizeof(name), t->id, a->n);
		if (git_reference_create(&ref, repo->git, name, &t->base, 1, "test: attempt") < 0 ||
		    asprintf(&dir, "%s/attempts/%u", t->dir, a->n) < 0 || sbx_mkdirs(dir)) {
			ret = fail("cannot start the attempt");
			goto out;
		}
		git_reference_free(ref);
		free(dir);
		a->state = st;
		a->exit_status = atoi(argv[4]);
		a->started_ms = 1700000000000;
		a->finished_ms = 1700000004000;
		a->agent_ms = 2500;
		if (argc == 6) {
			if (sbx_attempt_view(&view, t, a->n)) {
				ret = fail("no view");
				goto out;
			}
			fd = open(argv[5], O_RDONLY);
			if (fd < 0 || sbx_task_import_fd(&a->tip, &kept, repo, view, fd)) {
				ret = fail("import failed");
				sbx_task_free(view);
				goto out;
			}
			close(fd);
			sbx_task_free(view);
			a->has_tip = true;
		} else if (st == SBX_TASK_DONE) {
			a->tip = t->base;
			a->has_tip = true;
		}
		if (sbx_task_save(t)) {
			ret = fail("cannot save");
			goto out;
		}
		printf("%u\n", a->n);
	} else if (!strcmp(argv[1], "choose") && argc == 4) {
		bool kept;

		if (!(t = open_id(repo, argv[2]))) {
			ret = fail("no such task");
			goto out;
		}
		if (sbx_attempt_choose(&kept, repo, t, (unsigned)atoi(argv[3])) || sbx_task_save(t))
			ret = fail("cannot choose");
		else
			printf("%s%s\n", git_oid_tostr_s(&t->result), kept ? " worktree-kept" : "");
	} else if (!strcmp(argv[1], "hold-attempt") && argc == 5) {
		char *lockp;
		int lock = -1;

		if (!(t = open_id(repo, argv[2])) || !(lockp = sbx_attempt_file(t, (unsigned)atoi(argv[3]), "lock"))) {
			ret = fail("no such task");
			goto out;
		}
		if (sbx_lock(&lock, lockp, true, false)) {
			ret = fail("cannot lock");
			free(lockp);
			goto out;
		}
		printf("held\n");
		fflush(stdout);
		sleep((unsigned)atoi(argv[4]));
		sbx_unlock(lock);
		free(lockp);
	} else if (!strcmp(argv[1], "bundle-import") && argc == 5) {
		struct sbx_bundle_import_opts opts = SBX_BUNDLE_IMPORT_OPTS_INIT;
		git_object *o = NULL;
		char ref[256];
		git_oid old, tip;
		double t0;
		int fd;

		snprintf(ref, sizeof(ref), "refs/heads/%s", argv[2]);
		if (git_reference_name_to_id(&old, repo->git, ref) < 0 ||
		    git_revparse_single(&o, repo->git, argv[3]) < 0) {
			ret = fail("bad branch or base");
			goto out;
		}
		opts.branch = argv[2];
		opts.base = *git_object_id(o);
		opts.expected_old = &old;
		git_object_free(o);
		fd = open(argv[4], O_RDONLY);
		if (fd < 0) {
			perror(argv[4]);
			ret = 1;
			goto out;
		}
		t0 = now();
		if (sbx_bundle_import_fd(&tip, repo->git, &opts, fd))
			ret = fail("import failed");
		else
			printf("%s %.3f\n", git_oid_tostr_s(&tip), now() - t0);
		close(fd);
	} else if (!strcmp(argv[1], "checkpoint") && argc == 5) {
		struct sbx_ckpt c;
		char *layer = NULL, *path = NULL;
		unsigned prev = 0;
		int fd;

		memset(&c, 0, sizeof(c));
		if (!(t = open_id(repo, argv[2]))) {
			ret = fail("no such task");
			goto out;
		}
		sbx_ckpt_current(&prev, t->dir);
		if (sbx_ckpt_next_id(&c.id, t->dir) || sbx_ckpt_reason_parse(&c.reason, argv[3]) ||
		    sbx_ckpt_new_layer(&layer, t->dir) || !(path = sbx_path_join(t->dir, layer))) {
			ret = fail("cannot make a checkpoint");
			goto out;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd >= 0)
			close(fd);
		c.time_ms = (int64_t)time(NULL) * 1000;
		snprintf(c.head, sizeof(c.head), "%s", argv[4]);
		snprintf(c.layer, sizeof(c.layer), "%s", layer);
		c.disk_bytes = 4096u * c.id;
		c.parent = prev;
		if (fd < 0 || sbx_ckpt_create(t->dir, &c, NULL) || sbx_ckpt_set_current(t->dir, c.id))
			ret = fail("cannot make a checkpoint");
		else
			printf("%u\n", c.id);
		free(layer);
		free(path);
	} else {
		fprintf(stderr, "sbx-test-task: bad arguments\n");
		ret = 129;
	}
out:
	sbx_task_free(t);
	sbx_repo_free(repo);
	sbx_lib_shutdown();
	return ret;
}
