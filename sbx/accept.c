// SPDX-License-Identifier: MIT
/* Accept, reject and apply a task's result (sbx/accept.h). */
#include "sbx/accept.h"
#include "sbx/accept-int.h"
#include "sbx/config.h"
#include "sbx/fsutil.h"
#include "sbx/repo.h"
#include "sbx/task.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const mode_names[] = {
	[SBX_ACCEPT_MERGE] = "merge",
	[SBX_ACCEPT_SQUASH] = "squash",
	[SBX_ACCEPT_REBASE] = "rebase",
	[SBX_ACCEPT_FF_ONLY] = "ff-only",
};

const char *sbx_accept_mode_name(enum sbx_accept_mode m)
{
	return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "unknown";
}

int sbx_accept_mode_parse(enum sbx_accept_mode *out, const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (!strcmp(s, mode_names[i])) {
			*out = (enum sbx_accept_mode)i;
			return 0;
		}
	return sbx_error_set(SBX_EINVAL, "'%s' is not an accept mode (merge, squash, rebase, ff-only)", s);
}

int sbx_accept_mode_config(enum sbx_accept_mode *out, struct sbx_repo *repo)
{
	struct sbx_config *cfg = NULL;
	char *v = NULL;
	int err;

	*out = SBX_ACCEPT_MERGE;
	err = sbx_config_open(&cfg, repo);
	if (!err)
		err = sbx_config_string(cfg, "sbx.acceptMode", &v);
	if (err == SBX_ENOTFOUND)
		err = 0;
	else if (!err && (err = sbx_accept_mode_parse(out, v)))
		sbx_error_prefix(err, "sbx.acceptMode");
	free(v);
	sbx_config_free(cfg);
	return err;
}

/* ---- who and when ---- */

/* GIT_<WHO>_DATE as "<s> <+hhmm>" or "@<s> <+hhmm>"; false for anything else. */
static bool parse_date(const char *v, git_time_t *when, int *offset)
{
	long long s;
	int hh, mm, n = 0;
	char sign;

	if (*v == '@')
		v++;
	if (sscanf(v, "%lld %c%2d%2d%n", &s, &sign, &hh, &mm, &n) != 4 || v[n] ||
	    (sign != '+' && sign != '-'))
		return false;
	*when = (git_time_t)s;
	*offset = (sign == '-' ? -1 : 1) * (hh * 60 + mm);
	return true;
}

int accept_ident(git_signature **out, struct sbx_repo *repo, const char *who)
{
	char key[32];
	const char *name, *email, *date;
	git_signature *def = NULL;
	git_time_t when;
	int offset, err;

	snprintf(key, sizeof(key), "GIT_%s_NAME", who);
	name = getenv(key);
	snprintf(key, sizeof(key), "GIT_%s_EMAIL", who);
	email = getenv(key);
	snprintf(key, sizeof(key), "GIT_%s_DATE", who);
	date = getenv(key);
	if ((!name || !email) && git_signature_default(&def, repo->git) < 0) {
		if (!name || !*name)
			return sbx_error_set(SBX_EINVAL, "who you are is not set: git config user.name \"Your Name\"; "
					     "git config user.email you@example.com");
	}
	if (!name)
		name = def->name;
	if (!email)
		email = def ? def->email : "";
	if (date && parse_date(date, &when, &offset))
		err = git_signature_new(out, name, email, when, offset);
	else
		err = git_signature_now(out, name, email);
	git_signature_free(def);
	return err < 0 ? sbx_git_error(SBX_EINVAL, "bad identity") : 0;
}

int sbx_committer(git_signature **out, struct sbx_repo *repo)
{
	return accept_ident(out, repo, "COMMITTER");
}

/* ---- refusals ---- */

