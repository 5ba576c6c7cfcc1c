#!/bin/sh
test_description='git sbx hooks: pre-commit runs sbx.check on the staged tree in a VM (QEMU fallback), pre-push guards sbx/<id>, existing hooks and core.hooksPath still run, uninstall is byte-exact'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

# Everything install may touch: the hooks (bytes and modes), the config.
hooks_fingerprint() {
	(
		cd "$1" &&
		find .git/hooks .husky -type f 2>/dev/null | sort | xargs sha256sum &&
		find .git/hooks .husky -type f 2>/dev/null | sort | xargs stat -c "%a %n" &&
		sha256sum .git/config
	)
}

test_expect_success 'a repository with tests, a pre-commit hook of its own and sbx.check' '
	git init -q repo && (
		cd repo &&
		echo good > value.txt &&
		printf "#!/bin/sh\n[ \"\$(cat value.txt)\" = good ] || { echo \"FAIL: value is \$(cat value.txt)\" >&2; exit 1; }\n" > run-tests.sh &&
		git add -A && git commit -q -m "value and its test" &&
		printf "#!/bin/sh\necho \"the original pre-commit ran\" >&2\n" > .git/hooks/pre-commit &&
		chmod 755 .git/hooks/pre-commit &&
		git config sbx.check "sh run-tests.sh"
	) &&
	hooks_fingerprint repo >before
'

test_expect_success 'install: our hooks with the marker; status says so; -h works' '
	(cd repo && git sbx hooks install) >out &&
	grep "installed pre-commit and pre-push" out &&
	sed -n 2p repo/.git/hooks/pre-commit | grep "^# git-sbx hook: installed by" &&
	sed -n 2p repo/.git/hooks/pre-push | grep "^# git-sbx hook: installed by" &&
	(cd repo && git sbx hooks status) >status &&
	grep "^installed: yes" status &&
	grep "pre-commit *git-sbx, then the hook that was there" status &&
	(cd repo && git sbx hooks install -h) | grep "usage: git sbx hooks install" &&
	(cd repo && test_must_fail git sbx hooks install 2>../err) && grep "installed already" err
'

test_expect_success 'pre-push refuses an sbx/<id> branch that was not accepted; SBX_ALLOW_PUSH=1 and --no-verify override' '
	git init -q --bare remote.git &&
	(
		cd repo &&
		git branch sbx/1 &&
		mkdir -p .git/sbx/tasks/1 &&
		printf "sbx-task-record 1\nid 1\nstate done\n" > .git/sbx/tasks/1/record &&
		test_must_fail git push -q ../remote.git sbx/1 2>../err &&
		grep "refusing to push sbx/1: task 1 is done, not accepted" ../err &&
		grep "SBX_ALLOW_PUSH=1" ../err &&
		SBX_ALLOW_PUSH=1 git push -q ../remote.git sbx/1 &&
		git push -q --no-verify ../remote.git sbx/1:refs/heads/sbx/1b &&
		printf "sbx-task-record 1\nid 1\nstate accepted\n" > .git/sbx/tasks/1/record &&
		git commit -q --allow-empty --no-verify -m more && git branch -f sbx/1 &&
		git push -q ../remote.git sbx/1 &&
		git push -q ../remote.git HEAD:refs/heads/main
	)
'

test_need_vm

test_expect_success 'an image with git' '
	sbx_test_image "$TRASH_DIRECTORY" default git
'

test_expect_success 'git commit of a staged tree whose tests fail is refused; the checks ran in a VM; the original hook ran first' '
	(
		cd repo &&
		echo bad > value.txt && git add value.txt &&
		head=$(git rev-parse HEAD) &&
		test_must_fail git commit -q -m "break" 2>../err &&
		test "$(git rev-parse HEAD)" = "$head"
	) &&
	cat err &&
	grep "the original pre-commit ran" err &&
	grep "running sbx.check on the staged tree in a throwaway VM" err &&
	grep "FAIL: value is bad" err &&
	grep "the checks ran in a VM, not on this machine" err
'

test_expect_success '--no-verify commits' '
	(cd repo && git commit -q --no-verify -m "break anyway" && git log -1 --format=%s) >s &&
	echo "break anyway" >expect && test_cmp expect s
'

test_expect_success 'uninstall leaves .git/hooks and the config byte-identical to before install' '
	(cd repo && git sbx hooks uninstall) &&
	hooks_fingerprint repo >after &&
	test_cmp before after &&
	test_path_is_missing repo/.git/sbx/hooks-backup &&
	test_path_is_missing repo/.git/hooks/pre-commit.sbx-chain
'

test_expect_success 'with core.hooksPath (husky style): installed there, the hook there still runs, and a passing tree commits' '
	(
		cd repo &&
		mkdir -p .husky &&
		printf "#!/bin/sh\n. \"\$(dirname \"\$0\")/helper.sh\"\necho \"the husky hook ran\" >&2\n" > .husky/pre-commit &&
		echo ": helper" > .husky/helper.sh &&
		chmod 755 .husky/pre-commit &&
		git config core.hooksPath .husky
	) &&
	hooks_fingerprint repo >before &&
	(cd repo && git sbx hooks install) >out &&
	grep "in $TRASH_DIRECTORY/repo/.husky" out &&
	(
		cd repo &&
		echo good > value.txt && git add value.txt &&
		git commit -q -m "fix" 2>../err
	) &&
	cat err &&
	grep "the husky hook ran" err &&
	grep "sbx.check passed on the staged tree (in a VM)" err &&
	(cd repo && git sbx hooks uninstall) &&
	hooks_fingerprint repo >after &&
	test_cmp before after
'

test_done
