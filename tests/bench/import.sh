#!/bin/sh
# tests/bench/import.sh: our import of a result bundle (sbx_bundle_import:
# quarantined indexer, hash, ancestry and reachability checks, pack and ref
# published) against `git fetch` of the same bundle by the git CLI.
#
#   SBX_BUILD_DIR=/path/to/build tests/bench/import.sh [FILES [CHANGED [RUNS]]]
#
# Makes a repository of FILES files (default 10000), a guest clone that
# changes CHANGED of them (default 1000) in one commit, the bundle of that
# commit (git bundle create base..HEAD, as sbx-init does), then imports it
# RUNS times (default 3) into fresh copies of the repository each way and
# prints the best time of each and the ratio.
set -e
: "${SBX_BUILD_DIR:?set SBX_BUILD_DIR to a build directory}"
helper=$SBX_BUILD_DIR/tests/t/helper/sbx-test-task
test -x "$helper" || { echo "build $helper first (make check or make tests/t/helper/sbx-test-task)" >&2; exit 1; }
files=${1:-10000}
changed=${2:-1000}
runs=${3:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sbx-bench-import.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
export HOME="$tmp" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=gc.auto GIT_CONFIG_VALUE_0=0 GIT_AUTHOR_NAME=B GIT_AUTHOR_EMAIL=b@example.com \
	GIT_COMMITTER_NAME=B GIT_COMMITTER_EMAIL=b@example.com

now() { date +%s.%N; }

git init -q -b main repo
(cd repo && for d in $(seq -f 'dir%03g' 0 99); do mkdir "$d"; done &&
	awk -v n="$files" 'BEGIN { for (i = 0; i < n; i++) {
	f = sprintf("dir%03d/file%05d.txt", i % 100, i)
	printf "file %d\nline two of %d\n", i, i > f; close(f) } }' &&
	git add -A && git -c gc.auto=0 commit -qm base && git repack -adq && git branch sbx/1)
git clone -q repo guest
(cd guest && git ls-files | head -n "$changed" | while read -r f; do echo "changed by the agent" >>"$f"; done &&
	git commit -qam "agent: $changed files" && git bundle create -q ../result.bundle origin/main..HEAD)
size=$(wc -c <result.bundle)
want=$(git -C guest rev-parse HEAD)

best_ours= best_git= best_inner=
i=0
while [ $i -lt "$runs" ]; do
	rm -rf a b && cp -a repo a && cp -a repo b
	t0=$(now)
	out=$(cd a && "$helper" bundle-import sbx/1 main ../result.bundle)
	got=${out%% *}
	inner=${out#* }
	t1=$(now)
	(cd b && git fetch -q ../result.bundle HEAD:refs/heads/fetched)
	t2=$(now)
	test "$got" = "$want" && test "$(git -C b rev-parse fetched)" = "$want" &&
		test "$(git -C a rev-parse sbx/1)" = "$want"
	ours=$(echo "$t1 - $t0" | bc -l)
	theirs=$(echo "$t2 - $t1" | bc -l)
	if [ -z "$best_inner" ] || [ "$(echo "$inner < $best_inner" | bc -l)" = 1 ]; then best_inner=$inner; fi
	if [ -z "$best_ours" ] || [ "$(echo "$ours < $best_ours" | bc -l)" = 1 ]; then best_ours=$ours; fi
	if [ -z "$best_git" ] || [ "$(echo "$theirs < $best_git" | bc -l)" = 1 ]; then best_git=$theirs; fi
	i=$((i + 1))
done
printf 'repository: %d files; result: %d changed files, bundle %d bytes\n' "$files" "$changed" "$size"
printf 'sbx import (sbx_bundle_import, process included): %.3f s\n' "$best_ours"
printf '  of which sbx_bundle_import itself:               %.3f s\n' "$best_inner"
printf 'git fetch of the same bundle:                     %.3f s\n' "$best_git"
printf 'ratio sbx/git: %.2f (best of %d runs each)\n' "$(echo "$best_ours / $best_git" | bc -l)" "$runs"
