# tests/t/review-lib.sh: tasks with results for the review tests, without a
# VM: sbx/task.c makes the record, branch and worktree (tests/t/helper/
# sbx-test-task), the "agent" is a shell snippet run by the git CLI in a
# clone at the task's base, and its work comes back as a git bundle that
# the host imports as it would from a VM.  Sourced after test-lib.sh.
#
#   review_task PROMPT BASE SNIPPET   in the current repository: prints the id
#   review_fingerprint                everything accept/apply/reject must leave
#                                     byte-identical when they refuse: index,
#                                     status, refs, HEAD, the files, the records

helper=$SBX_BUILD_DIR/tests/t/helper/sbx-test-task

review_task() {
	_base=$(git rev-parse "$2") &&
	_id=$("$helper" create "$1" "$_base") &&
	rm -rf "../guest-$_id" &&
	git clone -q . "../guest-$_id" &&
	(
		cd "../guest-$_id" &&
		git checkout -q -B "sbx/$_id" "$_base" &&
		GIT_AUTHOR_NAME='Agent' GIT_AUTHOR_EMAIL='agent@sbx.invalid' &&
		export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL &&
		eval "$3" &&
		git bundle create -q "../result-$_id.bundle" "$_base..sbx/$_id"
	) >/dev/null 2>&1 &&
	"$helper" import "$_id" "../result-$_id.bundle" >/dev/null &&
	"$helper" finish "$_id" done 0 &&
	echo "$_id"
}

review_fingerprint() {
	sha1sum .git/index &&
	git status --porcelain --untracked-files=all &&
	git for-each-ref --format='%(refname) %(objectname)' &&
	cat .git/HEAD &&
	find . -path ./.git -prune -o -type f -exec sha1sum {} + | sort &&
	find .git/sbx/tasks -name record -exec sha1sum {} + | sort
}
