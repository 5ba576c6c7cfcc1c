#!/bin/sh
# tests/bench/checkpoint.sh: checkpoints, continue and attempts against their
# peers in one run (docs/design.md, "Checkpoints, rewind and continue").
#
#   tests/bench/checkpoint.sh [--commits N]
#
# With a busybox+git test image (tests/kvm/image-lib.sh) and a small
# repository, prints:
#   1. the pause of a checkpoint against a full snapshot of the same VM: a
#      task booted cold (sbx.warm false) whose first checkpoint is a full
#      memory save, then N small commits (default 5), each a diff checkpoint;
#      ratio of the median diff pause to the full one (goal <= 1/20);
#   2. the disk and memory bytes of each commit's checkpoint (one line
#      changed in one file);
#   3. a rewind + continue to the agent's first command against a cold `git
#      sbx task` to the same point (start and transfer-in steps, from `git
#      sbx show --json`), ratio;
#   4. `git sbx task --attempts 4` (one warm start) against 4 cold tasks one
#      after the other: wall time, and the host's peak memory in use above
#      what it was before (MemTotal - MemAvailable, sampled every 0.2 s).
# Without /dev/kvm it reruns itself inside tests/nested/run (our VMM under
# TCG: only ratios mean anything there).
#
# Environment: SBX_BUILD_DIR (default: the current directory, which must
# hold git-sbx), SBX_SRC_DIR (default: this script's tree).
set -eu

commits=5
while [ $# -gt 0 ]; do
	case "$1" in
	--commits) commits=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "checkpoint.sh: unknown option '$1'" >&2; exit 129 ;;
	esac
done

