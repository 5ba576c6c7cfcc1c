#!/bin/sh
test_description='attempts of a task without a VM: records, git sbx attempts, diff --attempt, pick, show, logs, rm'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

helper=$SBX_BUILD_DIR/tests/t/helper/sbx-test-task

# Three attempts as their processes leave them: 1 and 2 bring results
# (the same new file, different a.txt), 3 failed with none.
test_expect_success 'setup: a task with three attempts' '
	git init -q repo && cd repo &&
	echo one >a.txt && echo keep >k.txt && git add -A && git commit -qm first &&
	test "$("$helper" create "change a")" = 1 &&
	git clone -q . ../g1 && (cd ../g1 &&
		echo X >a.txt && echo same >same.txt && git add -A && git commit -qm "attempt one" &&
		git bundle create -q ../r1.bundle origin/main..HEAD) &&
	git clone -q . ../g2 && (cd ../g2 &&
		echo Y >a.txt && echo same >same.txt && git rm -q k.txt && git add -A && git commit -qm "attempt two" &&
		git bundle create -q ../r2.bundle origin/main..HEAD) &&
	test "$("$helper" attempt 1 done 0 ../r1.bundle)" = 1 &&
	test "$(SBX_TEST_PROMPT="try Y" "$helper" attempt 1 done 0 ../r2.bundle)" = 2 &&
	test "$("$helper" attempt 1 failed 1)" = 3 &&
	"$helper" choose 1 1 &&
	test "$(git rev-parse sbx/1)" = "$(git rev-parse refs/sbx/1/1)" &&
	test "$(cat .git/sbx/worktrees/1/a.txt)" = X
'

test_expect_success 'each attempt has its ref; sbx/1 is the chosen one; the record says so' '
	cd repo &&
	git log --format=%s -1 refs/sbx/1/1 >out && test "$(cat out)" = "attempt one" &&
	git log --format=%s -1 refs/sbx/1/2 >out && test "$(cat out)" = "attempt two" &&
	test "$(git rev-parse refs/sbx/1/3)" = "$(git rev-parse main)" &&
	grep "^sbx-task-record 2$" .git/sbx/tasks/1/record &&
	grep "^attempt 1 .* done$" .git/sbx/tasks/1/record &&
	grep "^attempt 3 [0-9]* [0-9]* 2500 1 - - failed$" .git/sbx/tasks/1/record &&
	grep "^attempt-prompt 2 try Y$" .git/sbx/tasks/1/record &&
	grep "^chosen 1 auto$" .git/sbx/tasks/1/record
'

test_expect_success 'git sbx attempts: side by side, and which files agree' '
	cd repo && git sbx attempts 1 >out &&
	grep "^task 1: 3 attempts from .*; sbx/1 is attempt 1 (the first that succeeded)$" out &&
	grep "^\* 1 *done *0 *1 *2f +2 -1 " out &&
	grep "^  2 *done *0 *1 *3f +2 -2 " out &&
	grep "^      prompt: try Y$" out &&
	grep "^  3 *failed *1 *0 *- " out &&
	grep "^  agree   A A -  same.txt$" out &&
	grep "^  differ  A B -  a.txt$" out &&
	grep "^  differ  . A -  k.txt$" out
'

test_expect_success 'git sbx attempts --json' '
	cd repo && git sbx attempts --json 1 >out &&
	python3 -c "
