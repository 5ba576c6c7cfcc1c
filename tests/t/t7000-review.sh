#!/bin/sh
test_description='git sbx review: every part of the page, git pager and colours (for list, show, diff, logs too), --json, --format=markdown'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"
. "$SBX_SRC_DIR/tests/t/review-lib.sh"

esc=$(printf '\033')

test_expect_success 'setup: a task with two commits, checks (one failed, a long log), an audit trail' '
	git init -q repo && cd repo &&
	printf "one\ntwo\n" >a.txt && git add -A && git commit -qm "the base" &&
	test "$(review_task "fix the flaky test
it fails one run in ten" main "
		echo fixed >>a.txt && git commit -qam \"agent: fix a\" &&
		printf \"\\\`\\\`\\\`\\nnot a fence\\n\" >notes.md && printf \"bell\\033]0;owned\\007\\n\" >esc.txt &&
		git add -A && git commit -qm \"agent: ![x](http://e.invalid/p.png) <b>bold</b> \$(printf \"\\033[2J\")\"
	")" = 1 &&
	c=.git/sbx/tasks/1/checks && mkdir "$c" &&
	printf "make test fail 1234\npre-commit pass 12\n" >"$c/1.result" &&
	{ echo "=== make test" &&
	  i=1; while [ $i -le 30 ]; do echo "log line $i"; i=$((i + 1)); done &&
	  printf "FAIL: test_flaky ${esc}[31mred${esc}[m\n" &&
	  echo "=== make test: fail (1234 ms)" &&
	  echo "=== pre-commit" && echo "all good" && echo "=== pre-commit: pass (12 ms)"
	} >"$c/1.log" &&
	cat >.git/sbx/tasks/1/audit.jsonl <<-\EOF
	{"v":1,"kind":"start","time_ms":1700000000000,"task":1,"agent":"claude","image":"default"}
	{"v":1,"kind":"conn","time_ms":1700000001000,"host":"api.anthropic.com","port":443,"method":"CONNECT","decision":"allow","rule":"api.anthropic.com","bytes_up":1234,"bytes_down":5678,"duration_ms":1500}
	{"v":1,"kind":"conn","time_ms":1700000002000,"host":"evil.example","port":80,"method":"GET","path":"/x","decision":"deny","reason":"no rule for this host"}
	{"v":1,"kind":"exec","time_ms":1700000003000,"argv":["claude","-p","fix it"],"exit_code":0,"duration_ms":61000,"timed_out":false}
	EOF
'

test_expect_success 'review: title, state, base, branch, prompt, commits, changes, checks, audit, diff' '
	cd repo && git sbx review 1 >../out &&
	grep "^task 1: fix the flaky test$" ../out &&
	grep "^state: *done (agent exit status 0)$" ../out &&
	grep "^base: *$(git rev-parse main) the base$" ../out &&
	grep "^branch: *sbx/1 at $(git rev-parse --short=12 sbx/1), 2 commits$" ../out &&
	grep "^prompt:$" ../out && grep "^    it fails one run in ten$" ../out &&
	grep "^commits:$" ../out && grep "^    $(git rev-parse --short=7 sbx/1~1) agent: fix a$" ../out &&
	grep "^changes:$" ../out && grep "^ 3 files changed, 4 insertions(+)$" ../out &&
	grep "^ a.txt *| 1 +$" ../out &&
	grep "^checks: failed (1 of 2)$" ../out &&
	grep "^    fail *make test (1.2s)$" ../out && grep "^    pass *pre-commit (12ms)$" ../out &&
	grep "^        | log line 30$" ../out && ! grep "log line 11$" ../out &&
	grep "^        | FAIL: test_flaky ^\[\[31mred^\[\[m$" ../out && ! grep "all good" ../out &&
	grep "^audit:$" ../out && grep "^    network: 1 connection allowed, 1 denied" ../out &&
	grep "^diff --git a/a.txt b/a.txt$" ../out && grep "^+fixed$" ../out &&
	test "$(grep -n "^diff --git" ../out | head -1 | cut -d: -f1)" -gt "$(grep -n "^audit:" ../out | cut -d: -f1)"
'

test_expect_success 'review escapes guest text: no raw ESC or BEL reaches the terminal' '
	cd repo && git sbx review 1 >../out &&
	! grep -q "$esc" ../out && ! grep -q "$(printf "\007")" ../out &&
	grep "^+bell^\[\]0;owned^G$" ../out &&
	grep "agent: !\[x\](http://e.invalid/p.png) <b>bold</b> ^\[\[2J$" ../out
'

test_expect_success 'colours follow color.ui and color.sbx, as git decides them' '
	cd repo &&
	git -c color.ui=always sbx review 1 >../out &&
	grep -F "${esc}[32m+fixed${esc}[m" ../out && grep -F "${esc}[33mtask 1${esc}[m" ../out &&
	grep -F "${esc}[31mfail  ${esc}[m" ../out && grep -F "${esc}[1mdiff --git a/a.txt b/a.txt${esc}[m" ../out &&
	git -c color.ui=never sbx review 1 >../out && ! grep -q "$esc\[3" ../out &&
	git -c color.ui=never -c color.sbx=always sbx review 1 >../out && grep -q "${esc}\[32m" ../out &&
	git sbx review 1 >../out && ! grep -q "${esc}\[3" ../out &&
	git -c color.ui=always sbx list >../out && grep -F "${esc}[32mdone" ../out &&
	git -c color.ui=always sbx show 1 >../out && grep -F "${esc}[33mtask 1" ../out
