#!/bin/sh
test_description='git sbx run --staged and --rev: the index'"'"'s tree or a commit'"'"'s, in a throwaway VM (QEMU fallback)'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

test_expect_success 'outside a repository --staged says it needs one; -h lists both' '
	mkdir nowhere &&
	(cd nowhere && GIT_CEILING_DIRECTORIES=$TRASH_DIRECTORY test_expect_code 128 git sbx run --staged -- true 2>../err) &&
	grep "needs a git repository" err &&
	git sbx run -h >out &&
	grep -- "--staged" out && grep -- "--rev" out &&
	test_expect_code 129 git sbx run --staged --rev HEAD -- true 2>err &&
	grep "exclude each other" err
'

test_need_vm

test_expect_success 'an image with git; a repository with a staged change and another in the worktree' '
	sbx_test_image "$TRASH_DIRECTORY" default git &&
	git init -q repo && (
		cd repo &&
		echo one > f.txt && git add f.txt && git commit -q -m one &&
		echo staged > f.txt && git add f.txt &&
		echo worktree > f.txt
	)
'

test_expect_success '--staged sends the index, not the worktree; HEAD there is ours, the change staged' '
	(cd repo && git sbx run --backend qemu --staged -- sh -c "cat f.txt; git diff --cached --name-only; git log --format=%s -1" >../out 2>../err) &&
	cat out &&
	printf "staged\nf.txt\none\n" >expect &&
	test_cmp expect out &&
	test "$(cat repo/f.txt)" = worktree &&
	git -C repo diff --cached --name-only >staged && echo f.txt >expect && test_cmp expect staged
'

test_expect_success '--rev sends that commit; the exit code is the command'"'"'s' '
	(cd repo && test_expect_code 3 git sbx run --backend qemu --rev HEAD -- sh -c "cat f.txt; exit 3" >../out 2>../err) &&
	echo one >expect && test_cmp expect out
'

test_done
