#!/bin/bash
# tests/bench/boot.sh: boot time to the init script, our VMM against QEMU.
#
#   tests/bench/boot.sh [--runs N] [--cpus N] [--memory MIB] [--kernel FLAVOUR]
#
# Boots the same stock Debian kernel (default cloud-amd64) and the same tiny
# initramfs (busybox; /init prints a marker and powers off at once) with
# `git sbx vm run` and with `qemu-system-x86_64 -accel kvm -M microvm`, N
# times each (default 5), alternating, and prints for each the median wall
# time from starting the process to the marker on the serial console and to
# the process's exit, the ratio ours/QEMU, our VMM's resident memory beyond
# the guest's RAM (VmRSS minus resident guest pages, from
# SBX_VM_STATS=1) and each process's peak RSS.  No /dev/kvm here: it reruns
# itself inside tests/nested/run, where only ratios mean anything.
#
# Environment: SBX_BUILD_DIR (default: the current directory, which must
# hold git-sbx), SBX_SRC_DIR (default: this script's tree).
set -eu

runs=5
cpus=1
memory=256
flavour=cloud-amd64
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--memory) memory=$2; shift 2 ;;
	--kernel) flavour=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "boot.sh: unknown option '$1'" >&2; exit 129 ;;
	esac
done

src=${SBX_SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${SBX_BUILD_DIR:-$PWD}
export SBX_SRC_DIR=$src SBX_BUILD_DIR=$build
if [ ! -x "$build/git-sbx" ]; then
	echo "boot.sh: no git-sbx in '$build' (set SBX_BUILD_DIR)" >&2
	exit 125
fi
if ! "$build/tests/kvm/kvm-probe" 2>/dev/null; then
	if [ -n "${SBX_NESTED:-}" ]; then
		echo "boot.sh: no usable /dev/kvm even inside the harness" >&2
		exit 125
	fi
	echo "# no /dev/kvm here: running inside the nested harness (tests/nested/run)" >&2
	exec "$src/tests/nested/run" --timeout 3600 -- "$0" --runs "$runs" --cpus "$cpus" \
		--memory "$memory" --kernel "$flavour"
fi

. "$src/tests/nested/kernel-dir.sh"
kdir=$(sbx_nested_kernel_dir "$flavour")
tmpbase=${TMPDIR:-/tmp}
[ -n "${SBX_NESTED:-}" ] && [ -w /dev/shm ] && tmpbase=/dev/shm
tmp=$(mktemp -d "$tmpbase/sbx-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp "$kdir"/boot/vmlinuz-* "$tmp/vmlinuz"

# The initramfs: busybox and an /init that says it runs and powers off.
mkdir -p "$tmp/root/bin" "$tmp/root/proc" "$tmp/root/dev"
cp "$(command -v busybox)" "$tmp/root/bin/busybox"
ln -s busybox "$tmp/root/bin/sh"
cat > "$tmp/root/init" <<'EOF'
#!/bin/sh
echo SBX-BENCH-INIT
/bin/busybox poweroff -f
EOF
chmod +x "$tmp/root/init"
(cd "$tmp/root" && find . | cpio -o -H newc --quiet) > "$tmp/initrd"

append="console=ttyS0 quiet panic=-1 rdinit=/init"
cat > "$tmp/measure.py" <<'EOF'
import os, subprocess, sys, threading, time
# measure.py OUT -- CMD...: run CMD, time the marker on its stdout and its exit.
out, cmd = sys.argv[1], sys.argv[3:]
env = dict(os.environ, SBX_VM_STATS="1")
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
marker = None
# A guest that never gets to its init, or never powers off after it, must
# not hang the benchmark: 300 s to the marker, then 30 s to exit.
killer = threading.Timer(300, p.kill)
killer.start()
for line in p.stdout:
    if marker is None and b"SBX-BENCH-INIT" in line:
        marker = time.monotonic() - t0
        killer.cancel()
        killer = threading.Timer(30, p.kill)
        killer.start()
err = p.stderr.read().decode(errors="replace")
killer.cancel()
_, status, ru = os.wait4(p.pid, 0)
total = time.monotonic() - t0
overhead = ""
for l in err.splitlines():
    if l.startswith("vm-stats:"):
        overhead = dict(kv.split("=") for kv in l.split()[1:])["overhead-kib"]
with open(out, "a") as f:
    f.write("%s %.4f %d %s %s\n" % ("-" if marker is None else "%.4f" % marker, total,
            ru.ru_maxrss, overhead or "-", os.waitstatus_to_exitcode(status)))
if marker is None:
    sys.stderr.write("boot.sh: no marker from %s; stderr:\n%s\n" % (cmd[0], err[-2000:]))
EOF

ours() {
	python3 "$tmp/measure.py" "$tmp/ours" -- "$build/git-sbx" vm run --kernel "$tmp/vmlinuz" \
		--initrd "$tmp/initrd" --append "$append" --cpus "$cpus" --memory "$memory" \
		--serial-log /proc/self/fd/1 --timeout 300
}
theirs() {
	python3 "$tmp/measure.py" "$tmp/qemu" -- qemu-system-x86_64 -accel kvm -cpu host \
		-M microvm -m "$memory" -smp "$cpus" -nodefaults -no-user-config -nographic \
		-no-reboot -serial stdio -monitor none -kernel "$tmp/vmlinuz" -initrd "$tmp/initrd" \
		-append "$append"
}

: > "$tmp/ours"
: > "$tmp/qemu"
for i in $(seq "$runs"); do
	ours
	theirs
done

python3 - "$tmp/ours" "$tmp/qemu" "$kdir" "$runs" "$cpus" "$memory" <<'EOF'
import statistics, sys, os
def load(p):
    rows = [l.split() for l in open(p)]
    ok = [r for r in rows if r[0] != "-"]
    return rows, ok
ours, ours_ok = load(sys.argv[1])
qemu, qemu_ok = load(sys.argv[2])
kernel = os.path.basename(sys.argv[3].rstrip("/"))
print("# boot to the init script: %s, %s vCPU, %s MiB, %s runs each%s" % (
    kernel, sys.argv[5], sys.argv[6], sys.argv[4],
    " (nested harness: TCG guest with kvm_amd; only the ratio counts)" if os.environ.get("SBX_NESTED") else ""))
def med(rows, i):
    return statistics.median(float(r[i]) for r in rows)
if not ours_ok or not qemu_ok:
    print("boot.sh: a VMM never reached the init script (ours %d/%d, qemu %d/%d)" % (
        len(ours_ok), len(ours), len(qemu_ok), len(qemu)))
    sys.exit(1)
o, q = med(ours_ok, 0), med(qemu_ok, 0)
print("git sbx vm run:   %7.3f s to init, %7.3f s to exit, peak RSS %6d KiB, runs %s" % (
    o, med(ours_ok, 1), int(med(ours_ok, 2)), " ".join(r[0] for r in ours)))
print("qemu -M microvm:  %7.3f s to init, %7.3f s to exit, peak RSS %6d KiB, runs %s" % (
    q, med(qemu_ok, 1), int(med(qemu_ok, 2)), " ".join(r[0] for r in qemu)))
print("ratio ours/qemu (time to init): %.2f" % (o / q))
over = [int(r[3]) for r in ours_ok if r[3] != "-"]
if over:
    print("our VMM's RSS beyond guest memory: %d KiB (median of %d)" % (statistics.median(over), len(over)))
EOF
