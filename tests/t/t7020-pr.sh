#!/bin/sh
test_description='git sbx pr: pushes sbx/<id> to a local bare remote, prints the body; --open runs gh when it is there'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"
. "$SBX_SRC_DIR/tests/t/review-lib.sh"

test_expect_success 'setup: a task with a result, a bare remote as origin and another' '
	git init -q --bare remote.git && git init -q --bare other.git &&
	git init -q repo && cd repo &&
	echo one >a.txt && git add -A && git commit -qm base &&
	git remote add origin ../remote.git && git push -q origin main &&
	test "$(review_task "add the feature
with a test" main "echo two >>a.txt && git commit -qam \"agent: feature\"")" = 1
'

test_expect_success 'pr pushes sbx/1 to origin and prints the body' '
	cd repo && git sbx pr 1 >../body 2>../err &&
	test "$(git -C ../remote.git rev-parse refs/heads/sbx/1)" = "$(git rev-parse sbx/1)" &&
	grep "^> add the feature$" ../body && grep "^> with a test$" ../body &&
	grep "^\`\`\`diff$" ../body && grep "^+two$" ../body && ! grep "^# " ../body &&
	grep "Pushed sbx/1 to origin" ../err && grep "gh pr create --head sbx/1 --title .add the feature." ../err
'

test_expect_success 'the default remote is the current branch upstream; --remote names another' '
	cd repo && git remote add up ../other.git && git push -q up main &&
	git branch -q --set-upstream-to=up/main && git sbx pr 1 >/dev/null 2>&1 &&
	test "$(git -C ../other.git rev-parse refs/heads/sbx/1)" = "$(git rev-parse sbx/1)" &&
	git -C ../other.git update-ref -d refs/heads/sbx/1 &&
	git -C ../remote.git update-ref -d refs/heads/sbx/1 &&
	git sbx pr --remote origin 1 >/dev/null 2>&1 &&
	git -C ../remote.git rev-parse --verify -q refs/heads/sbx/1 &&
	test_must_fail git -C ../other.git rev-parse --verify -q refs/heads/sbx/1
'

test_expect_success 'pr --open runs gh pr create with the title and the body' '
	cd repo && mkdir ../bin &&
	cat >../bin/gh <<-\EOF &&
	#!/bin/sh
	printf "%s\n" "$@" >"$TRASH_DIRECTORY/gh-args"
	while [ $# -gt 0 ]; do [ "$1" = --body-file ] && cp "$2" "$TRASH_DIRECTORY/gh-body"; shift; done
	EOF
	chmod +x ../bin/gh &&
	PATH="$TRASH_DIRECTORY/bin:$PATH" git sbx pr --open 1 >../body 2>../err &&
	printf "pr\ncreate\n--head\nsbx/1\n--title\nadd the feature\n--body-file\n" >../expect &&
	head -7 ../gh-args >../got && test_cmp ../expect ../got &&
	test "$(sed -n 9,10p ../gh-args)" = "--base
main" &&
	test_cmp ../body ../gh-body &&
	! grep "gh pr create" ../err
'

test_expect_success 'pr --open without gh says how; a GitHub remote gets the compare URL' '
	cd repo && git remote add gh-remote git@github.com:someone/project.git &&
	git config remote.gh-remote.pushurl ../remote.git &&
	PATH="/usr/bin:/bin:$SBX_BUILD_DIR" git sbx pr --open --remote gh-remote 1 >/dev/null 2>../err &&
	grep "https://github.com/someone/project/compare/main...sbx/1?expand=1" ../err &&
	grep "hint: --open needs gh" ../err
'

test_expect_success 'pr refuses a task without commits, an unknown remote; -h' '
	cd repo && test "$("$helper" create "empty")" = 2 &&
	test_expect_code 128 git sbx pr 2 2>../err && grep "no commits" ../err &&
	test_expect_code 128 git sbx pr --remote nope 1 2>../err && grep "no remote .nope." ../err &&
	git sbx pr -h >../out && grep "^usage: git sbx pr" ../out
'

test_expect_success 'a push git refuses is an error' '
	cd repo && git -C ../remote.git config receive.denyCreates true 2>/dev/null;
	printf "#!/bin/sh\nexit 1\n" >../remote.git/hooks/pre-receive && chmod +x ../remote.git/hooks/pre-receive &&
	git -C ../remote.git update-ref -d refs/heads/sbx/1 &&
	test_expect_code 1 git sbx pr --remote origin 1 >../out 2>../err &&
	grep "cannot push sbx/1 to .origin." ../err && test ! -s ../out
'

test_done