/* Append "'path'" to a list in `buf` (at most a few, then "..."). */
void accept_list_path(char *buf, size_t size, size_t *count, const char *path)
{
	size_t used = strlen(buf);

	if (*count == 4 && used + 6 < size)
		strcat(buf, ", ...");
	else if (*count < 4 && used < size)
		snprintf(buf + used, size - used, "%s'%s'", used ? ", " : "", path);
	(*count)++;
}

int accept_check_clean(struct sbx_repo *repo)
{
	git_status_options so;
	git_status_list *list = NULL;
	char paths[512] = "";
	size_t i, n, count = 0;

	git_status_options_init(&so, GIT_STATUS_OPTIONS_VERSION);
	so.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	so.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	if (git_status_list_new(&list, repo->git, &so) < 0)
		return sbx_git_error(SBX_ERROR, "cannot read the working tree's status");
	n = git_status_list_entrycount(list);
	for (i = 0; i < n; i++) {
		const git_status_entry *e = git_status_byindex(list, i);
		const git_diff_delta *d = e->head_to_index ? e->head_to_index : e->index_to_workdir;

		if (e->status == GIT_STATUS_CURRENT || (e->status & GIT_STATUS_IGNORED) || !d)
			continue;
		accept_list_path(paths, sizeof(paths), &count, d->new_file.path);
	}
	git_status_list_free(list);
	if (count)
		return sbx_error_set(SBX_EEXISTS, "your local changes (%s) are not committed: commit or stash them first",
				     paths);
	return 0;
}

/* Files that exist in the working tree where `diff` adds one: untracked (the tree is clean). */
int accept_check_added(struct sbx_repo *repo, git_diff *diff)
{
	char paths[512] = "", *full = NULL;
	size_t i, n = git_diff_num_deltas(diff), count = 0;

	for (i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		struct stat st;

		if (d->status != GIT_DELTA_ADDED && d->status != GIT_DELTA_RENAMED &&
		    d->status != GIT_DELTA_COPIED)
			continue;
		free(full);
		if (asprintf(&full, "%s/%s", repo->workdir, d->new_file.path) < 0) {
			full = NULL;
			return sbx_error_set(SBX_ENOMEM, "out of memory");
		}
		if (lstat(full, &st) == 0 || errno == ENOTDIR)
			accept_list_path(paths, sizeof(paths), &count, d->new_file.path);
	}
	free(full);
	if (count)
		return sbx_error_set(SBX_EEXISTS, "untracked files would be overwritten (%s): move or remove them first",
				     paths);
	return 0;
}

static int check_conflicts(git_index *idx, const char *what)
{
	const git_index_entry *anc, *ours, *theirs;
	git_index_conflict_iterator *it = NULL;
	char paths[512] = "";
	size_t count = 0;

	if (!git_index_has_conflicts(idx))
		return 0;
	if (git_index_conflict_iterator_new(&it, idx) == 0) {
		while (git_index_conflict_next(&anc, &ours, &theirs, it) == 0) {
			const git_index_entry *e = ours ? ours : theirs ? theirs : anc;

			if (e)
				accept_list_path(paths, sizeof(paths), &count, e->path);
		}
		git_index_conflict_iterator_free(it);
	}
	return sbx_error_set(SBX_EEXISTS, "%s conflicts (%s): nothing was changed; "
			     "merge it yourself (git merge) or ask the agent again", what, paths);
}

/* ---- accept ---- */

struct acc {
	struct sbx_repo *repo;
	struct sbx_task *task;
	git_commit *head, *tip;
	git_signature *author, *committer;
	char branch[64];	/* "sbx/<id>" */
};

/* The first line of the prompt, or "sbx task <id>". */
void accept_title(char *buf, size_t size, const struct sbx_task *t)
{
	const char *p = t->prompt ? t->prompt : "";
	size_t len;

	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	len = strcspn(p, "\n");
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
		len--;
	if (!len)
		snprintf(buf, size, "sbx task %u", t->id);
	else
		snprintf(buf, size, "%.*s", (int)(len < 200 ? len : 200), p);
}

