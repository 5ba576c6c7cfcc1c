#!/bin/bash
# tests/bench/snapshot.sh: memory snapshots against cold boots, in one run.
#
#   tests/bench/snapshot.sh [--runs N] [--memory MIB]
#
# Prints, for the same stock Debian kernel and busybox initramfs:
#   - cold boot to the first command answering on the console vs restore of a
#     snapshot taken at that point to the same answer (medians of N, default
#     5, alternating; ratio restore/cold, goal <= 0.05 on real KVM);
#   - in-place reset (`git sbx vm restore` + SIGUSR2), as the VMM reports it;
#   - the memory (PSS, /proc/PID/smaps_rollup) of 4 VMs restored from one
#     snapshot, each having touched the same pages, against one VM
#     (goal <= 1.3x);
#   - the snapshot's files against guest RAM;
#   - `git sbx task` start-to-agent on a 10,000-file repository, booted cold
#     against restored from its warm base (tests/bench/warm.sh, --task-runs
#     pairs, default 1; --task-runs 0 leaves it out).
# No /dev/kvm here: it reruns itself inside tests/nested/run, where only
# ratios mean anything.
#
# Environment: SBX_BUILD_DIR (default: the current directory, which must
# hold git-sbx), SBX_SRC_DIR (default: this script's tree).
set -eu -o pipefail

runs=5
memory=256
task_runs=1
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs=$2; shift 2 ;;
	--memory) memory=$2; shift 2 ;;
	--task-runs) task_runs=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "snapshot.sh: unknown option '$1'" >&2; exit 129 ;;
	esac
done

