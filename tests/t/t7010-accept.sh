#!/bin/sh
test_description='git sbx accept (merge, squash, rebase, ff-only), reject and apply: the history each gives, and refusals that change nothing'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"
. "$SBX_SRC_DIR/tests/t/review-lib.sh"

# Two commits of the agent's, touching files main does not.
two_commits='echo t1 >>a.txt && git commit -qam "agent: first" && echo new >"new-$_id.txt" && git add -A && git commit -qm "agent: second"'

test_expect_success 'setup: main moved on after the base; tasks 1-6 on the base' '
	git init -q repo && cd repo &&
	git config user.name "Host User" && git config user.email host@example.com &&
	printf "1\n2\n3\n" >a.txt && echo b >b.txt && git add -A && git commit -qm base &&
	for i in 1 2 3 4 5 6; do
		test "$(review_task "task $i: change a
the details" main "$two_commits")" = $i || exit 1
	done &&
	echo c >c.txt && git add c.txt && git commit -qm "main: c" &&
	git rev-parse main >../main0 && git rev-parse main~1 >../base
'

test_expect_success 'accept --merge: a merge commit of main and sbx/1, the record says who, when, how' '
	cd repo && main0=$(cat ../main0) &&
	git sbx accept --merge 1 >../out &&
	grep "Accepted task 1 into main with merge" ../out &&
	test "$(git rev-parse HEAD^1)" = "$main0" &&
	test "$(git rev-parse HEAD^2)" = "$(git rev-parse sbx/1)" &&
	git log -1 --format=%B >../msg && grep "^Merge branch .sbx/1.$" ../msg && grep "^sbx task 1: task 1: change a$" ../msg &&
	test "$(git log -1 --format="%an %cn")" = "A U Thor C O Mitter" &&
	test "$(git reflog -1 --format=%gs main)" = "sbx accept 1 (merge): sbx/1" &&
	test -z "$(git status --porcelain)" && test -f c.txt && grep t1 a.txt &&
	git sbx show --json 1 >../j && python3 -c "