/* The merge (or squash) tree of HEAD and the task's tip, or a conflict. */
static int merge_tree(git_oid *tree, struct acc *a)
{
	git_merge_options mo;
	git_index *idx = NULL;
	int err;

	git_merge_options_init(&mo, GIT_MERGE_OPTIONS_VERSION);
	if (git_merge_commits(&idx, a->repo->git, a->head, a->tip, &mo) < 0)
		return sbx_git_error(SBX_ERROR, "cannot merge");
	err = check_conflicts(idx, a->branch);
	if (!err && git_index_write_tree_to(tree, idx, a->repo->git) < 0)
		err = sbx_git_error(SBX_ERROR, "cannot write the merged tree");
	git_index_free(idx);
	return err;
}

static int commit(git_oid *out, struct acc *a, const git_signature *author, const char *msg,
		  const git_oid *tree_id, const git_commit *const *parents, size_t nparents)
{
	git_tree *tree = NULL;
	int err = 0;

	if (git_tree_lookup(&tree, a->repo->git, tree_id) < 0 ||
	    git_commit_create(out, a->repo->git, NULL, author, a->committer, NULL, msg, tree,
			      nparents, (const git_commit **)parents) < 0)
		err = sbx_git_error(SBX_ERROR, "cannot write a commit");
	git_tree_free(tree);
	return err;
}

static int do_merge(git_oid *out, struct acc *a)
{
	const git_commit *parents[2] = { a->head, a->tip };
	char title[256], *msg = NULL;
	git_oid tree;
	int err = merge_tree(&tree, a);

	if (err)
		return err;
	accept_title(title, sizeof(title), a->task);
	if (asprintf(&msg, "Merge branch '%s'\n\nsbx task %u: %s\n", a->branch, a->task->id, title) < 0)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = commit(out, a, a->author, msg, &tree, parents, 2);
	free(msg);
	return err;
}

static int do_squash(git_oid *out, struct acc *a)
{
	const git_commit *parents[1] = { a->head };
	git_revwalk *walk = NULL;
	char title[256], *msg = NULL;
	size_t len = 0;
	FILE *f;
	git_oid tree, id;
	int err = merge_tree(&tree, a);

	if (err)
		return err;
	f = open_memstream(&msg, &len);
	if (!f)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	accept_title(title, sizeof(title), a->task);
	fprintf(f, "%s\n\nsbx task %u, squashed from %s:\n\n", title, a->task->id, a->branch);
	if (git_revwalk_new(&walk, a->repo->git) == 0 &&
	    git_revwalk_push(walk, git_commit_id(a->tip)) == 0 &&
	    git_revwalk_hide(walk, git_commit_id(a->head)) == 0) {
		git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
		while (git_revwalk_next(&id, walk) == 0) {
			git_commit *c = NULL;

			if (git_commit_lookup(&c, a->repo->git, &id) == 0) {
				fprintf(f, "* %s\n", git_commit_summary(c) ? git_commit_summary(c) : "");
				git_commit_free(c);
			}
		}
	}
	git_revwalk_free(walk);
	if (fclose(f)) {
		free(msg);
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	}
	err = commit(out, a, a->author, msg, &tree, parents, 1);
	free(msg);
	return err;
}

