#!/bin/sh
test_description='git sbx checkpoints and rewind on the host: the list (text, --json), rewind moves sbx/<id>, its worktree, the reflog and the current checkpoint, and refuses what it cannot do without touching anything; git sbx checkpoint asks only a running task'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"
. "$SBX_SRC_DIR/tests/t/review-lib.sh"

test_expect_success 'setup: a task with three agent commits and a checkpoint at each' '
	git init -q repo && cd repo &&
	echo base >a.txt && git add -A && git commit -qm "the base" &&
	test "$(review_task "three steps" main "
		echo one >>a.txt && git commit -qam one &&
		echo two >>a.txt && git commit -qam two &&
		echo three >>a.txt && git commit -qam three
	")" = 1 &&
	test "$("$helper" checkpoint 1 start "$(git rev-parse main)")" = 1 &&
	test "$("$helper" checkpoint 1 commit "$(git rev-parse sbx/1~2)")" = 2 &&
	test "$("$helper" checkpoint 1 commit "$(git rev-parse sbx/1~1)")" = 3 &&
	test "$("$helper" checkpoint 1 exit "$(git rev-parse sbx/1)")" = 4 &&
	test "$("$helper" checkpoint 1 manual 1234567890123456789012345678901234567890)" = 5
'

test_expect_success 'checkpoints: one line each, the current one starred, an unknown commit marked' '
	cd repo && git sbx checkpoints 1 >../out &&
	grep "^  ID  *REASON  *COMMIT" ../out &&
	grep "^  1  *start  *$(git rev-parse --short=12 main)  " ../out &&
	grep "^  3  *commit  *$(git rev-parse --short=12 sbx/1~1)  " ../out &&
	grep "^\* 5  *manual  *123456789012? " ../out &&
	grep "^5 checkpoints, .* of disk layers and 0 B of memory; \* is the current one$" ../out &&
	grep "^?: the commit is not in this repository" ../out
'

test_expect_success 'checkpoints --json: every field, the current one' '
	cd repo && git sbx checkpoints --json 1 >../out.json &&
	python3 -c "
import json, sys
a = json.load(open(\"../out.json\"))
assert [c[\"id\"] for c in a] == [1, 2, 3, 4, 5], a
assert [c[\"reason\"] for c in a] == [\"start\", \"commit\", \"commit\", \"exit\", \"manual\"]
assert a[4][\"current\"] and not a[3][\"current\"]
assert a[1][\"parent\"] == 1 and a[0][\"parent\"] is None
assert a[2][\"imported\"] and not a[4][\"imported\"]
assert a[1][\"disk_bytes\"] == 8192 and a[1][\"memory_bytes\"] == 0
"
'

test_expect_success 'rewind --to 2: the branch, the worktree, the reflog and the current checkpoint' '
	cd repo && wt=.git/sbx/worktrees/1 &&
	git sbx rewind 1 --to 2 >../out &&
	grep "^task 1: rewound to checkpoint 2; sbx/1 $(git rev-parse --short=12 sbx/1@{1}) -> $(git rev-parse --short=12 sbx/1) (from checkpoint 5: .git sbx rewind 1 --to 5. goes back)$" ../out &&
	test "$(git rev-parse sbx/1)" = "$(git rev-parse sbx/1@{1}~2)" &&
	test "$(git -C $wt rev-parse HEAD)" = "$(git rev-parse sbx/1)" &&
	printf "base\none\n" >../want && test_cmp ../want $wt/a.txt &&
	git reflog show sbx/1 | head -1 | grep "sbx: rewind to checkpoint 2" &&
	git sbx checkpoints 1 | grep "^\* 2 " &&
	git sbx show --json 1 | grep "\"result\": \"$(git rev-parse sbx/1)\""
'

test_expect_success 'rewind forward again (undo), to the last commit' '
	cd repo &&
	git sbx rewind 1 --to 4 >../out &&
	test "$(git rev-parse sbx/1)" = "$(git rev-parse sbx/1@{2})" &&
	grep "three" .git/sbx/worktrees/1/a.txt &&
	git sbx checkpoints 1 | grep "^\* 4 "
'

test_expect_success 'rewind refuses: no such checkpoint, a commit never imported, a bad id, a running task; nothing moves' '
	cd repo && before=$(git rev-parse sbx/1) &&
	test_expect_code 128 git sbx rewind 1 --to 9 2>../err &&
	grep "task 1 has no checkpoint 9 (.git sbx checkpoints 1. lists them)" ../err &&
	test_expect_code 128 git sbx rewind 1 --to 5 2>../err &&
	grep "checkpoint 5.s commit 123456789012 is not in this repository" ../err &&
	test_expect_code 128 git sbx rewind 1 --to x 2>../err &&
	grep "is not a checkpoint id" ../err &&
	test_expect_code 129 git sbx rewind 1 2>../err &&
	{ "$helper" hold 1 3 & } && sleep 1 &&
	test_expect_code 128 git sbx rewind 1 --to 2 2>../err &&
	grep "task 1 is running: rewind it when it has stopped" ../err &&
	wait &&
	test "$(git rev-parse sbx/1)" = "$before" &&
	git sbx checkpoints 1 | grep "^\* 4 "
'

test_expect_success 'checkpoint asks only a running task' '
	cd repo &&
	test_expect_code 128 git sbx checkpoint 1 2>../err &&
	grep "task 1 is not running" ../err &&
	! test -e .git/sbx/tasks/1/checkpoint-request &&
	{ "$helper" hold 1 2 & } && sleep 0.5 &&
	git sbx checkpoint 1 >../out &&
	grep "asked task 1 for a checkpoint" ../out &&
	test -e .git/sbx/tasks/1/checkpoint-request &&
	wait
'

test_expect_success 'a task without checkpoints says so' '
	cd repo && id=$("$helper" create "none") &&
	git sbx checkpoints $id >../out &&
	grep "^task $id has no checkpoints$" ../out &&
	test "$(git sbx checkpoints --json $id)" = "[]"
'

test_done