import json, sys
o = json.load(open(\"out\"))
assert o[\"id\"] == 1 and o[\"chosen\"] == 1 and o[\"picked\"] is False, o
a = o[\"attempts\"]
assert [x[\"n\"] for x in a] == [1, 2, 3]
assert a[0][\"state\"] == \"done\" and a[0][\"chosen\"] and a[0][\"commits\"] == 1
assert a[1][\"prompt\"] == \"try Y\" and a[1][\"ref\"] == \"refs/sbx/1/2\"
assert a[2][\"result\"] is None and a[2][\"exit_status\"] == 1
f = {x[\"path\"]: x for x in o[\"files\"]}
assert f[\"same.txt\"][\"agree\"] and f[\"same.txt\"][\"content\"] == [1, 1, None]
assert not f[\"a.txt\"][\"agree\"] and f[\"a.txt\"][\"content\"] == [1, 2, None]
assert f[\"k.txt\"][\"content\"] == [0, 1, None]
"
'

test_expect_success 'git sbx diff --attempt N [--against M]' '
	cd repo &&
	git sbx diff 1 --attempt 2 >out && git diff main refs/sbx/1/2 >expect && test_cmp expect out &&
	git sbx diff --attempt=2 1 --against 1 --stat >out &&
	git diff --stat refs/sbx/1/1 refs/sbx/1/2 >expect && test_cmp expect out &&
	git sbx diff 1 >out && git diff main sbx/1 >expect && test_cmp expect out
'

test_expect_success 'git sbx diff --attempt: no such attempt, no result, --against alone' '
	cd repo &&
	test_expect_code 128 git sbx diff 1 --attempt 7 2>err &&
	grep "^fatal: task 1 has no attempt 7 (it has 1 to 3)$" err &&
	test_expect_code 128 git sbx diff 1 --attempt 3 2>err &&
	grep "^fatal: attempt 3 of task 1 has no result (it failed)$" err &&
	test_expect_code 129 git sbx diff 1 --against 2 2>err && grep "needs --attempt" err
'

test_expect_success 'git sbx show and review mention the attempts' '
	cd repo && git sbx show 1 >out &&
	grep "^attempts: *3; sbx/1 is attempt 1 (the first that succeeded); git sbx attempts 1$" out &&
	git sbx show --json 1 >out &&
	python3 -c "import json; o = json.load(open(\"out\")); assert o[\"attempts\"] == 3 and o[\"chosen\"] == 1" &&
	git sbx review 1 >out && grep "^attempts: *3 (sbx/1 is attempt 1)$" out
'

test_expect_success 'git sbx pick refuses uncommitted changes in the worktree; nothing moves' '
	cd repo && wt=.git/sbx/worktrees/1 &&
	before=$(git rev-parse sbx/1) && cp .git/sbx/tasks/1/record record.before &&
	echo mine >>$wt/k.txt &&
	test_expect_code 1 git sbx pick 1 2 2>err &&
	grep "^error: cannot pick attempt 2 of task 1: the task.s worktree has uncommitted changes (.k.txt.): commit or discard them first$" err &&
	test "$(git rev-parse sbx/1)" = "$before" && test_cmp record.before .git/sbx/tasks/1/record &&
	grep mine $wt/k.txt && git -C $wt checkout -q k.txt
'

test_expect_success 'git sbx pick refuses when sbx/1 has commits no attempt made' '
	cd repo && wt=.git/sbx/worktrees/1 && before=$(git rev-parse sbx/1) &&
	git -C $wt rm -q same.txt && git -C $wt commit -qm "mine" && mine=$(git rev-parse sbx/1) &&
	test_expect_code 1 git sbx pick 1 2 2>err &&
	grep "^error: cannot pick attempt 2 of task 1: sbx/1 is at [0-9a-f]\{12\}, which no attempt made (commits of yours?); keep them on another branch first, then pick with --force$" err &&
	test "$(git rev-parse sbx/1)" = "$mine" &&
	git -C $wt reset -q --hard "$before" && test "$(cat $wt/same.txt)" = same
'

test_expect_success 'git sbx pick: an attempt without result, a running task, a bad number' '
	cd repo &&
	test_expect_code 128 git sbx pick 1 3 2>err &&
	grep "^error: cannot pick attempt 3 of task 1: attempt 3 of task 1 has no result (it failed)$" err &&
	test_expect_code 128 git sbx pick 1 9 2>err && grep "has no attempt 9" err &&
	test_expect_code 129 git sbx pick 1 two 2>err &&
	test_expect_code 129 git sbx pick 1 2>err &&
	{ "$helper" hold 1 3 >/dev/null & } && pid=$! && sleep 0.5 &&
	test_expect_code 1 git sbx pick 1 2 2>err && wait $pid &&
	grep "task 1 is running; pick when it has ended" err
'

test_expect_success 'git sbx pick moves sbx/1 and the worktree, and records the pick' '
	cd repo && wt=.git/sbx/worktrees/1 &&
	git sbx pick 1 2 >out &&
	grep "^sbx/1 is attempt 2.s result [0-9a-f]\{12\}; worktree updated: " out &&
	test "$(git rev-parse sbx/1)" = "$(git rev-parse refs/sbx/1/2)" &&
	test "$(cat $wt/a.txt)" = Y && ! test -e $wt/k.txt && test -z "$(git -C $wt status --porcelain)" &&
	grep "^chosen 2 picked$" .git/sbx/tasks/1/record &&
	git reflog -1 --format=%gs sbx/1 >out && grep "^sbx pick 1: attempt 2$" out &&
	git sbx attempts 1 >out && grep "sbx/1 is attempt 2 (picked)" out && grep "^\* 2 " out &&
	git sbx pick 1 2 >out && grep "already at attempt 2" out
'

test_expect_success 'git sbx pick refuses an untracked file in the way; nothing moves' '
	cd repo && wt=.git/sbx/worktrees/1 && before=$(git rev-parse sbx/1) &&
	echo untracked >$wt/k.txt &&
	test_expect_code 1 git sbx pick 1 1 2>err &&
	grep "^error: cannot pick attempt 1 of task 1: files in the task.s worktree are in the way (.k.txt.): move them away first$" err &&
	test "$(git rev-parse sbx/1)" = "$before" && test "$(cat $wt/k.txt)" = untracked &&
	grep "^chosen 2 picked$" .git/sbx/tasks/1/record && rm $wt/k.txt
'

test_expect_success 'git sbx logs --attempt N prints that attempt.s log' '
	cd repo && printf "from two\n" >.git/sbx/tasks/1/attempts/2/log &&
	git sbx logs --attempt 2 1 >out 2>err && test "$(cat out)" = "from two" &&
	git sbx logs 1 2>err >out; grep "^hint: task 1 has 3 attempts" err &&
	test_expect_code 128 git sbx logs --attempt 5 1 2>err && grep "no attempt 5" err
'

test_expect_success 'an attempt whose process is gone shows as interrupted' '
	cd repo && test "$("$helper" create "two")" = 2 &&
	test "$("$helper" attempt 2 running -1)" = 1 &&
	git sbx attempts 2 >out && grep "^  1 *interrupted" out &&
	{ "$helper" hold-attempt 2 1 3 >held & } && pid=$! && sleep 0.5 &&
	git sbx attempts 2 >out && wait $pid && grep "^  1 *running" out
'

test_expect_success 'git sbx attempts of a task without attempts says so (exit 1)' '
	cd repo && test "$("$helper" create "three")" = 3 &&
	test_expect_code 1 git sbx attempts 3 2>err &&
	grep "^error: task 3 has no attempts (git sbx retry 3 adds some)$" err &&
	test_expect_code 128 git sbx attempts 9 2>err && grep "^fatal: no task 9$" err
'

test_expect_success 'git sbx retry refuses a task that never ran, one that runs, an accepted one' '
	cd repo &&
	test_expect_code 128 git sbx retry 3 2>err && grep "^fatal: task 3 never ran$" err &&
	{ "$helper" hold 3 3 >/dev/null & } && pid=$! && sleep 0.5 &&
	test_expect_code 128 git sbx retry 3 2>err && wait $pid && grep "task 3 is running" err &&
	test_expect_code 129 git sbx retry 3 --attempts 0 2>err && grep "1 to 64" err &&
	test_expect_code 129 git sbx retry 3 -m a -F b 2>err &&
	test_expect_code 129 git sbx retry 2>err
'

test_expect_success 'git sbx retry of a task that ran once: it becomes attempt 1; new ones run in processes of their own' '
	cd repo && test "$("$helper" create "four")" = 4 && "$helper" finish 4 done 0 &&
	git config sbx.parallel 2 && test_when_finished "git config --unset sbx.parallel" &&
	SBX_CACHE_DIR=$TRASH_DIRECTORY/no-cache test_expect_code 1 git sbx retry --attempts 3 --agent-cmd true -m "other" 4 >out 2>err &&
	grep "^task 4: 3 more attempts from " err &&
	grep "^task 4: 3 attempts (2..4) from a cold boot each, 2 at a time (sbx.parallel)$" err &&
	for n in 2 3 4; do grep "^\[$n\] task 4: no image to run the task in" err || return 1; done &&
	grep "^task 4 done: attempts 2 to 4, 2 at a time; 0 succeeded; sbx/4 is attempt 1$" out &&
	r=.git/sbx/tasks/4/record &&
	grep "^attempt 1 [0-9]* [1-9][0-9]* 7890 0 $(git rev-parse main) - done$" $r &&
	grep "^attempt 3 [0-9]* [0-9]* 0 - - - failed$" $r && grep "^attempt-prompt 3 other$" $r &&
	grep "^attempt-error 4 no image to run the task in" $r && grep "^chosen 1 auto$" $r &&
	grep "^state done$" $r && grep "^agent-command\|^machine" $r >extra; test ! -s extra &&
	test -f .git/sbx/tasks/4/attempts/3/record && ! test -d .git/sbx/tasks/4/attempts/1 &&
	test "$(git rev-parse refs/sbx/4/2)" = "$(git rev-parse main)"
'

test_expect_success 'git sbx gc marks an interrupted task and its running attempts failed' '
	cd repo && test "$("$helper" create "five")" = 5 &&
	test "$("$helper" attempt 5 running -1)" = 1 && "$helper" finish 5 running 0 &&
	touch .git/sbx/tasks/5/attempts/1/record.tmp.999999 &&
	git sbx gc >out && r=.git/sbx/tasks/5/record &&
	grep "^state failed$" $r && grep "^attempt 1 .* failed$" $r &&
	grep "^attempt-error 1 interrupted: the process running the task died$" $r &&
	! test -e .git/sbx/tasks/5/attempts/1/record.tmp.999999
'

test_expect_success 'the automatic choice leaves sbx/<id> alone when it holds commits no attempt made' '
	cd repo && test "$("$helper" create "six")" = 6 &&
	test "$("$helper" attempt 6 done 0 ../r1.bundle)" = 1 &&
	wt=.git/sbx/worktrees/6 && echo mine >$wt/mine.txt && git -C $wt add mine.txt &&
	git -C $wt commit -qm mine && mine=$(git rev-parse sbx/6) &&
	test_must_fail "$helper" choose 6 1 2>err &&
	grep "sbx/6 is at [0-9a-f]\{12\}, which no attempt made (commits of yours?): left it there (git sbx pick --force 6 1 moves it)" err &&
	test "$(git rev-parse sbx/6)" = "$mine" &&
	git sbx pick --force 6 1 && test "$(git rev-parse sbx/6)" = "$(git rev-parse refs/sbx/6/1)" &&
	git reflog sbx/6 | grep "sbx pick 6: attempt 1" && git sbx rm --force 6
'

test_expect_success 'git sbx rm removes the attempts with their refs' '
	cd repo && git sbx rm --force 1 &&
	test -z "$(git for-each-ref refs/sbx/1/)" && ! test -d .git/sbx/tasks/1 &&
	git sbx rm --force --keep-branch 2 && test -n "$(git for-each-ref refs/sbx/2/)"
'

test_expect_success 'a version 1 record still reads' '
	cd repo && mkdir -p .git/sbx/tasks/40 &&
	base=$(git rev-parse main) &&
	printf "sbx-task-record 1\nid 40\nstate done\nbase %s\nbranch sbx/40\ncreated 1700000000000\nstarted 1700000000100\nfinished 1700000009000\ntiming 1234 56 7890 12 3\nexit 0\nprompt old\n" "$base" >body &&
	printf "checksum %08x\n" "$(python3 -c "import zlib,sys; print(zlib.crc32(open(\"body\",\"rb\").read()))")" >sum &&
	cat body sum >.git/sbx/tasks/40/record &&
	git sbx show 40 >out &&
	grep "^time: *boot 1.2s, transfer in 56ms, agent 7.9s, transfer out 12ms, import 3ms$" out &&
	! grep "^attempts:" out &&
	git sbx show --json 40 >out &&
	python3 -c "import json; o = json.load(open(\"out\")); assert o[\"timing_ms\"][\"agent\"] == 7890 and o[\"attempts\"] == 0 and o[\"timing_ms\"][\"steps\"][\"start\"] == 1234"
'

test_done
