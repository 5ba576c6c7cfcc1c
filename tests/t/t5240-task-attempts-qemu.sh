#!/bin/sh
test_description='git sbx task --attempts 2 end to end; without /dev/kvm, through the QEMU fallback'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

test_need_vm
. "$SBX_SRC_DIR/tests/t/task-lib.sh"

test_expect_success 'an image with git builds' '
	sbx_test_image "$TRASH_DIRECTORY" default git &&
	task_repo repo
'

# An agent whose result depends on the guest's randomness.
write_agent roll.sh <<'AGENT'
#!/bin/sh
set -e
r=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "agent: rand=$r"
echo "$r" >rand.txt
echo same >same.txt
git add -A && git commit -q -m "roll $r"
AGENT

test_expect_success 'two attempts side by side: output prefixed, both succeed, one chosen' '
	git -C repo config sbx.parallel 2 &&
	repo_fingerprint repo >before &&
	(cd repo && git sbx task --backend qemu --timeout 300s --attempts 2 --agent script:../roll.sh "roll") >out 2>err &&
	cat out err &&
	grep "^\[1\] agent: rand=[0-9a-f]\{16\}$" out && grep "^\[2\] agent: rand=[0-9a-f]\{16\}$" out &&
	grep "^task 1: 2 attempts (1..2) from .*, 2 at a time (sbx.parallel)$" err &&
	grep "^\[1\] task 1: " err && grep "^\[2\] task 1: " err &&
	grep "^task 1 done: attempts 1 to 2, 2 at a time; 2 succeeded; sbx/1 is attempt [12] (the first that succeeded)$" out &&
	repo_fingerprint repo | grep -v "^refs/sbx/1/[12] " >after && test_cmp before after
'

test_expect_success 'each attempt has its result, log and console; sbx/1 and the worktree are the chosen one' '
	r1=$(git -C repo show refs/sbx/1/1:rand.txt) && r2=$(git -C repo show refs/sbx/1/2:rand.txt) &&
	test -n "$r1" && test -n "$r2" && test "$r1" != "$r2" &&
	d=repo/.git/sbx/tasks/1/attempts &&
	grep "^agent: rand=$r1$" $d/1/log && grep "^agent: rand=$r2$" $d/2/log &&
	test -s $d/1/console.log && test -s $d/2/console.log &&
	n=$(sed -n "s/^chosen \([12]\) auto$/\1/p" repo/.git/sbx/tasks/1/record) &&
	test "$(git -C repo rev-parse sbx/1)" = "$(git -C repo rev-parse refs/sbx/1/$n)" &&
	test "$(cat repo/.git/sbx/worktrees/1/rand.txt)" = "$(git -C repo show refs/sbx/1/$n:rand.txt)" &&
	(cd repo && git sbx show 1) >show && grep "^state: *done (agent exit status 0)" show &&
	grep "^attempts: *2; sbx/1 is attempt $n (the first that succeeded)" show
'

test_expect_success 'git sbx attempts shows them side by side; pick moves the branch and the worktree' '
	(cd repo && git sbx attempts 1) >att && cat att &&
	grep "^[* ] 1 *done *0 *1 " att && grep "^[* ] 2 *done *0 *1 " att &&
	grep "^  agree   A A  same.txt$" att && grep "^  differ  A B  rand.txt$" att &&
	n=$(sed -n "s/^chosen \([12]\) auto$/\1/p" repo/.git/sbx/tasks/1/record) && other=$((3 - n)) &&
	(cd repo && git sbx pick 1 $other) &&
	test "$(git -C repo rev-parse sbx/1)" = "$(git -C repo rev-parse refs/sbx/1/$other)" &&
	test "$(cat repo/.git/sbx/worktrees/1/rand.txt)" = "$(git -C repo show refs/sbx/1/$other:rand.txt)"
'

test_done