/* HEAD..tip replayed on HEAD, oldest first; merges skipped, emptied commits dropped (git rebase's way). */
static int do_rebase(git_oid *out, size_t *ncommits, struct acc *a)
{
	git_merge_options mo;
	git_revwalk *walk = NULL;
	git_commit *onto = NULL, *c = NULL;
	git_index *idx = NULL;
	git_oid id, tree, made;
	int err = 0;

	git_merge_options_init(&mo, GIT_MERGE_OPTIONS_VERSION);
	if (git_commit_dup(&onto, a->head) < 0 || git_revwalk_new(&walk, a->repo->git) < 0 ||
	    git_revwalk_push(walk, git_commit_id(a->tip)) < 0 ||
	    git_revwalk_hide(walk, git_commit_id(a->head)) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot list the task's commits");
		goto out;
	}
	git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
	while (!err && git_revwalk_next(&id, walk) == 0) {
		const git_commit *parents[1];
		char what[128];

		if ((err = git_commit_lookup(&c, a->repo->git, &id)) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot read a commit");
			break;
		}
		if (git_commit_parentcount(c) > 1)
			goto next;
		if (git_cherrypick_commit(&idx, a->repo->git, c, onto, 0, &mo) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot replay a commit");
			break;
		}
		snprintf(what, sizeof(what), "replaying %.12s of %s", git_oid_tostr_s(&id), a->branch);
		err = check_conflicts(idx, what);
		if (!err && git_index_write_tree_to(&tree, idx, a->repo->git) < 0)
			err = sbx_git_error(SBX_ERROR, "cannot write a tree");
		git_index_free(idx);
		idx = NULL;
		if (err || git_oid_equal(&tree, git_commit_tree_id(onto)))
			goto next;
		parents[0] = onto;
		err = commit(&made, a, git_commit_author(c), git_commit_message(c), &tree, parents, 1);
		if (err)
			break;
		git_commit_free(onto);
		onto = NULL;
		if (git_commit_lookup(&onto, a->repo->git, &made) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot read a commit");
			break;
		}
		(*ncommits)++;
next:
		git_commit_free(c);
		c = NULL;
	}
	if (!err)
		*out = *git_commit_id(onto);
out:
	git_commit_free(c);
	git_commit_free(onto);
	git_revwalk_free(walk);
	return err;
}

/* The working tree and index from HEAD's old tree to `new_id`'s (safe: never overwrites changes). */
static int checkout(struct acc *a, const git_oid *new_id, bool dry_run)
{
	git_checkout_options co;
	git_commit *c = NULL;
	git_tree *old_tree = NULL;
	int err = 0;

	if (git_commit_lookup(&c, a->repo->git, new_id) < 0 || git_commit_tree(&old_tree, a->head) < 0)
		return sbx_git_error(SBX_ERROR, "cannot read the result");
	git_checkout_options_init(&co, GIT_CHECKOUT_OPTIONS_VERSION);
	co.checkout_strategy = GIT_CHECKOUT_SAFE | (dry_run ? GIT_CHECKOUT_DRY_RUN : 0);
	co.baseline = old_tree;
	if (git_checkout_tree(a->repo->git, (git_object *)c, &co) < 0)
		err = sbx_git_error(SBX_EEXISTS, dry_run ? "the working tree is in the way"
					 : "cannot update the working tree");
	git_tree_free(old_tree);
	git_commit_free(c);
	return err;
}

/* Untracked files where the result adds one: refused before anything is written. */
static int check_in_the_way(struct acc *a, const git_oid *new_id)
{
	git_commit *c = NULL;
	git_tree *old_tree = NULL, *new_tree = NULL;
	git_diff *diff = NULL;
	int err;

	if (git_commit_lookup(&c, a->repo->git, new_id) < 0 || git_commit_tree(&new_tree, c) < 0 ||
	    git_commit_tree(&old_tree, a->head) < 0 ||
	    git_diff_tree_to_tree(&diff, a->repo->git, old_tree, new_tree, NULL) < 0)
		err = sbx_git_error(SBX_ERROR, "cannot compare the result");
	else
		err = accept_check_added(a->repo, diff);
	git_diff_free(diff);
	git_tree_free(old_tree);
	git_tree_free(new_tree);
	git_commit_free(c);
	return err;
}

