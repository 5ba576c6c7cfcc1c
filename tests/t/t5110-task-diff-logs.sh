#!/bin/sh
test_description='git sbx diff and logs on tasks made by sbx/task.c'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

helper=$SBX_BUILD_DIR/tests/t/helper/sbx-test-task

test_expect_success 'setup: a task with an imported result' '
	git init -q repo && cd repo &&
	echo one >a.txt && git add -A && git commit -qm first &&
	test "$("$helper" create "change a")" = 1 &&
	git clone -q . ../guest && cd ../guest &&
	echo changed >>a.txt && echo b >b.txt && git add -A && git commit -qm agent &&
	git bundle create -q ../result.bundle origin/main..HEAD && cd ../repo &&
	"$helper" import 1 ../result.bundle
'

test_expect_success 'git sbx diff ID is git diff base..sbx/<id>' '
	cd repo && git sbx diff 1 >out &&
	git diff main sbx/1 >expect &&
	test_cmp expect out &&
	grep "^+changed$" out
'

test_expect_success 'git sbx diff passes options and paths to git diff' '
	cd repo && git sbx diff 1 --stat >out &&
	grep "2 files changed, 2 insertions(+)" out &&
	git sbx diff 1 --name-only -- b.txt >out &&
	test "$(cat out)" = b.txt
'

test_expect_success 'git sbx diff of an unknown task is fatal' '
	cd repo && test_expect_code 128 git sbx diff 5 2>err && grep "^fatal: no task 5$" err
'

test_expect_success 'git sbx logs prints the log; a task without one warns' '
	cd repo && git sbx logs 1 >out 2>err && test ! -s out &&
	grep "^warning: task 1 has no log yet$" err &&
	printf "hello\nworld\n" >.git/sbx/tasks/1/log &&
	git sbx logs 1 >out && printf "hello\nworld\n" >expect && test_cmp expect out
'

test_expect_success 'git sbx logs -f follows a running task until it ends' '
	cd repo && rm -f .git/sbx/tasks/1/log &&
	{ "$helper" hold 1 2 & } &&
	pid=$! &&
	sleep 0.5 &&
	git sbx show 1 | grep "^state: *running" &&
	git sbx logs -f 1 >out &&
	wait $pid &&
	test "$(tail -1 out)" = "agent done" &&
	test $(grep -c "^agent line" out) -eq 20 &&
	git sbx show 1 | grep "^state: *done"
'

test_expect_success 'git sbx logs -f of a finished task prints and returns' '
	cd repo && git sbx logs -f 1 >out && test "$(tail -1 out)" = "agent done"
'

test_done
