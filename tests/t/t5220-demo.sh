#!/bin/sh
test_description='git sbx demo: a demo repository, a scripted agent fixing its failing test in the VM, the branch shown'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

test_need_vm

# The demo's default image is Debian's (mmdebstrap, minutes, network): .ci/run
# runs that from a fresh clone.  Here a busybox+git image stands in as "default".
test_expect_success 'a busybox+git image named default' '
	sbx_test_image "$TRASH_DIRECTORY" default git
'

test_expect_success 'git sbx demo: the agent fixes the failing test; the branch has its commit and the leftovers' '
	git sbx demo >out 2>err &&
	cat out err &&
	grep "FAIL no newline at the end: got 4, want 9" out &&
	grep "agent: committed the fix" out &&
	grep "task 1 done: the agent exited with status 0" out &&
	git -C sbx-demo log --format=%s main..sbx/1 >subjects &&
	printf "sbx: uncommitted work\nsum.sh: count the last line when the file has no final newline\n" >expect &&
	test_cmp expect subjects &&
	grep "^+while read -r n || \[ -n \"\$n\" \]; do" out &&
	(cd sbx-demo/.git/sbx/worktrees/1 && sh test.sh) >tests &&
	test_line_count = 3 tests && ! grep FAIL tests &&
	test_expect_code 1 sh -c "cd sbx-demo && sh test.sh" >before
'

test_expect_success 'a second demo goes to sbx-demo-2; a missing image is a clear error' '
	git sbx demo >out 2>err &&
	test -d sbx-demo-2/.git &&
	test_must_fail git sbx demo --image nosuch 2>err &&
	grep "no image" err &&
	test_path_is_missing sbx-demo-3
'

test_done
