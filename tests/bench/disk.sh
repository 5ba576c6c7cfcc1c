#!/bin/sh
# Disk benchmark: our qcow2 overlay against a raw file, and against qemu's own
# qcow2 (qemu-img bench) where the access pattern is the same, in one run.
# Prints throughputs and ratios; never fails on absolute numbers.
#
#   tests/bench/disk.sh            (from a build directory, or with SBX_BUILD_DIR)
#   N=20000 SEQ_MIB=256 RUNS=3 tests/bench/disk.sh
#
# Every figure is the best of RUNS runs, each on a freshly created image
# (page cache, writeback, flush at the end included in the time).  Overlays
# sit on a 1 GiB backing file full of data, as a task disk sits on its base.
# qemu-img bench and our harness differ (qemu's raw is faster than ours), so
# qemu's qcow2 is compared with qemu's raw, ours with ours, and the two
# qcow2 drivers directly only on the same access pattern.
set -e
B=${SBX_BUILD_DIR:-$(pwd)}
bench=$B/tests/bench/disk-bench
sbx=$B/git-sbx
N=${N:-20000}
SEQ_MIB=${SEQ_MIB:-256}
RUNS=${RUNS:-3}
test -x "$bench" || make -C "$B" tests/bench/disk-bench git-sbx >/dev/null
T=$(mktemp -d "${TMPDIR:-/tmp}/sbx-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
"$sbx" disk create base.qcow2 1G
"$bench" qcow2 base.qcow2 write-seq 1024 >/dev/null

# fresh <kind>: a new empty target named t.<ext>; kind raw | ext | plain | qemu-ext | qemu-plain
fresh() {
	rm -f t.raw t.qcow2
	case $1 in
	raw) truncate -s 1G t.raw ;;
	ext) "$sbx" disk create --subclusters -b base.qcow2 t.qcow2 ;;
	plain) "$sbx" disk create -b base.qcow2 t.qcow2 ;;
	qemu-ext) qemu-img create -q -f qcow2 -o extended_l2=on -b base.qcow2 -F qcow2 t.qcow2 ;;
	qemu-plain) qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 t.qcow2 ;;
	esac
}
file_of() { [ "$1" = raw ] && echo t.raw || echo t.qcow2; }
fmt_of() { [ "$1" = raw ] && echo raw || echo qcow2; }

# best <kind> <op> <args...>: MiB/s, best of RUNS (fresh image each run for writes)
best() {
	kind=$1; shift
	op=$1
	b=0
	i=0
	while [ $i -lt "$RUNS" ]; do
		case $op in read-*) ;; *) fresh "$kind" ;; esac
		v=$("$bench" "$(fmt_of "$kind")" "$(file_of "$kind")" "$@" | cut -d' ' -f1)
		b=$(awk -v a="$b" -v c="$v" 'BEGIN { print (c > a) ? c : a }')
		i=$((i + 1))
	done
	echo "$b"
}

# qbest <kind> <qemu-img bench args...>: MiB/s of qemu's own qcow2 driver
qbest() {
	kind=$1; shift
	bytes=$1; shift
	b=0
	i=0
	while [ $i -lt "$RUNS" ]; do
		fresh "$kind"
		s=$(qemu-img bench -q -f "$(fmt_of "$kind")" -t writeback "$@" "$(file_of "$kind")" 2>&1 |
			sed -n 's/.*completed in \([0-9.]*\) seconds.*/\1/p')
		v=$(awk -v s="$s" -v n="$bytes" 'BEGIN { if (s > 0) printf "%.1f", n / s / 1048576; else print 0 }')
		b=$(awk -v a="$b" -v c="$v" 'BEGIN { print (c > a) ? c : a }')
		i=$((i + 1))
	done
	echo "$b"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }

echo "# disk.sh: $N x 4 KiB random writes (reads: 5x as many) over a fresh overlay of a full 1 GiB backing file, $SEQ_MIB x 1 MiB sequential, best of $RUNS"
raw=$(best raw write-rand "$N")
ext=$(best ext write-rand "$N")
plain=$(best plain write-rand "$N")
echo "4k-random-write MiB/s: raw $raw | ours+subclusters $ext ($(ratio "$ext" "$raw")) | ours plain $plain ($(ratio "$plain" "$raw"))"