static int find_head(struct sbx_accept_result *res, struct acc *a)
{
	git_reference *head = NULL;
	int err = git_repository_head(&head, a->repo->git);

	if (err == GIT_EUNBORNBRANCH || err == GIT_ENOTFOUND)
		return sbx_error_set(SBX_EINVAL, "the current branch has no commits yet");
	if (err < 0)
		return sbx_git_error(SBX_ERROR, "cannot read HEAD");
	if (!git_reference_is_branch(head)) {
		git_reference_free(head);
		return sbx_error_set(SBX_EINVAL, "HEAD is detached: check out the branch to accept into");
	}
	snprintf(res->into, sizeof(res->into), "%s", git_reference_name(head));
	git_reference_free(head);
	if (!strcmp(res->into + strlen("refs/heads/"), a->branch))
		return sbx_error_set(SBX_EINVAL, "HEAD is on %s itself: check out the branch to accept into",
				     a->branch);
	if (git_reference_name_to_id(&res->old_head, a->repo->git, res->into) < 0 ||
	    git_commit_lookup(&a->head, a->repo->git, &res->old_head) < 0)
		return sbx_git_error(SBX_ERROR, "cannot read the current branch");
	return 0;
}

/* Who and when into the record; `state` accepted or rejected. */
static int record_review(struct sbx_task *t, struct sbx_repo *repo, enum sbx_task_state state,
			 const git_signature *who)
{
	char *name = NULL;

	if (asprintf(&name, "%s <%s>", who->name, who->email) < 0)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	(void)repo;
	free(t->reviewer);
	t->reviewer = name;
	t->reviewed_ms = who->when.time > 0 ? (int64_t)who->when.time * 1000 : 1;
	t->state = state;
	return sbx_task_save(t);
}

/* Hold the task's run lock while we change its record: no session may start it meanwhile. */
int accept_lock_task(int *fd, const struct sbx_task *t)
{
	char *path = NULL;
	int err;

	if (asprintf(&path, "%s/lock", t->dir) < 0)
		return sbx_error_set(SBX_ENOMEM, "out of memory");
	err = sbx_lock(fd, path, true, false);
	free(path);
	if (err == SBX_ELOCKED)
		return sbx_error_set(SBX_ELOCKED, "task %u is still running", t->id);
	return err;
}

int accept_task_tip(git_oid *tip, struct sbx_repo *repo, const struct sbx_task *t)
{
	char ref[80];

	snprintf(ref, sizeof(ref), "refs/heads/%s", t->branch);
	if (git_reference_name_to_id(tip, repo->git, ref) < 0)
		return sbx_error_set(SBX_ENOTFOUND, "task %u's branch %s is gone", t->id, t->branch);
	if (git_oid_equal(tip, &t->base))
		return sbx_error_set(SBX_EINVAL, "task %u has no commits (%s is at its base)", t->id, t->branch);
	return 0;
}

int sbx_task_accept(struct sbx_accept_result *res, struct sbx_repo *repo,
		    struct sbx_task *task, enum sbx_accept_mode mode)
{
	struct acc a = { .repo = repo, .task = task };
	git_reference *moved = NULL, *back = NULL;
	git_oid tip, new_id;
	char logmsg[128];
	int lock = -1, err;

