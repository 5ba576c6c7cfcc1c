#!/bin/sh
# tests/bench/warm.sh: `git sbx task` start-to-agent on a large repository,
# booted cold against restored from a warm base (docs/design.md, "Warm bases").
#
#   tests/bench/warm.sh [--files N] [--runs N]
#
# Makes a repository of N files (default 10000) in 100 directories with three
# commits and a busybox+git test image (tests/kvm/image-lib.sh); builds its
# warm base with `git sbx warm`; then, --runs times (default 2), adds a commit
# changing 10 files and runs one task booted cold (sbx.warm false) and one
# restored, each with an agent that does nothing.  Prints each task's boot or
# restore, transfer in and start-to-agent (from `git sbx show --json`), the
# build's time and the warm base's size, and the best ratio warm/cold.
# Without /dev/kvm it reruns itself inside tests/nested/run (our VMM under
# TCG: only ratios mean anything there).
#
# Environment: SBX_BUILD_DIR (default: the current directory, which must
# hold git-sbx), SBX_SRC_DIR (default: this script's tree).
set -eu

files=10000
runs=2
while [ $# -gt 0 ]; do
	case "$1" in
	--files) files=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "warm.sh: unknown option '$1'" >&2; exit 129 ;;
	esac
done

src=${SBX_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${SBX_BUILD_DIR:-$PWD}
export SBX_SRC_DIR=$src SBX_BUILD_DIR=$build
for f in "$build/git-sbx" "$build/tests/t/helper/sbx-test-sudo"; do
	if [ ! -x "$f" ]; then
		echo "warm.sh: no $f (set SBX_BUILD_DIR; make check builds the helpers)" >&2
		exit 125
	fi
done
if ! "$build/tests/kvm/kvm-probe" 2>/dev/null; then
	if [ -n "${SBX_NESTED:-}" ]; then
		echo "warm.sh: no usable /dev/kvm even inside the harness" >&2
		exit 125
	fi
	echo "# no /dev/kvm here: running inside the nested harness (tests/nested/run)" >&2
	exec "$src/tests/nested/run" --timeout 3600 -- "$0" --files "$files" --runs "$runs"
fi

tmpbase=${TMPDIR:-/tmp}
[ -n "${SBX_NESTED:-}" ] && [ -w /dev/shm ] && tmpbase=/dev/shm
tmp=$(mktemp -d "$tmpbase/sbx-bench-warm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/kvm/image-lib.sh"
cd "$tmp"
export HOME="$tmp" GIT_CONFIG_NOSYSTEM=1 SBX_CACHE_DIR="$tmp/cache" TMPDIR="$tmp"
export GIT_AUTHOR_NAME=B GIT_AUTHOR_EMAIL=b@example.com GIT_COMMITTER_NAME=B GIT_COMMITTER_EMAIL=b@example.com
PATH=$build:$PATH

sbx_test_image "$tmp" default git

git init -q -b main repo
(cd repo && for d in $(seq -f 'dir%03g' 0 99); do mkdir "$d"; done &&
	for c in 1 2 3; do
		awk -v n="$files" -v c="$c" 'BEGIN { for (i = 0; i < n; i++) {
		if (c > 1 && i % 10) continue
		f = sprintf("dir%03d/file%05d.txt", i % 100, i)
		printf "file %d\nversion %d of %d\n", i, c, i > f; close(f) } }' &&
		git add -A && git -c gc.auto=0 commit -qm "commit $c" || exit 1
	done && git repack -adq)

(cd repo && git sbx warm) > warm.out 2> warm.err || { cat warm.out warm.err >&2; exit 1; }
key=$(ls repo/.git/sbx/warm | grep '^[0-9a-f]\{64\}$')
printf 'repository: %d files, 3 commits\n' "$files"
printf 'warm base built: %s; %s MiB on disk (memory file %s MiB of data)\n' \
	"$(sed -n 's/.*built in \(.*\)$/\1/p' warm.out)" \
	"$(du -sm "repo/.git/sbx/warm/$key" | cut -f1)" \
	"$(du -m "repo/.git/sbx/warm/$key/memory" | cut -f1)"

ms() {	# FIELD ID
	(cd repo && git sbx show --json "$2") | sed -n "s/.*\"$1\": \\([0-9]*\\).*/\\1/p"
}
id=0
best_cold=
best_warm=
i=1
while [ $i -le "$runs" ]; do
	(cd repo && for f in $(git ls-files | head -n 10); do echo "run $i" >> "$f"; done &&
		git commit -qam "run $i")
	for mode in cold warm; do
		if [ $mode = cold ]; then git -C repo config sbx.warm false; fi
		id=$((id + 1))
		(cd repo && git sbx task --backend kvm --agent-cmd true "bench $mode" > ../task.out 2> ../task.err) ||
			{ cat task.out task.err >&2; exit 1; }
		git -C repo config --unset sbx.warm || true
		boot=$(ms boot $id)
		tin=$(ms transfer_in $id)
		sta=$(ms start_to_agent $id)
		printf '%s run %d: %s %6d ms, transfer in %6d ms, start to agent %6d ms\n' "$mode" "$i" \
			"$([ $mode = cold ] && echo 'boot   ' || echo 'restore')" "$boot" "$tin" "$sta"
		if [ $mode = cold ]; then
			[ -z "$best_cold" ] || [ "$sta" -lt "$best_cold" ] && best_cold=$sta
		else
			grep -q 'restored from warm base' task.out || { echo "warm.sh: task $id did not restore" >&2; cat task.out task.err >&2; exit 1; }
			[ -z "$best_warm" ] || [ "$sta" -lt "$best_warm" ] && best_warm=$sta
		fi
	done
	i=$((i + 1))
done
printf 'start to agent, best of %d: cold %d ms, warm %d ms, ratio %.3f (goal <= 0.1)\n' "$runs" \
	"$best_cold" "$best_warm" "$(echo "$best_warm / $best_cold" | bc -l)"
