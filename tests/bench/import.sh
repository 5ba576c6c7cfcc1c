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
. "$(dirname "$0")/import-lib.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sbx-bench-import.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
export HOME="$tmp" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=gc.auto GIT_CONFIG_VALUE_0=0 GIT_AUTHOR_NAME=B GIT_AUTHOR_EMAIL=b@example.com \
	GIT_COMMITTER_NAME=B GIT_COMMITTER_EMAIL=b@example.com

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
printf 'repository: %d files; result: %d changed files, bundle %d bytes\n' "$files" "$changed" "$size"
bench_import "$tmp/repo" "$tmp/result.bundle" sbx/1 main "$want" "$runs"
