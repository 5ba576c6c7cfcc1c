#!/bin/sh
test_description='git sbx list and show on tasks made by sbx/task.c with results imported from git bundles'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

helper=$SBX_BUILD_DIR/tests/t/helper/sbx-test-task

test_expect_success 'setup: a repository with history and two tasks, one with a result' '
	git init -q repo && cd repo &&
	echo one >a.txt && mkdir src && echo code >src/main.c && git add -A && git commit -qm "first" &&
	echo two >>a.txt && git commit -qam "second: the base" &&
	test "$("$helper" create "fix the \"flaky\" test
and explain why")" = 1 &&
	test "$("$helper" create "second task")" = 2 &&
	git clone -q . ../guest && cd ../guest &&
	echo fixed >>a.txt && echo new >new.txt && git add -A && git commit -qm "agent: fix" &&
	git rm -q src/main.c && git commit -qm "sbx: uncommitted work" &&
	git bundle create -q ../result.bundle origin/main..HEAD && cd ../repo &&
	"$helper" import 1 ../result.bundle &&
	"$helper" finish 1 done 0
'

test_expect_success 'git sbx list: a table of both tasks in id order' '
	cd repo && git sbx list >out &&
	head -1 out | grep "^ID *STATE *CREATED *COMMITS *CHANGES *CHECKS *PROMPT" &&
	sed -n 2p out | grep "^1 *done *[0-9]*s ago *2 *3f +2 -1 *- *fix the \"flaky\" test\.\.\.$" &&
	sed -n 3p out | grep "^2 *created .* 0 *- *- *second task$" &&
	test $(wc -l <out) -eq 3
'

test_expect_success 'git sbx list --json is valid JSON with the fields' '
	cd repo && git sbx list --json >out.json &&
	python3 -c "
import json,sys
v=json.load(open(\"out.json\"))
assert [t[\"id\"] for t in v]==[1,2], v
t=v[0]
assert t[\"state\"]==\"done\" and t[\"exit_status\"]==0, t
assert t[\"prompt\"]==\"fix the \\\"flaky\\\" test\nand explain why\", t[\"prompt\"]
assert t[\"commits\"]==2 and t[\"files_changed\"]==3 and t[\"insertions\"]==2 and t[\"deletions\"]==1, t
assert t[\"branch\"]==\"sbx/1\" and t[\"branch_exists\"] is True
assert t[\"timing_ms\"][\"agent\"]==7890
assert len(t[\"log\"])==2 and t[\"log\"][0].endswith(\"sbx: uncommitted work\"), t[\"log\"]
assert v[1][\"result\"] is None and v[1][\"exit_status\"] is None
" &&
	test "$(python3 -c "import json;print(json.load(open(\"out.json\"))[0][\"tip\"])")" = "$(git rev-parse sbx/1)"
'

test_expect_success 'git sbx list with no tasks prints nothing; --json prints []' '
	git init -q empty && cd empty && git commit -q --allow-empty -m x &&
	git sbx list >out && test ! -s out &&
	git sbx list --json >out && test "$(cat out)" = "[]"
'

test_expect_success 'git sbx show ID: state, base, branch, worktree, times, prompt, commits' '
	cd repo && git sbx show 1 >out &&
	grep "^task 1$" out &&
	grep "^state: *done (agent exit status 0)$" out &&
	grep "^base: *$(git rev-parse main) second: the base$" out &&
	grep "^branch: *sbx/1 at $(git rev-parse --short=12 sbx/1), 2 commits, 3 files changed, 2 insertions(+), 1 deletion(-)$" out &&
	grep "^worktree: *$(pwd)/.git/sbx/worktrees/1$" out &&
	grep "^time: *boot 1.2s, transfer in 56ms, agent 7.9s, transfer out 12ms, import 3ms$" out &&
	grep "^    fix the \"flaky\" test$" out && grep "^    and explain why$" out &&
	grep "^    $(git rev-parse --short=7 sbx/1) sbx: uncommitted work$" out &&
	grep "^    $(git rev-parse --short=7 sbx/1~1) agent: fix$" out
'

test_expect_success 'the task worktree holds the imported result' '
	cd repo/.git/sbx/worktrees/1 &&
	test "$(git rev-parse HEAD)" = "$(git -C "$TRASH_DIRECTORY/guest" rev-parse HEAD)" &&
	test -f new.txt && test ! -e src/main.c &&
	test -z "$(git status --porcelain)"
'

test_expect_success 'git sbx show --json' '
	cd repo && git sbx show --json 2 >out.json &&
	python3 -c "
import json
t=json.load(open(\"out.json\"))
assert t[\"id\"]==2 and t[\"state\"]==\"created\" and t[\"commits\"]==0, t
"
'

test_expect_success 'show of a failed task prints its error' '
	cd repo && "$helper" finish 2 failed 3 "agent exited with status 3" &&
	git sbx show 2 >out &&
	grep "^state: *failed (agent exit status 3)$" out &&
	grep "^error: *agent exited with status 3$" out
'

test_expect_success 'bad ids: fatal, exit 128, git-style message' '
	cd repo &&
	test_expect_code 128 git sbx show 99 2>err && grep "^fatal: no task 99$" err &&
	test_expect_code 128 git sbx show ../1 2>err && grep "^fatal: .\.\./1. is not a task id$" err &&
	test_expect_code 129 git sbx show 2>err && grep "^usage: git sbx show" err
'

test_expect_success 'list and show outside a repository fail; -h works anywhere' '
	mkdir nowhere && cd nowhere &&
	GIT_CEILING_DIRECTORIES=$TRASH_DIRECTORY test_expect_code 128 git sbx list 2>err &&
	grep "^fatal: not a git repository" err &&
	GIT_CEILING_DIRECTORIES=$TRASH_DIRECTORY git sbx list -h >out && grep "^usage: git sbx list" out &&
	GIT_CEILING_DIRECTORIES=$TRASH_DIRECTORY git sbx show -h >out && grep "^usage: git sbx show" out
'

test_expect_success 'a corrupt record is reported, not trusted' '
	cd repo && cp .git/sbx/tasks/2/record rec.save &&
	sed -i "s/^prompt second task/prompt SECOND task/" .git/sbx/tasks/2/record &&
	test_expect_code 128 git sbx show 2 2>err && grep "checksum mismatch" err &&
	git sbx list >out 2>err && grep "^1 " out && ! grep "^2 " out &&
	grep "^warning: 1 task record could not be read" err &&
	cp rec.save .git/sbx/tasks/2/record && git sbx show 2 >/dev/null
'

test_expect_success 'phases that never ran are not shown as 0 ms' '
	cd repo && test "$("$helper" create "never booted")" = 3 &&
	SBX_TEST_PHASES=0 "$helper" finish 3 failed -1 "cannot start the sandbox" &&
	git sbx show 3 >out &&
	grep "^time: *none measured (the VM did not start)$" out &&
	test "$("$helper" create "booted, then failed")" = 4 &&
	SBX_TEST_PHASES=2 "$helper" finish 4 failed -1 "the guest stopped responding" &&
	git sbx show 4 >out &&
	grep "^time: *boot 1.2s, transfer in 56ms (then it ended)$" out
'

test_done
