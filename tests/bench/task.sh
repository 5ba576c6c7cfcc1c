#!/bin/sh
# tests/bench/task.sh: one `git sbx task` on a large repository, its time
# breakdown, and our import of its result against `git fetch` of the same
# bundle by the git CLI.
#
#   tests/bench/task.sh [--files N] [--changed N] [--runs N] [--backend kvm|qemu]
#
# Makes a repository of N files (default 10000) in 100 directories with
# three commits, a busybox+git test image (tests/kvm/image-lib.sh), and a
# scripted agent that changes --changed files (default 1000) and adds 100 in
# one commit, then changes 100 more and leaves them for git-sbx to commit.
# Prints the task's five timings (boot, transfer in, agent, transfer out,
# import) and its wall time, then rebuilds the result as a bundle and times
# our import against `git fetch` into fresh clones, best of --runs (3).
# Without /dev/kvm it reruns itself inside tests/nested/run (our VMM under
# TCG: only ratios mean anything there) unless --backend qemu is given.
#
# Environment: SBX_BUILD_DIR (default: the current directory, which must
# hold git-sbx), SBX_SRC_DIR (default: this script's tree).
set -eu

files=10000
changed=1000
runs=3
backend=
while [ $# -gt 0 ]; do
	case "$1" in
	--files) files=$2; shift 2 ;;
	--changed) changed=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--backend) backend=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "task.sh: unknown option '$1'" >&2; exit 129 ;;
	esac
done

src=${SBX_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${SBX_BUILD_DIR:-$PWD}
export SBX_SRC_DIR=$src SBX_BUILD_DIR=$build
helper=$build/tests/t/helper/sbx-test-task
for f in "$build/git-sbx" "$helper" "$build/tests/t/helper/sbx-test-sudo"; do
	if [ ! -x "$f" ]; then
		echo "task.sh: no $f (set SBX_BUILD_DIR; make check builds the helpers)" >&2
		exit 125
	fi
done
if [ "$backend" != qemu ] && ! "$build/tests/kvm/kvm-probe" 2>/dev/null; then
	if [ -n "${SBX_NESTED:-}" ]; then
		echo "task.sh: no usable /dev/kvm even inside the harness" >&2
		exit 125
	fi
	echo "# no /dev/kvm here: running inside the nested harness (tests/nested/run)" >&2
	exec "$src/tests/nested/run" --timeout 3600 -- "$0" --files "$files" --changed "$changed" \
		--runs "$runs" --backend kvm
fi
[ -n "$backend" ] || backend=kvm

tmpbase=${TMPDIR:-/tmp}
[ -n "${SBX_NESTED:-}" ] && [ -w /dev/shm ] && tmpbase=/dev/shm
tmp=$(mktemp -d "$tmpbase/sbx-bench-task.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/kvm/image-lib.sh"
. "$src/tests/bench/import-lib.sh"
cd "$tmp"
export HOME="$tmp" GIT_CONFIG_NOSYSTEM=1 SBX_CACHE_DIR="$tmp/cache" TMPDIR="$tmp"
export GIT_AUTHOR_NAME=B GIT_AUTHOR_EMAIL=b@example.com GIT_COMMITTER_NAME=B GIT_COMMITTER_EMAIL=b@example.com
PATH=$build:$PATH

sbx_test_image "$tmp" bench git

git init -q -b main repo
(cd repo && for d in $(seq -f 'dir%03g' 0 99); do mkdir "$d"; done &&
	for c in 1 2 3; do
		awk -v n="$files" -v c="$c" 'BEGIN { for (i = 0; i < n; i++) {
		if (c > 1 && i % 10) continue
		f = sprintf("dir%03d/file%05d.txt", i % 100, i)
		printf "file %d\nversion %d of %d\n", i, c, i > f; close(f) } }' &&
		git add -A && git -c gc.auto=0 commit -qm "commit $c" || exit 1
	done && git repack -adq)

cat > agent.sh <<EOF
#!/bin/sh
set -e
git ls-files | head -n $changed | while read -r f; do echo "changed by the agent" >> "\$f"; done
mkdir -p new && for i in \$(seq 1 100); do echo "new file \$i" > "new/file\$i.txt"; done
git add -A && git commit -q -m "agent: $changed files changed, 100 added"
git ls-files | tail -n 100 | while read -r f; do echo "left uncommitted" >> "\$f"; done
EOF

t0=$(bench_now)
(cd repo && git sbx task --backend "$backend" --image bench --agent script:../agent.sh \
	"benchmark" >../task.out 2>../task.err) || { cat task.out task.err >&2; exit 1; }
t1=$(bench_now)
(cd repo && git sbx show --json 1) > show.json
ms() { sed -n "s/.*\"$1\": \\([0-9]*\\).*/\\1/p" show.json; }
commits=$(git -C repo rev-list --count main..sbx/1)
printf 'repository: %d files, 3 commits; the agent changed %d files, added 100, left 100 uncommitted\n' \
	"$files" "$changed"
printf 'task on %s: %d commits back\n' "$backend" "$commits"
printf '  boot          %6d ms\n' "$(ms boot)"
printf '  transfer in   %6d ms\n' "$(ms transfer_in)"
printf '  agent         %6d ms\n' "$(ms agent)"
printf '  transfer out  %6d ms\n' "$(ms transfer_out)"
printf '  import        %6d ms   (worktree update included)\n' "$(ms import)"
printf '  whole command %6.0f ms   (task creation and worktree checkout included)\n' \
	"$(echo "($t1 - $t0) * 1000" | bc -l)"

# The same result as a bundle (ref HEAD, as the guest sends it), imported
# into a clone that has only main, both ways.
(cd repo/.git/sbx/worktrees/1 && git bundle create -q "$tmp/result.bundle" main..HEAD)
git clone -q --no-local --single-branch -b main repo clean
git -C clean branch sbx/1 main
printf 'result bundle: %d bytes\n' "$(wc -c < result.bundle)"
bench_import "$tmp/clean" "$tmp/result.bundle" sbx/1 main "$(git -C repo rev-parse sbx/1)" "$runs"