'

if command -v script >/dev/null 2>&1; then
test_expect_success 'on a terminal: GIT_PAGER, core.pager, pager.sbx, --no-pager, for review, list, show, diff, logs' '
	cd repo && echo "the log" >.git/sbx/tasks/1/log &&
	for c in "review 1" "list" "show 1" "diff 1" "logs 1"; do
		GIT_PAGER="sed s/^/PAGED:/" script -qec "git sbx $c" /dev/null >../out </dev/null &&
		grep -q "^PAGED:" ../out || { echo "$c was not paged"; exit 1; }
	done &&
	GIT_PAGER="sed s/^/PAGED:/" script -qec "git sbx --no-pager review 1" /dev/null >../out </dev/null &&
	! grep -q "^PAGED:" ../out && grep -q "task 1" ../out &&
	git config core.pager "sed s/^/CORE:/" &&
	script -qec "git sbx review 1" /dev/null >../out </dev/null && grep -q "^CORE:" ../out &&
	grep -q "CORE:.*${esc}\[32m+fixed" ../out &&
	git config pager.sbx "sed s/^/SBX:/" &&
	script -qec "git sbx review 1" /dev/null >../out </dev/null && grep -q "^SBX:" ../out &&
	git config pager.sbx false &&
	script -qec "git sbx review 1" /dev/null >../out </dev/null && ! grep -q "^CORE:" ../out &&
	grep -q "task 1" ../out &&
	git config --unset pager.sbx && git config core.pager cat &&
	script -qec "git sbx review 1" /dev/null >../out </dev/null && grep -q "task 1" ../out &&
	git config --unset core.pager
'
else
	say "skipping the pager case: script(1) (bsdutils) is not installed to make a terminal"
fi

test_expect_success 'off a terminal nothing is paged' '
	cd repo && GIT_PAGER="sed s/^/PAGED:/" git sbx review 1 >../out && ! grep -q PAGED ../out
'

test_expect_success 'review --json: parses, with title, checks, audit, diffstat and diff' '
	cd repo && git sbx review --json 1 >../out.json &&
	python3 -m json.tool ../out.json >/dev/null &&
	python3 -c "
import json
r = json.load(open(\"../out.json\"))
assert r[\"id\"] == 1 and r[\"state\"] == \"done\" and r[\"title\"] == \"fix the flaky test\", r
assert r[\"commits\"] == 2 and len(r[\"log\"]) == 2, r
c = r[\"checks\"]
assert [x[\"name\"] for x in c] == [\"make test\", \"pre-commit\"], c
assert c[0][\"status\"] == \"fail\" and c[0][\"duration_ms\"] == 1234 and c[0][\"log_tail_cut\"], c
assert c[0][\"log_tail\"].startswith(\"log line 12\n\"), c[0][\"log_tail\"]
assert r[\"audit\"][\"allowed\"] == 1 and r[\"audit\"][\"denied\"] == 1 and r[\"audit\"][\"commands\"] == 1, r[\"audit\"]
assert \"3 files changed\" in r[\"diffstat\"], r[\"diffstat\"]
assert \"+fixed\n\" in r[\"diff\"] and r[\"diff\"].startswith(\"diff --git\"), r[\"diff\"]
assert r[\"attempts\"] == 0 and r[\"review\"] is None
"
'

test_expect_success 'review --format=markdown: a pull request body with the title and the diff' '
	cd repo && git sbx review --format=markdown 1 >../out.md &&
	test "$(head -1 ../out.md)" = "# fix the flaky test" &&
	grep "^> fix the flaky test$" ../out.md && grep "^> it fails one run in ten$" ../out.md &&
	grep "^## Commits$" ../out.md && grep "^## Checks: failed$" ../out.md &&
	grep "^| make test | fail | 1.2s |$" ../out.md &&
	grep "^## Network and commands (audit trail)$" ../out.md &&
	grep "^## Changes$" ../out.md &&
	grep "^\`\`\`\`diff$" ../out.md && grep "^+fixed$" ../out.md && grep "^+\`\`\`$" ../out.md &&
	test "$(tail -1 ../out.md)" = "\`\`\`\`" &&
	grep -F "agent: \!\[x\](http://e.invalid/p.png) \<b\>bold\</b\> ^\[\[2J" ../out.md &&
	! grep -F "![x]" ../out.md && ! grep -q "$esc" ../out.md
'

test_expect_success 'review of a task without commits, checks or audit; -h; bad options' '
	cd repo && test "$("$helper" create "nothing yet")" = 2 &&
	git sbx review 2 >../out && grep "^task 2: nothing yet$" ../out && grep "^state: *created$" ../out &&
	! grep -e "^checks:" -e "^audit:" -e "^diff --git" -e "^commits:" ../out &&
	git sbx review --json 2 | python3 -m json.tool >/dev/null &&
	git sbx review --format=markdown 2 >../out.md && grep "^# nothing yet$" ../out.md &&
	git sbx review -h >../out && grep "^usage: git sbx review" ../out &&
	test_expect_code 129 git sbx review --format=html 1 &&
	test_expect_code 129 git sbx review --json --format=markdown 1 &&
	test_expect_code 128 git sbx review 9
'

test_expect_success 'a damaged checks file (of the latest run) is shown as unreadable, not fatal' '
	cd repo && echo "garbage" >.git/sbx/tasks/1/checks/3.result &&
	git sbx review 1 >../out && grep "unreadable *3.result line 1" ../out &&
	rm .git/sbx/tasks/1/checks/3.result
'

test_done