src=${SBX_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${SBX_BUILD_DIR:-$PWD}
export SBX_SRC_DIR=$src SBX_BUILD_DIR=$build
for f in "$build/git-sbx" "$build/tests/t/helper/sbx-test-sudo"; do
	if [ ! -x "$f" ]; then
		echo "checkpoint.sh: no $f (set SBX_BUILD_DIR; make check builds the helpers)" >&2
		exit 125
	fi
done
if ! "$build/tests/kvm/kvm-probe" 2>/dev/null; then
	if [ -n "${SBX_NESTED:-}" ]; then
		echo "checkpoint.sh: no usable /dev/kvm even inside the harness" >&2
		exit 125
	fi
	echo "# no /dev/kvm here: running inside the nested harness (tests/nested/run)" >&2
	exec "$src/tests/nested/run" --timeout 3600 -- "$0" --commits "$commits"
fi

tmpbase=${TMPDIR:-/tmp}
[ -n "${SBX_NESTED:-}" ] && [ -w /dev/shm ] && tmpbase=/dev/shm
tmp=$(mktemp -d "$tmpbase/sbx-bench-ckpt.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
. "$src/tests/kvm/image-lib.sh"
. "$src/tests/t/task-lib.sh"
cd "$tmp"
export HOME="$tmp" GIT_CONFIG_NOSYSTEM=1 SBX_CACHE_DIR="$tmp/cache" TMPDIR="$tmp"
export GIT_AUTHOR_NAME=B GIT_AUTHOR_EMAIL=b@example.com GIT_COMMITTER_NAME=B GIT_COMMITTER_EMAIL=b@example.com
PATH=$build:$PATH
git config --global init.defaultBranch main

sbx_test_image "$tmp" default git
task_repo repo
git -C repo config sbx.checkpointInterval 0
git -C repo config sbx.maxCheckpoints 100

now() { date +%s.%N; }
json() {	# ID: show --json
	(cd repo && git sbx show --json "$1")
}
start_ms() {	# ID: the start and transfer-in steps
	json "$1" | python3 -c "
import json, sys
t = json.load(sys.stdin)['timing_ms']
print(int(t.get('boot', t.get('start', 0))) + int(t.get('transfer_in', 0)))"
}
# Memory in use now (kB): MemTotal - MemAvailable.
used_kb() { awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { print t - a }' /proc/meminfo; }
# Run a command while sampling memory; prints "<seconds> <peak kB above the start>".
measure() {
	base=$(used_kb)
	peak=$base
	t0=$(now)
	"$@" &
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		u=$(used_kb)
		[ "$u" -gt "$peak" ] && peak=$u
		sleep 0.2
	done
	wait $pid || { echo "checkpoint.sh: '$*' failed" >&2; return 1; }
	awk -v s="$t0" -v e="$(now)" -v p="$peak" -v b="$base" 'BEGIN { printf "%.1f %d\n", e - s, p - b }'
}

# 1, 2: one cold-booted task, N small commits.
cat > commits.sh <<EOF
#!/bin/sh
set -e
i=1
while [ \$i -le $commits ]; do
	echo "change \$i" >> src/main.c
	git commit -q -a -m "small commit \$i"
	sleep 2
	i=\$((i + 1))
done
EOF
chmod +x commits.sh
git -C repo config sbx.warm false
(cd repo && git sbx task --backend kvm --agent script:../commits.sh "bench commits" > ../t1.out 2> ../t1.err) ||
	{ cat t1.out t1.err >&2; exit 1; }
git -C repo config --unset sbx.warm
(cd repo && git sbx checkpoints --json 1) > cps.json
python3 - <<'PY'
import json, statistics
cs = json.load(open("cps.json"))
full = cs[0]
diffs = [c for c in cs if c["reason"] == "commit"]
if full["reason"] != "start" or not diffs:
    raise SystemExit("checkpoint.sh: unexpected checkpoints: %r" % [c["reason"] for c in cs])
med = statistics.median(c["pause_us"] for c in diffs)
print("1. checkpoint pause: full (the cold boot's first) %.1f ms; commit checkpoints (diffs) "
      "median %.1f ms of %d; ratio %.3f (goal <= 0.05)" % (full["pause_us"] / 1000, med / 1000,
      len(diffs), med / full["pause_us"]))
print("2. per commit checkpoint (one line in one file): disk %s bytes, memory %s bytes "
      "(median %d, %d); the full one's memory %d bytes" % (
      ",".join(str(c["disk_bytes"]) for c in diffs), ",".join(str(c["memory_bytes"]) for c in diffs),
      statistics.median(c["disk_bytes"] for c in diffs),
      statistics.median(c["memory_bytes"] for c in diffs), full["memory_bytes"]))
PY

# 3: rewind + continue to the agent against a cold task to the same point.
cp=$(python3 -c "import json; print([c['id'] for c in json.load(open('cps.json')) if c['reason'] == 'commit'][1])")
(cd repo && git sbx rewind 1 --to "$cp" > ../rw.out)
(cd repo && git sbx continue --agent-cmd true 1 "bench continue" > ../c.out 2> ../c.err) ||
	{ cat c.out c.err >&2; exit 1; }
cont=$(start_ms 1)
git -C repo config sbx.warm false
(cd repo && git sbx task --backend kvm --agent-cmd true "bench cold" > ../t2.out 2> ../t2.err) ||
	{ cat t2.out t2.err >&2; exit 1; }
git -C repo config --unset sbx.warm
cold=$(start_ms 2)
printf '3. to the agent: rewind + continue %d ms (restore + prompt), cold task %d ms (boot + transfer in); ratio %.3f\n' \
	"$cont" "$cold" "$(echo "$cont / $cold" | bc -l)"

# 4: 4 attempts from one warm start against 4 cold tasks in a row.
(cd repo && git sbx warm > ../warm.out 2>&1) || { cat warm.out >&2; exit 1; }
set -- $(measure sh -c 'cd repo && git sbx task --backend kvm --attempts 4 --agent-cmd "echo hi > hi.txt" "bench attempts" > ../a.out 2> ../a.err')
att_s=$1 att_kb=$2
git -C repo config sbx.warm false
set -- $(measure sh -c 'cd repo && for i in 1 2 3 4; do git sbx task --backend kvm --agent-cmd "echo hi > hi.txt" "bench cold $i" || exit 1; done > ../s.out 2> ../s.err')
seq_s=$1 seq_kb=$2
git -C repo config --unset sbx.warm
printf '4. 4 attempts from one warm start: %s s, peak memory +%d MiB; 4 cold tasks in a row: %s s, +%d MiB; time ratio %.3f, memory ratio %.3f\n' \
	"$att_s" $((att_kb / 1024)) "$seq_s" $((seq_kb / 1024)) "$(echo "$att_s / $seq_s" | bc -l)" \
	"$(echo "$att_kb / $seq_kb" | bc -l)"
grep -i 'parallel' a.out a.err | head -2 | sed 's/^/   /'