fresh raw; "$bench" raw t.raw write-rand "$N" >/dev/null; mv t.raw r.raw
fresh ext; "$bench" qcow2 t.qcow2 write-rand "$N" >/dev/null; mv t.qcow2 e.qcow2
rr=$(i=0; b=0; while [ $i -lt "$RUNS" ]; do v=$("$bench" raw r.raw read-rand "$((5 * N))" | cut -d' ' -f1); b=$(awk -v a="$b" -v c="$v" 'BEGIN{print (c>a)?c:a}'); i=$((i+1)); done; echo "$b")
re=$(i=0; b=0; while [ $i -lt "$RUNS" ]; do v=$("$bench" qcow2 e.qcow2 read-rand "$((5 * N))" | cut -d' ' -f1); b=$(awk -v a="$b" -v c="$v" 'BEGIN{print (c>a)?c:a}'); i=$((i+1)); done; echo "$b")
echo "4k-random-read MiB/s: raw $rr | ours+subclusters $re ($(ratio "$re" "$rr"))"
rm -f r.raw e.qcow2

raw=$(best raw write-seq "$SEQ_MIB")
ext=$(best ext write-seq "$SEQ_MIB")
plain=$(best plain write-seq "$SEQ_MIB")
echo "1m-sequential-write MiB/s: raw $raw | ours+subclusters $ext ($(ratio "$ext" "$raw")) | ours plain $plain ($(ratio "$plain" "$raw"))"

if command -v qemu-img >/dev/null 2>&1; then
	bytes=$((SEQ_MIB * 1048576))
	qr=$(qbest raw "$bytes" -w -c "$SEQ_MIB" -s 1M -d 1 --flush-interval="$SEQ_MIB")
	q=$(qbest qemu-ext "$bytes" -w -c "$SEQ_MIB" -s 1M -d 1 --flush-interval="$SEQ_MIB")
	echo "1m-sequential-write, qemu-img bench MiB/s: qemu raw $qr | qemu qcow2+subclusters $q ($(ratio "$q" "$qr") of qemu raw; ours is $(ratio "$ext" "$raw") of our raw)"
	S=16000
	bytes=$((S * 4096))
	qr=$(qbest raw "$bytes" -w -c "$S" -s 4k -S 64k -d 1 --flush-interval="$S")
	r=$(best raw write-rand "$S" 65536)
	q=$(qbest qemu-ext "$bytes" -w -c "$S" -s 4k -S 64k -d 1 --flush-interval="$S")
	o=$(best ext write-rand "$S" 65536)
	echo "4k-strided-write (one per 64 KiB cluster) MiB/s: qemu raw $qr | qemu qcow2+subclusters $q ($(ratio "$q" "$qr")) | our raw $r | ours+subclusters $o ($(ratio "$o" "$r")); ours vs qemu's qcow2: $(ratio "$o" "$q")"
	q=$(qbest qemu-plain "$bytes" -w -c "$S" -s 4k -S 64k -d 1 --flush-interval="$S")
	o=$(best plain write-rand "$S" 65536)
	echo "4k-strided-write, no subclusters (64 KiB copy-on-write each) MiB/s: qemu qcow2 $q ($(ratio "$q" "$qr") of qemu raw) | ours $o ($(ratio "$o" "$r") of our raw); ours vs qemu's qcow2: $(ratio "$o" "$q")"
else
	echo "# qemu-img not found: no comparison with qemu's qcow2"
fi

# Growth: 2,000 random 4 KiB writes over the full 1 GiB backing file.
for kind in ext plain; do
	fresh "$kind"
	before=$(du -B1 t.qcow2 | cut -f1)
	"$bench" qcow2 t.qcow2 write-rand 2000 >/dev/null
	after=$(du -B1 t.qcow2 | cut -f1)
	size=$(stat -c %s t.qcow2)
	echo "growth-2000x4k $kind: $(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f MB on disk", (a - b) / 1e6 }') (file size $(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }'))"
done
