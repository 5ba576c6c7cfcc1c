# tests/bench/import-lib.sh: time our import of a result bundle against
# `git fetch` of the same bundle, sourced by import.sh and task.sh.
#
#   bench_import REPO BUNDLE BRANCH BASE WANT RUNS
#
# RUNS times (fresh copies of REPO each time, alternating): the test helper's
# `bundle-import BRANCH BASE BUNDLE` (sbx_bundle_import: quarantined indexer,
# hash, ancestry and reachability checks, pack and ref published) and
# `git fetch -q BUNDLE HEAD:refs/heads/fetched`; checks both reached WANT and
# prints the best of each and the ratio.  Needs $helper (sbx-test-task).

bench_now() { date +%s.%N; }

bench_min() {
	if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi
}

bench_import() {
	b_repo=$1 b_bundle=$2 b_branch=$3 b_base=$4 b_want=$5 b_runs=$6
	best_ours= best_git= best_inner=
	b_i=0
	while [ $b_i -lt "$b_runs" ]; do
		rm -rf "$b_repo.a" "$b_repo.b" && cp -a "$b_repo" "$b_repo.a" && cp -a "$b_repo" "$b_repo.b"
		t0=$(bench_now)
		out=$(cd "$b_repo.a" && "$helper" bundle-import "$b_branch" "$b_base" "$b_bundle")
		t1=$(bench_now)
		(cd "$b_repo.b" && git fetch -q "$b_bundle" HEAD:refs/heads/fetched)
		t2=$(bench_now)
		got=${out%% *}
		inner=${out#* }
		test "$got" = "$b_want" && test "$(git -C "$b_repo.b" rev-parse fetched)" = "$b_want" &&
			test "$(git -C "$b_repo.a" rev-parse "$b_branch")" = "$b_want" || {
			echo "bench_import: the imports disagree ($got, want $b_want)" >&2
			return 1
		}
		best_inner=$(bench_min "$best_inner" "$inner")
		best_ours=$(bench_min "$best_ours" "$(echo "$t1 - $t0" | bc -l)")
		best_git=$(bench_min "$best_git" "$(echo "$t2 - $t1" | bc -l)")
		b_i=$((b_i + 1))
	done
	rm -rf "$b_repo.a" "$b_repo.b"
	printf 'sbx import (sbx_bundle_import, process included): %.3f s\n' "$best_ours"
	printf '  of which sbx_bundle_import itself:               %.3f s\n' "$best_inner"
	printf 'git fetch of the same bundle:                     %.3f s\n' "$best_git"
	printf 'ratio sbx/git: %.2f (best of %d runs each)\n' "$(echo "$best_ours / $best_git" | bc -l)" "$b_runs"
}