src=${SBX_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${SBX_BUILD_DIR:-$PWD}
export SBX_SRC_DIR=$src SBX_BUILD_DIR=$build
if [ ! -x "$build/git-sbx" ]; then
	echo "snapshot.sh: no git-sbx in '$build' (set SBX_BUILD_DIR)" >&2
	exit 125
fi
if ! "$build/tests/kvm/kvm-probe" 2>/dev/null; then
	if [ -n "${SBX_NESTED:-}" ]; then
		echo "snapshot.sh: no usable /dev/kvm even inside the harness" >&2
		exit 125
	fi
	echo "# no /dev/kvm here: running inside the nested harness (tests/nested/run)" >&2
	exec "$src/tests/nested/run" --timeout 3600 -- "$0" --runs "$runs" --memory "$memory" \
		--task-runs "$task_runs"
fi

# The KVM test library gives the kernel, the initramfs builder and a tmpdir.
. "$src/tests/kvm/lib.sh"
kernel=$(kvm_kernel)
gsbx=$build/git-sbx
cat > "$KVM_TMP/t.sh" <<'EOF'
port=
for n in /sys/class/virtio-ports/*/name; do [ "$(cat $n)" = sbx.bench ] && port=$(basename $(dirname $n)); done
exec 3<>/dev/$port
echo ready >&3
# Touch 32 MiB, the same in every VM (4 restored VMs share what they only read).
head -c 33554432 /dev/zero | tr '\0' 'x' > /tmp/touched
while read -r cmd <&3; do
	case $cmd in
	ping) echo pong >&3 ;;
	*) exit 0 ;;
	esac
done
EOF
kvm_initramfs "$KVM_TMP/initrd" "$KVM_TMP/t.sh"

# The console peer: accept, wait for "ready" (a cold boot) or not (a
# restore), send "ping", and print the seconds from ITS start to "pong".
cat > "$KVM_TMP/peer.py" <<'EOF'
import socket, sys, time
t0 = time.monotonic()
path, wait_ready, out = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
quit = len(sys.argv) < 5 or sys.argv[4] != "stay"
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
open(out + ".up", "w").close()
c, _ = srv.accept()
got = b""
if wait_ready:
    while b"ready" not in got:
        b = c.recv(4096)
        if not b:
            sys.exit(1)
        got += b
c.sendall(b"ping\n")
got = b""
while b"pong" not in got:
    b = c.recv(4096)
    if not b:
        sys.exit(1)
    got += b
open(out, "w").write("%.6f\n" % time.monotonic())
if quit:
    c.sendall(b"quit\n")
    time.sleep(0.2)
else:
    try:
        while c.recv(4096):
            pass
    except Exception:
        pass
EOF
sock=$(mktemp -d /dev/shm/sbx-bench.XXXXXX 2>/dev/null || mktemp -d "$KVM_TMP/s.XXXXXX")
now() { python3 -c 'import time; print("%.6f" % time.monotonic())'; }
peer() {	# NAME WAIT_READY [stay]
	rm -f "$sock/$1.sock" "$KVM_TMP/$1.t" "$KVM_TMP/$1.t.up"
	python3 "$KVM_TMP/peer.py" "$sock/$1.sock" "$2" "$KVM_TMP/$1.t" "${3:-quit}" &
	while [ ! -e "$KVM_TMP/$1.t.up" ]; do sleep 0.05; done
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# One snapshot, taken while the guest waits for its first command.
snap=$KVM_TMP/snap
peer save 1 stay
"$gsbx" vm run --kernel "$kernel" --initrd "$KVM_TMP/initrd" --append "$KVM_APPEND" \
	--memory "${memory}M" --console-socket "$sock/save.sock" --console-port sbx.bench \
	--save "$snap" --serial-log "$KVM_TMP/save.serial" --timeout 300 2> "$KVM_TMP/save.err" &
vm=$!
# The guest said "ready" once the peer got it; the peer then pinged: wait for its pong file.
while [ ! -e "$KVM_TMP/save.t" ] && kill -0 $vm 2>/dev/null; do sleep 0.1; done
kill -USR1 $vm
wait $vm || { echo "snapshot.sh: the save failed:" >&2; cat "$KVM_TMP/save.err" >&2; exit 1; }
wait

cold=()
warm=()
for i in $(seq "$runs"); do
	peer cold 1
	t0=$(now)
	"$gsbx" vm run --kernel "$kernel" --initrd "$KVM_TMP/initrd" --append "$KVM_APPEND" \
		--memory "${memory}M" --console-socket "$sock/cold.sock" --console-port sbx.bench \
		--serial-log /dev/null --timeout 300 2>/dev/null || true
	wait
	cold+=("$(awk -v a="$t0" '{ printf "%.4f", $1 - a }' "$KVM_TMP/cold.t")")
	peer warm 0
	t0=$(now)
	"$gsbx" vm restore "$snap" --console-socket "$sock/warm.sock" --serial-log /dev/null \
		--timeout 300 2>/dev/null || true
	wait
	warm+=("$(awk -v a="$t0" '{ printf "%.4f", $1 - a }' "$KVM_TMP/warm.t")")
done
c=$(printf '%s\n' "${cold[@]}" | median)
w=$(printf '%s\n' "${warm[@]}" | median)
echo "cold boot to the first answer:   median ${c} s  (runs: ${cold[*]})"
echo "restore to the first answer:     median ${w} s  (runs: ${warm[*]})"
awk -v c="$c" -v w="$w" 'BEGIN { printf "ratio restore/cold:              %.3f (goal <= 0.05 on real KVM)\n", w / c }'

# In-place resets: 5, as the VMM measures them.
peer reset 0 stay
"$gsbx" vm restore "$snap" --console-socket "$sock/reset.sock" --serial-log /dev/null \
	--timeout 300 2> "$KVM_TMP/reset.err" &
vm=$!
while [ ! -e "$KVM_TMP/reset.t" ] && kill -0 $vm 2>/dev/null; do sleep 0.1; done
for i in 1 2 3 4 5; do
	kill -USR2 $vm
	while ! grep -q "^reset $i" "$KVM_TMP/reset.err" && kill -0 $vm 2>/dev/null; do sleep 0.05; done
done
kill $vm 2>/dev/null || true
wait 2>/dev/null || true
r=$(sed -n 's/^reset [0-9]*: back to the snapshot in \([0-9.]*\) ms/\1/p' "$KVM_TMP/reset.err" | median)
echo "in-place reset (VMM's own time): median ${r} ms  ($(grep -c '^reset' "$KVM_TMP/reset.err") resets)"

# Memory: PSS of the VMM processes of 4 restored VMs vs 1.
pss_of() {	# PIDs of git-sbx: sum the Pss of their vmm-child children
	local total=0 p k
	for p in "$@"; do
		for k in $(pgrep -P "$p"); do
			total=$((total + $(awk '/^Pss:/ { print $2 }' /proc/$k/smaps_rollup 2>/dev/null || echo 0)))
		done
	done
	echo $total
}
run_n() {	# N: restore N VMs, let each answer, measure, stop them
	local n=$1 pids= j
	for j in $(seq "$n"); do
		peer "m$j" 0 stay
		"$gsbx" vm restore "$snap" --console-socket "$sock/m$j.sock" --serial-log /dev/null \
			--timeout 300 2>/dev/null &
		pids="$pids $!"
	done
	for j in $(seq "$n"); do
		while [ ! -e "$KVM_TMP/m$j.t" ]; do sleep 0.1; done
	done
	sleep 1
	pss_of $pids
	kill $pids 2>/dev/null || true
	wait 2>/dev/null || true
}
one=$(run_n 1)
four=$(run_n 4)
echo "memory (PSS of the VMM processes): 1 VM ${one} KiB, 4 VMs ${four} KiB"
awk -v a="$one" -v b="$four" 'BEGIN { printf "ratio 4 VMs / 1 VM:              %.2fx (goal <= 1.3x; 4 separate VMs would be 4x)\n", b / a }'

echo "guest RAM ${memory} MiB; memory file $(du -k "$snap/memory" | cut -f1) KiB on disk" \
     "($(wc -c < "$snap/memory") bytes apparent), state file $(wc -c < "$snap/state") bytes"
rm -rf "$sock"

if [ "$task_runs" -gt 0 ]; then
	echo "git sbx task, cold against warm (tests/bench/warm.sh):"
	"$src/tests/bench/warm.sh" --runs "$task_runs" | sed 's/^/  /'
fi