import json
t = json.load(open(\"../j\"))
assert t[\"state\"] == \"accepted\", t
r = t[\"review\"]
assert r[\"by\"] == \"C O Mitter <committer@example.com>\", r
assert r[\"mode\"] == \"merge\" and r[\"into\"] == \"refs/heads/main\", r
assert r[\"at_ms\"] == 1700000000000, r
assert r[\"commit\"] == \"$(git rev-parse HEAD)\", r
" &&
	git sbx show 1 >../s && grep "^state: *accepted" ../s &&
	grep "^accepted: .* by C O Mitter <committer@example.com> into main (merge) at $(git rev-parse --short=12 HEAD)$" ../s
'

test_expect_success 'accept --squash: one new commit on main with the merged tree' '
	cd repo && git reset -q --hard "$(cat ../main0)" &&
	tree=$(git merge-tree --write-tree main sbx/2) &&
	git sbx accept --squash 2 &&
	test "$(git rev-parse HEAD~1)" = "$(cat ../main0)" &&
	test "$(git rev-list --count --parents -1 HEAD | wc -w)" -eq 1 &&
	test "$(git rev-parse HEAD^{tree})" = "$tree" &&
	test -z "$(git rev-parse -q --verify HEAD^2)" &&
	git log -1 --format=%B >../msg &&
	test "$(head -1 ../msg)" = "task 2: change a" &&
	grep "^\* agent: first$" ../msg && grep "^\* agent: second$" ../msg &&
	test -z "$(git status --porcelain)"
'

test_expect_success 'accept --rebase: the task commits replayed on main, authors kept' '
	cd repo && git reset -q --hard "$(cat ../main0)" &&
	tree=$(git merge-tree --write-tree main sbx/3) &&
	git sbx accept --rebase 3 &&
	git log --format=%s "$(cat ../main0)..HEAD" >../subjects &&
	printf "agent: second\nagent: first\n" >../expect && test_cmp ../expect ../subjects &&
	test -z "$(git rev-list --merges "$(cat ../main0)..HEAD")" &&
	test "$(git rev-parse HEAD~2)" = "$(cat ../main0)" &&
	test "$(git log -1 --format="%an <%ae> / %cn" HEAD)" = "Agent <agent@sbx.invalid> / C O Mitter" &&
	test "$(git rev-parse HEAD^{tree})" = "$tree" &&
	test "$(git rev-parse sbx/3)" != "$(git rev-parse HEAD)" &&
	test -z "$(git status --porcelain)"
'

test_expect_success 'accept --ff-only: refused when main moved on; leaves everything byte-identical' '
	cd repo && git reset -q --hard "$(cat ../main0)" &&
	review_fingerprint >../before &&
	test_expect_code 1 git sbx accept --ff-only 4 2>../err &&
	grep "not possible to fast-forward" ../err && grep "hint: nothing was changed" ../err &&
	review_fingerprint >../after && test_cmp ../before ../after
'

test_expect_success 'accept --ff-only, and --rebase, fast-forward main when it is at the base' '
	cd repo && git reset -q --hard "$(cat ../base)" &&
	git sbx accept --ff-only 4 >../out && grep "Fast-forwarded main to sbx/4" ../out &&
	test "$(git rev-parse HEAD)" = "$(git rev-parse sbx/4)" &&
	test -z "$(git status --porcelain)" &&
	git reset -q --hard "$(cat ../base)" &&
	git sbx accept --rebase 5 && test "$(git rev-parse HEAD)" = "$(git rev-parse sbx/5)" &&
	test "$(git sbx show --json 5 | python3 -c "import json,sys; print(json.load(sys.stdin)[\"review\"][\"mode\"])")" = rebase
'

test_expect_success 'sbx.acceptMode gives the default; a bad value is refused' '
	cd repo && git reset -q --hard "$(cat ../main0)" &&
	git config sbx.acceptMode bogus &&
	test_expect_code 128 git sbx accept 6 2>../err && grep "sbx.acceptMode" ../err &&
	git config sbx.acceptMode squash &&
	git sbx accept 6 && test -z "$(git rev-parse -q --verify HEAD^2)" &&
	test "$(git rev-parse HEAD~1)" = "$(cat ../main0)" &&
	git config --unset sbx.acceptMode
'

test_expect_success 'accept of an accepted task, with two modes, or on a detached HEAD is refused' '
	cd repo && test_expect_code 1 git sbx accept 1 2>../err && grep "accepted already" ../err &&
	test_expect_code 129 git sbx accept --merge --squash 1 &&
	test "$(review_task "detached" main "$two_commits")" = 7 &&
	git checkout -q --detach && review_fingerprint >../before &&
	test_expect_code 1 git sbx accept 7 2>../err && grep "HEAD is detached" ../err &&
	review_fingerprint >../after && test_cmp ../before ../after &&
	git checkout -q main
'

test_expect_success 'a dirty worktree (a change, a staged change) is refused in every mode, nothing changed' '
	cd repo && git reset -q --hard "$(cat ../main0)" &&
	echo local >>b.txt &&
	for m in merge squash rebase ff-only; do
		review_fingerprint >../before &&
		test_expect_code 1 git sbx accept --$m 7 2>../err &&
		grep "local changes (.b.txt.) are not committed" ../err &&
		review_fingerprint >../after && test_cmp ../before ../after || exit 1
	done &&
	git add b.txt && review_fingerprint >../before &&
	test_expect_code 1 git sbx accept 7 2>../err && grep "local changes" ../err &&
	review_fingerprint >../after && test_cmp ../before ../after &&
	git reset -q --hard
'

test_expect_success 'an untracked file where the result adds one is refused, nothing changed' '
	cd repo && test "$(review_task "adds d" main "echo theirs >d.txt && git add d.txt && git commit -qm d")" = 8 &&
	echo mine >d.txt && review_fingerprint >../before &&
	test_expect_code 1 git sbx accept 8 2>../err && grep "untracked files would be overwritten (.d.txt.)" ../err &&
	review_fingerprint >../after && test_cmp ../before ../after &&
	test "$(cat d.txt)" = mine && rm d.txt
'

test_expect_success 'a conflict is refused in merge, squash and rebase, leaving everything byte-identical' '
	cd repo && test "$(review_task "conflict" main "printf \"agent\n2\n3\n\" >a.txt && git commit -qam \"agent: a\"")" = 9 &&
	printf "host\n2\n3\n" >a.txt && git commit -qam "main: a" &&
	for m in merge squash rebase; do
		review_fingerprint >../before &&
		test_expect_code 1 git sbx accept --$m 9 2>../err &&
		grep "conflicts (.a.txt.)" ../err && grep "^hint: nothing was changed" ../err &&
		review_fingerprint >../after && test_cmp ../before ../after || exit 1
	done &&
	test "$(git sbx show --json 9 | python3 -c "import json,sys; print(json.load(sys.stdin)[\"state\"])")" = done
'

test_expect_success 'apply: the changes in the working tree, uncommitted, index untouched' '
	cd repo && git reset -q --hard "$(cat ../main0)" &&
	test "$(review_task "to apply" main "echo applied >>b.txt && echo e >e.txt && git rm -q c.txt 2>/dev/null; git add -A && git commit -qm apply")" = 10 &&
	head=$(git rev-parse HEAD) && index=$(sha1sum <.git/index) &&
	git sbx apply 10 >../out && grep "Applied task 10" ../out &&
	test "$(git rev-parse HEAD)" = "$head" && test "$(sha1sum <.git/index)" = "$index" &&
	grep applied b.txt && test "$(cat e.txt)" = e &&
	git status --porcelain >../st && grep "^ M b.txt$" ../st && grep "^?? e.txt$" ../st &&
	test "$(git sbx show --json 10 | python3 -c "import json,sys; print(json.load(sys.stdin)[\"state\"])")" = done &&
	git reset -q --hard && rm e.txt
'

test_expect_success 'apply refuses a dirty path it touches and a file in the way; other changes are fine' '
	cd repo && echo mine >>b.txt && review_fingerprint >../before &&
	test_expect_code 1 git sbx apply 10 2>../err && grep "local changes to .b.txt. would be overwritten" ../err &&
	review_fingerprint >../after && test_cmp ../before ../after &&
	git checkout -q b.txt && echo mine >e.txt && review_fingerprint >../before &&
	test_expect_code 1 git sbx apply 10 2>../err && grep "untracked files would be overwritten (.e.txt.)" ../err &&
	review_fingerprint >../after && test_cmp ../before ../after && rm e.txt &&
	echo other >>a.txt && git sbx apply 10 && grep applied b.txt && grep other a.txt &&
	git reset -q --hard && rm -f e.txt
'

test_expect_success 'apply refuses a patch that does not apply, nothing changed' '
	cd repo && printf "x\ny\n" >b.txt && git commit -qam "main: b rewritten" &&
	review_fingerprint >../before &&
	test_expect_code 1 git sbx apply 10 2>../err && grep "do not apply" ../err &&
	review_fingerprint >../after && test_cmp ../before ../after
'

test_expect_success 'reject: state rejected with who and when; the branch stays' '
	cd repo && git sbx reject 9 >../out && grep "Rejected task 9" ../out &&
	git rev-parse --verify -q sbx/9 &&
	git sbx show 9 >../s && grep "^state: *rejected" ../s && grep "^rejected: .* by C O Mitter <committer@example.com>$" ../s &&
	test_expect_code 1 git sbx reject 1 2>../err && grep "accepted already" ../err
'

test_expect_success 'reject --rm: rejected and removed like git sbx rm' '
	cd repo && git sbx reject --rm 10 >../out && grep "Rejected and removed task 10 (branch sbx/10 deleted)" ../out &&
	test_must_fail git rev-parse --verify -q sbx/10 &&
	test_expect_code 128 git sbx show 10 &&
	test_path_is_missing .git/sbx/worktrees/10
'

test_expect_success 'git sbx list shows accepted and rejected' '
	cd repo && git sbx list >../out &&
	grep "^1 *accepted " ../out && grep "^9 *rejected " ../out && grep "^8 *done " ../out
'

test_expect_success 'old records (no review lines) still read; new ones round-trip' '
	cd repo && ! grep -q "^reviewed" .git/sbx/tasks/7/record &&
	grep "^reviewer C O Mitter <committer@example.com>$" .git/sbx/tasks/1/record &&
	grep "^accept-mode merge$" .git/sbx/tasks/1/record &&
	grep "^accept-into refs/heads/main$" .git/sbx/tasks/1/record &&
	grep "^accept-commit [0-9a-f]\{40\}$" .git/sbx/tasks/1/record
'

test_expect_success 'accept, reject and apply have -h' '
	for c in accept reject apply; do
		git sbx $c -h >../out && grep "^usage: git sbx $c" ../out || exit 1
	done &&
	git sbx accept -h | grep -e "--ff-only"
'

test_done
