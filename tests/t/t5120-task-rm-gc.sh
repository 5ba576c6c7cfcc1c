#!/bin/sh
test_description='git sbx rm and gc leave no stray worktree, branch, record, disk or lock'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

helper=$SBX_BUILD_DIR/tests/t/helper/sbx-test-task

# Everything a task may leave: git worktree admin dirs, branches, our dirs.
leftovers() {
	{ git worktree list --porcelain | grep "^worktree .*/sbx/worktrees/" || true
	  ls .git/worktrees 2>/dev/null || true
	  git branch --list "sbx/*"
	  ls .git/sbx/tasks .git/sbx/worktrees 2>/dev/null || true
	  ls .git/objects | grep sbx-incoming || true
	  find .git/sbx -name "*.tmp.*"
	} | sed -e "/^$/d" -e "/:$/d"
}

test_expect_success 'setup' '
	git init -q repo && cd repo &&
	echo one >a.txt && git add -A && git commit -qm first &&
	for i in 1 2 3 4; do "$helper" create "task $i" >/dev/null || return 1; done &&
	echo disk >.git/sbx/tasks/1/disk.qcow2 && echo log >.git/sbx/tasks/1/log &&
	git clone -q . ../guest && cd ../guest && echo x >>a.txt && git commit -qam agent &&
	git bundle create -q ../result.bundle origin/main..HEAD && cd ../repo &&
	"$helper" import 1 ../result.bundle >/dev/null
'

test_expect_success 'git sbx rm removes worktree, branch, record, disk and log' '
	cd repo && git sbx rm 1 >out &&
	grep "^Removed task 1 (branch sbx/1 deleted)\.$" out &&
	test_path_is_missing .git/sbx/tasks/1 &&
	test_path_is_missing .git/sbx/worktrees/1 &&
	test_path_is_missing .git/worktrees/sbx-1 &&
	test_must_fail git rev-parse --verify -q sbx/1 &&
	git worktree list >wl && ! grep "sbx/worktrees/1 " wl &&
	git fsck --no-progress
'

test_expect_success 'git sbx rm --keep-branch keeps sbx/<id>' '
	cd repo && git sbx rm --keep-branch 2 >out &&
	grep "^Removed task 2 (branch sbx/2 kept)\.$" out &&
	git rev-parse --verify -q sbx/2 && test_path_is_missing .git/sbx/tasks/2 &&
	test_path_is_missing .git/worktrees/sbx-2 &&
	git branch -q -D sbx/2
'

test_expect_success 'rm refuses a worktree with local changes unless --force' '
	cd repo && echo scratch >.git/sbx/worktrees/3/scratch &&
	test_expect_code 1 git sbx rm 3 2>err &&
	grep "^error: cannot remove task 3 (task 3.s worktree .* has local changes)$" err &&
	grep "^hint: use .git sbx rm --force 3." err &&
	test -d .git/sbx/tasks/3 &&
	git sbx rm --force 3 && test_path_is_missing .git/sbx/worktrees/3
'

test_expect_success 'rm refuses a running task unless --force' '
	cd repo &&
	{ "$helper" hold 4 3 & } && pid=$! && sleep 0.5 &&
	test_expect_code 1 git sbx rm 4 2>err && grep "task 4 is running" err &&
	wait $pid &&
	git sbx rm 4 &&
	test -z "$(leftovers)"
'

test_expect_success 'rm of unknown or bad ids fails for those only' '
	cd repo && "$helper" create "five" >/dev/null &&
	test_expect_code 1 git sbx rm 77 5 2>err &&
	grep "cannot remove task 77 (no task 77)" err &&
	test_path_is_missing .git/sbx/tasks/5 &&
	test_expect_code 128 git sbx rm nope 2>err && grep "is not a task id" err &&
	test_expect_code 129 git sbx rm 2>err && grep "^usage: git sbx rm" err
'

test_expect_success 'ids keep growing after removals' '
	cd repo && test "$("$helper" create "six")" = 6 && git sbx rm 6 >/dev/null
'

test_expect_success 'gc cleans up after crashes' '
	cd repo &&
	"$helper" create a >/dev/null && "$helper" create b >/dev/null && "$helper" create c >/dev/null &&
	# 7: rm crashed half way (record says removing, worktree gone)
	"$helper" finish 7 removing 0 &&
	rm -rf .git/sbx/worktrees/7 &&
	# 8: the process running it died
	"$helper" finish 8 running 0 &&
	# leftovers of dead processes, a task dir without record, a worktree dir without task
	echo x >.git/sbx/tasks/9/record.tmp.999999999 &&
	mkdir .git/objects/sbx-incoming-999999999-xyz && echo p >.git/objects/sbx-incoming-999999999-xyz/pack_tmp &&
	mkdir -p .git/sbx/tasks/40 .git/sbx/worktrees/41 &&
	git sbx list >out 2>err && grep "^8 *interrupted" out &&
	git sbx gc >out &&
	grep "^1 interrupted removal finished$" out &&
	grep "^1 task whose process died marked failed$" out &&
	grep "^2 stray directories removed$" out &&
	grep "^2 temporary files removed$" out &&
	git sbx show 8 | grep "^error: *interrupted" &&
	test_path_is_missing .git/sbx/tasks/7 && test_path_is_missing .git/worktrees/sbx-7 &&
	git sbx gc >out && test ! -s out &&
	git sbx rm 8 9 >/dev/null && git branch -D sbx/7 >/dev/null &&
	test -z "$(leftovers)"
'

test_expect_success 'gc prunes a worktree the user deleted by hand' '
	cd repo && id=$("$helper" create d) && rm -rf .git/sbx/worktrees/$id &&
	git sbx rm $id && test -z "$(leftovers)"
'

test_expect_success 'rm --force removes a task whose record is corrupt' '
	cd repo && id=$("$helper" create e) &&
	echo garbage >.git/sbx/tasks/$id/record &&
	test_expect_code 1 git sbx rm $id 2>err && grep "not a task record\|checksum\|truncated" err &&
	git sbx rm --force $id 2>err && grep "^warning: .*removing it by name" err &&
	test -z "$(leftovers)"
'

# Warm bases (docs/design.md, "Warm bases"): gc removes damaged ones and the
# builds of dead processes, naming each; git sbx warm needs KVM.
test_expect_success 'gc removes a damaged warm base and a dead build, saying so' '
	cd repo &&
	key=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef &&
	mkdir -p .git/sbx/warm/$key .git/sbx/warm/.build-$key.999999999 &&
	echo garbage >.git/sbx/warm/$key/record &&
	git sbx warm --list >out && grep "^1 damaged (git sbx gc removes them)" out &&
	git sbx gc >out &&
	grep "^removed warm base 0123456789ab (damaged)$" out &&
	grep "^1 unfinished warm base build removed$" out &&
	test_path_is_missing .git/sbx/warm/$key &&
	test_path_is_missing .git/sbx/warm/.build-$key.999999999 &&
	git sbx gc >out && test ! -s out &&
	git sbx warm --list >out && test ! -s out
'

test_expect_success 'git sbx warm without a usable /dev/kvm fails, saying why; -h helps anywhere' '
	git sbx warm -h >out 2>&1 && grep "git sbx warm \[--rebuild\]" out &&
	grep "memory snapshot" out &&
	if "$SBX_BUILD_DIR/tests/kvm/kvm-probe" >/dev/null 2>&1; then
		say "this machine has KVM"
	else
		(cd repo && test_expect_code 128 git sbx warm 2>../err) && grep "^fatal: warm bases need KVM" err
	fi
'

test_done