	memset(res, 0, sizeof(*res));
	snprintf(a.branch, sizeof(a.branch), "%s", task->branch);
	if (task->state == SBX_TASK_ACCEPTED)
		return sbx_error_set(SBX_EEXISTS, "task %u was accepted already", task->id);
	if (task->state == SBX_TASK_REMOVING)
		return sbx_error_set(SBX_EINVAL, "task %u is being removed", task->id);
	if ((err = accept_lock_task(&lock, task)) || (err = accept_task_tip(&tip, repo, task)) ||
	    (err = find_head(res, &a)))
		goto out;
	if (git_commit_lookup(&a.tip, repo->git, &tip) < 0) {
		err = sbx_git_error(SBX_ERROR, "cannot read the task's branch");
		goto out;
	}
	if (repo->workdir && (err = accept_check_clean(repo)))
		goto out;
	if ((err = accept_ident(&a.author, repo, "AUTHOR")) || (err = sbx_committer(&a.committer, repo)))
		goto out;
	new_id = res->old_head;
	if (git_oid_equal(&tip, &res->old_head) ||
	    git_graph_descendant_of(repo->git, &res->old_head, &tip) == 1) {
		res->up_to_date = true;
	} else if (git_graph_descendant_of(repo->git, &tip, &res->old_head) == 1 &&
		   (mode == SBX_ACCEPT_FF_ONLY || mode == SBX_ACCEPT_REBASE)) {
		res->fast_forward = true;
		new_id = tip;
	} else if (mode == SBX_ACCEPT_FF_ONLY) {
		err = sbx_error_set(SBX_EINVAL, "not possible to fast-forward: %s has commits that %s lacks; "
				    "use --merge, --squash or --rebase", res->into + strlen("refs/heads/"), a.branch);
	} else if (mode == SBX_ACCEPT_MERGE) {
		err = do_merge(&new_id, &a);
		res->ncommits = 1;
	} else if (mode == SBX_ACCEPT_SQUASH) {
		err = do_squash(&new_id, &a);
		res->ncommits = 1;
	} else {
		err = do_rebase(&new_id, &res->ncommits, &a);
	}
	if (err)
		goto out;
	res->new_head = new_id;
	if (!res->up_to_date && repo->workdir &&
	    ((err = check_in_the_way(&a, &new_id)) || (err = checkout(&a, &new_id, true))))
		goto out;
	if (!res->up_to_date) {
		snprintf(logmsg, sizeof(logmsg), "sbx accept %u (%s): %s", task->id,
			 sbx_accept_mode_name(mode), res->fast_forward ? "fast-forward" : a.branch);
		if (git_reference_create_matching(&moved, repo->git, res->into, &new_id, 1,
						  &res->old_head, logmsg) < 0) {
			err = sbx_git_error(SBX_ERROR, "cannot move the branch (did it move meanwhile?)");
			goto out;
		}
		if (repo->workdir && (err = checkout(&a, &new_id, false))) {
			/* put the branch back where it was: nothing half-done */
			snprintf(logmsg, sizeof(logmsg), "sbx accept %u: undone", task->id);
			git_reference_create_matching(&back, repo->git, res->into, &res->old_head, 1,
						      &new_id, logmsg);
			goto out;
		}
	}
	free(task->accept_mode);
	free(task->accept_into);
	task->accept_mode = strdup(sbx_accept_mode_name(mode));
	task->accept_into = strdup(res->into);
	if (!task->accept_mode || !task->accept_into) {
		err = sbx_error_set(SBX_ENOMEM, "out of memory");
		goto out;
	}
	task->accept_commit = new_id;
	task->has_accept_commit = true;
	err = record_review(task, repo, SBX_TASK_ACCEPTED, a.committer);
out:
	if (lock >= 0)
		sbx_unlock(lock);
	git_reference_free(moved);
	git_reference_free(back);
	git_signature_free(a.author);
	git_signature_free(a.committer);
	git_commit_free(a.head);
	git_commit_free(a.tip);
	return err;
}

int sbx_task_reject(struct sbx_repo *repo, struct sbx_task *task)
{
	git_signature *who = NULL;
	int lock = -1, err;

	if (task->state == SBX_TASK_ACCEPTED)
		return sbx_error_set(SBX_EEXISTS, "task %u was accepted already", task->id);
	if (task->state == SBX_TASK_REMOVING)
		return sbx_error_set(SBX_EINVAL, "task %u is being removed", task->id);
	if (!(err = accept_lock_task(&lock, task)) && !(err = sbx_committer(&who, repo)))
		err = record_review(task, repo, SBX_TASK_REJECTED, who);
	if (lock >= 0)
		sbx_unlock(lock);
	git_signature_free(who);
	return err;
}
