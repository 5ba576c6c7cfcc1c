#!/bin/sh
test_description='the hook gate: the host repository'"'"'s pre-commit hook runs on the result in a fresh VM (QEMU fallback); a failing result is blocked, a passing one lands'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

test_need_vm
. "$SBX_SRC_DIR/tests/t/task-lib.sh"

# A repository whose pre-commit hook runs its tests.  The hook also tries to
# reach the host: a marker file in the user's home (by the host's own path)
# and a change to the repository's config.  It runs in the VM, so neither
# may happen here.
make_repo() {
	git init -q repo &&
	(
		cd repo &&
		git config user.name 'Host User' &&
		git config user.email 'host@example.com' &&
		echo good > value.txt &&
		cat > run-tests.sh <<-\EOT &&
		#!/bin/sh
		if [ "$(cat value.txt)" = good ]; then echo "ok: value is good"; exit 0; fi
		echo "FAIL: value is $(cat value.txt)" >&2
		exit 1
		EOT
		git add -A && git commit -q -m "value and its test" &&
		cat > .git/hooks/pre-commit <<-EOT &&
		#!/bin/sh
		echo "pre-commit hook: running the tests in \$(pwd)"
		mkdir -p "$HOME" 2>/dev/null; touch "$HOME/hook-was-here" 2>/dev/null
		git config core.hookWasHere yes 2>/dev/null
		git diff --cached --name-only | sed "s/^/staged: /"
		exec sh run-tests.sh
		EOT
		chmod +x .git/hooks/pre-commit &&
		git config sbx.gate block
	)
}

test_expect_success 'an image with git; a repository whose pre-commit hook runs its tests' '
	sbx_test_image "$TRASH_DIRECTORY" default git &&
	make_repo
'

write_agent break.sh <<'EOF'
echo bad > value.txt
git commit -q -a -m "agent: break the value"
EOF

test_expect_success 'an agent that breaks the tests is blocked: branch unmoved, rejected-1 kept, "checks failed", the log tail shown' '
	base=$(git -C repo rev-parse HEAD) &&
	sha256sum repo/.git/config >config.before &&
	(cd repo && test_expect_code 1 git sbx task --backend qemu --agent script:../break.sh "break it" >../out 2>../err) &&
	cat out err &&
	grep "^task 1 checks failed" out &&
	grep "the checks failed in a fresh VM (sbx.gate=block): sbx/1 did not move" out &&
	grep "checks: fail (in a fresh VM)" out &&
	grep "fail  pre-commit" out &&
	grep "| FAIL: value is bad" out &&
	grep "rejected result: refs/sbx/1/rejected-1" out &&
	test "$(git -C repo rev-parse sbx/1)" = "$base" &&
	git -C repo log -1 --format=%s refs/sbx/1/rejected-1 >subject &&
	echo "agent: break the value" >expect && test_cmp expect subject &&
	(cd repo && git sbx show --json 1) >show.json &&
	grep "\"state\": \"checks failed\"" show.json &&
	grep "\"rejected\": \"refs/sbx/1/rejected-1\"" show.json &&
	grep "^state checks failed$" repo/.git/sbx/tasks/1/record &&
	grep "^checks 1 fail " repo/.git/sbx/tasks/1/record
'

test_expect_success 'the results file and the log: name, status, duration; the hook saw the change staged' '
	grep -E "^pre-commit fail [0-9]+$" repo/.git/sbx/tasks/1/checks/1.result &&
	test_line_count = 1 repo/.git/sbx/tasks/1/checks/1.result &&
	grep "^=== pre-commit$" repo/.git/sbx/tasks/1/checks/1.log &&
	grep "^pre-commit hook: running the tests in /workspace$" repo/.git/sbx/tasks/1/checks/1.log &&
	grep "^staged: value.txt$" repo/.git/sbx/tasks/1/checks/1.log &&
	(cd repo && git sbx list) >list &&
	grep "^1 *checks failed .* fail " list &&
	(cd repo && git sbx show 1) >show &&
	grep "^checks: *fail (run 1" show
'

test_expect_success 'the hook ran in the VM: no marker in the home directory, the config unchanged' '
	test_path_is_missing "$HOME/hook-was-here" &&
	sha256sum repo/.git/config >config.after &&
	test_cmp config.before config.after &&
	test -z "$(git -C repo config core.hookWasHere)"
'

write_agent fix.sh <<'EOF'
echo good > value.txt
git commit -q -a -m "agent: fix the value"
EOF

test_expect_success 'an agent that fixes the tests passes the gate and the branch moves' '
	(cd repo && echo bad > value.txt && git commit -q -a --no-verify -m "break on the host") &&
	(cd repo && git sbx task --backend qemu --agent script:../fix.sh "fix it" >../out 2>../err) &&
	cat out err &&
	grep "^task 2 done" out &&
	grep "checks: pass (in a fresh VM)" out &&
	git -C repo log -1 --format=%s sbx/2 >subject &&
	echo "agent: fix the value" >expect && test_cmp expect subject &&
	! git -C repo rev-parse -q --verify refs/sbx/2/rejected-1 &&
	grep -E "^pre-commit pass [0-9]+$" repo/.git/sbx/tasks/2/checks/1.result &&
	(cd repo && git sbx list) | grep "^2 *done .* pass " &&
	test_path_is_missing "$HOME/hook-was-here"
'

test_done
