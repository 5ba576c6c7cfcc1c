# tests/kvm/lib.sh: shared helpers for the KVM tests (tests/kvm/*.kvm).
#
# A .kvm test is a /bin/sh script run by tests/kvm/with-kvm, directly where
# /dev/kvm works and inside tests/nested/run otherwise; it prints TAP.  It
# sources this file:
#
#   . "$SBX_SRC_DIR/tests/kvm/lib.sh"
#
#   cat > "$KVM_TMP/t.sh" <<'EOF'        # runs in the guest as root, after /init
#   grep -c ^processor /proc/cpuinfo     # has mounted /proc, /sys, /dev and loaded
#   exit 3                               # the virtio modules; its exit status is
#   EOF                                  # the guest's exit status
#   kvm_initramfs "$KVM_TMP/initrd" "$KVM_TMP/t.sh"
#   kvm_vm_run --initrd "$KVM_TMP/initrd" --cpus 2     # sets $kvm_status
#   kvm_ok "guest exit status reaches the host" [ "$kvm_status" = 3 ]
#   kvm_ok "guest saw 2 CPUs" grep -q '^2$' "$KVM_SERIAL"
#   kvm_done
#
# Variables (set on sourcing):
#   KVM_TMP      a temporary directory, removed at exit (kept when a case failed;
#                inside the nested harness it is in the guest's tmpfs /dev/shm)
#   KVM_SERIAL   the serial log of the last kvm_vm_run ($KVM_TMP/serial.log)
#   KVM_GIT_SBX  the git-sbx binary under test ($SBX_BUILD_DIR/git-sbx)
#
# Functions:
#   kvm_kernel [cloud-amd64|amd64]
#       Print the path of the Debian kernel (vmlinuz) of that flavour
#       (default cloud-amd64), copied into $KVM_TMP inside the harness;
#       fails the test (Bail out!) when there is none.
#   kvm_initramfs OUT SCRIPT [--flavour F] [--module NAME]... [--file SRC DEST]...
#       Build a newc cpio at OUT: busybox-static (all applets in /bin), the
#       kernel's own modules virtio, virtio_ring, virtio_mmio, virtio_blk,
#       virtio_console and virtio-rng plus any --module (dependencies resolved
#       with modinfo, loaded in order), each --file copied to DEST (made
#       executable when SRC is; no spaces in paths), SCRIPT as /test.sh and
#       an /init that mounts /proc, /sys, /dev (devtmpfs), /tmp, loads the
#       modules, runs `sh /test.sh` and ends the guest with its exit status
#       (sbx-exit).  Use the kernel flavour the modules must match (default
#       cloud-amd64).  The busybox+modules part is cached under
#       $SBX_BUILD_DIR/tests/kvm/.initramfs/ (keyed by kernel, modules and
#       this file); the test's files are appended as a second archive.
#   kvm_vm_run [git sbx vm run options]...
#       Run `git sbx vm run` with --kernel (of $KVM_FLAVOUR, default
#       cloud-amd64; give your own --kernel to override), --serial-log
#       $KVM_SERIAL, --timeout $KVM_TIMEOUT (default 120) and --append
#       "$KVM_APPEND" unless given.  The exit status goes to $kvm_status
#       (the function itself returns 0); stderr to $KVM_TMP/stderr.
#       SBX_CHECK_LEAKS=1 is exported, so git sbx vm run itself fails when
#       a thread or file descriptor of the VM outlives it.
#   kvm_ok DESC COMMAND [ARG]...
#       One TAP case: "ok N - DESC" when COMMAND succeeds; on failure prints
#       "not ok", then the tail of the serial log and stderr as comments.
#   kvm_skip DESC REASON   a skipped case;   kvm_done   the plan and exit status.
#
# In the guest: /bin/sbx-exit N writes N to the exit register
# (docs/design.md, The VMM, "Ending, and the exit status") and powers
# off; `poweroff -f` alone exits 0.  Tests can use every busybox applet
# (devmem, dd, hexdump, ...).
: "${SBX_BUILD_DIR:?run through make check (SBX_BUILD_DIR is not set)}"
: "${SBX_SRC_DIR:?run through make check (SBX_SRC_DIR is not set)}"

. "$SBX_SRC_DIR/tests/nested/kernel-dir.sh"

# Inside the nested harness /tmp is the host's, over 9p: work in its tmpfs.
kvm_tmpdir=${TMPDIR:-/tmp}
if [ -n "${SBX_NESTED:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	kvm_tmpdir=/dev/shm
fi
KVM_TMP=$(mktemp -d "$kvm_tmpdir/sbx-kvm.XXXXXX") || {
	echo "Bail out! cannot make a temporary directory"; exit 1; }
KVM_SERIAL=$KVM_TMP/serial.log
KVM_GIT_SBX=${KVM_GIT_SBX:-$SBX_BUILD_DIR/git-sbx}
KVM_FLAVOUR=${KVM_FLAVOUR:-cloud-amd64}
KVM_TIMEOUT=${KVM_TIMEOUT:-120}
KVM_APPEND=${KVM_APPEND:-console=ttyS0 quiet panic=-1 rdinit=/init}
# The guest-physical address of the exit register (vmm/vm.h SBX_EXIT_MMIO).
KVM_EXIT_REGISTER=0xd0000000
kvm_status=
kvm_n=0
kvm_failed=0
export SBX_CHECK_LEAKS=1

kvm_cleanup() {
	if [ "$kvm_failed" -eq 0 ]; then
		rm -rf "$KVM_TMP"
	else
		echo "# kept $KVM_TMP"
	fi
}
trap kvm_cleanup EXIT

kvm_kernel() {
	local dir k
	dir=$(sbx_nested_kernel_dir "${1:-cloud-amd64}") || {
		echo "Bail out! no ${1:-cloud-amd64} kernel (run tools/setup)"; exit 1; }
	k=$(ls "$dir"/boot/vmlinuz-* | head -n 1)
	# In the harness, reading it over 9p at every boot costs seconds: copy it once.
	if [ "$kvm_tmpdir" = /dev/shm ]; then
		[ -s "$KVM_TMP/$(basename "$k")" ] || cp "$k" "$KVM_TMP/$(basename "$k")"
		k=$KVM_TMP/$(basename "$k")
	fi
	echo "$k"
}

# The base archive (busybox, modules, /init) is the same for every test of
# a flavour and module set: build it once and cache it in the build tree
# (building it over the nested harness's 9p share takes minutes).  Each
# test's own files go into a second, small archive concatenated to it (the
# kernel unpacks concatenated newc archives in order).
kvm__cpio() {
	(cd "$1" && find . | cpio -o -H newc --quiet) || {
		echo "Bail out! cpio failed"; exit 1; }
}

kvm__base() {
	local flavour=$1 modules=$2 dir kver mods root key cache list m
	dir=$(sbx_nested_kernel_dir "$flavour") || {
		echo "Bail out! no $flavour kernel (run tools/setup)"; exit 1; }
	kver=$(ls "$dir/lib/modules" | head -n 1)
	mods=$dir/lib/modules/$kver/kernel
	key=$(printf '%s\n' "$flavour" "$kver" "$modules" | cat - "$SBX_SRC_DIR/tests/kvm/lib.sh" |
		md5sum | cut -c1-12)
	cache=$SBX_BUILD_DIR/tests/kvm/.initramfs/$flavour-$key.cpio
	if [ -s "$cache" ]; then
		echo "$cache"
		return 0
	fi
	root=$(mktemp -d "$KVM_TMP/base.XXXXXX") || exit 1
	[ -n "$root" ] && [ -d "$root" ] || exit 1
	mkdir -p "$root/bin" "$root/lib/modules" "$root/proc" "$root/sys" \
		"$root/dev" "$root/tmp" "$root/mnt"
	cp "$(command -v busybox)" "$root/bin/busybox" || {
		echo "Bail out! busybox not found (run tools/setup)"; exit 1; }
	ln -s busybox "$root/bin/sh"
	# Modules in load order, dependencies first (the package has no modules.dep).
	list=$KVM_TMP/.modules
	find "$mods" -name '*.ko' > "$list"
	: > "$KVM_TMP/.seen"
	: > "$root/modules"
	kvm__want() {
		local name path dep
		name=$(echo "$1" | tr - _)
		grep -qx "$name" "$KVM_TMP/.seen" && return 0
		echo "$name" >> "$KVM_TMP/.seen"
		path=$(grep -E "/($name|$(echo "$name" | tr _ -))\.ko\$" "$list" | head -n 1)
		if [ -z "$path" ]; then
			echo "Bail out! module '$1' not in $mods"; exit 1
		fi
		for dep in $(/sbin/modinfo -F depends "$path" | tr , ' '); do
			kvm__want "$dep"
		done
		cp "$path" "$root/lib/modules/"
		echo "/lib/modules/$(basename "$path")" >> "$root/modules"
	}
	for m in $modules; do
		kvm__want "$m"
	done
	cat > "$root/bin/sbx-exit" <<EOF
#!/bin/sh
# Latch the exit status in the exit register, then power off (ACPI S5).
devmem $KVM_EXIT_REGISTER 32 "\${1:-0}"
sync
poweroff -f
EOF
	cat > "$root/init" <<'EOF'
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
while read -r m; do
	insmod "$m" || echo "init: insmod $m failed"
done < /modules
echo "init: running /test.sh"
sh /test.sh
status=$?
echo "init: /test.sh exited $status"
sbx-exit "$status"
EOF
	chmod +x "$root/init" "$root/bin/sbx-exit"
	mkdir -p "$(dirname "$cache")"
	kvm__cpio "$root" > "$cache.$$" && mv -f "$cache.$$" "$cache"
	rm -rf "$root"
	echo "$cache"
}

kvm_initramfs() {
	local out=$1 script=$2 flavour=$KVM_FLAVOUR root base f
	local modules="virtio virtio_ring virtio_mmio virtio_blk virtio_console virtio-rng"
	local files=
	shift 2
	while [ $# -gt 0 ]; do
		case "$1" in
		--flavour) flavour=$2; shift 2 ;;
		--module) modules="$modules $2"; shift 2 ;;
		--file) files="$files $2:$3"; shift 3 ;;
		*) echo "Bail out! kvm_initramfs: unknown option '$1'"; exit 1 ;;
		esac
	done
	base=$(kvm__base "$flavour" "$modules") || { echo "$base"; exit 1; }
	case "$base" in /*) ;; *) echo "$base"; exit 1 ;; esac
	root=$(mktemp -d "$KVM_TMP/initramfs.XXXXXX") || exit 1
	for f in $files; do
		mkdir -p "$root/$(dirname "${f#*:}")"
		cp "${f%%:*}" "$root/${f#*:}" || exit 1
	done
	cp "$script" "$root/test.sh"
	{ cat "$base"; kvm__cpio "$root"; } > "$out"
	rm -rf "$root"
}

kvm_vm_run() {
	local have_kernel= have_append= have_timeout= have_log= a
	for a in "$@"; do
		case "$a" in
		--kernel|--kernel=*) have_kernel=1 ;;
		--append|--append=*) have_append=1 ;;
		--timeout|--timeout=*) have_timeout=1 ;;
		--serial-log|--serial-log=*) have_log=1 ;;
		esac
	done
	set -- run "$@"
	[ -n "$have_kernel" ] || set -- "$@" --kernel "$(kvm_kernel "$KVM_FLAVOUR")"
	[ -n "$have_append" ] || set -- "$@" --append "$KVM_APPEND"
	[ -n "$have_timeout" ] || set -- "$@" --timeout "$KVM_TIMEOUT"
	[ -n "$have_log" ] || set -- "$@" --serial-log "$KVM_SERIAL"
	rm -f "$KVM_SERIAL"
	kvm_start=$(date +%s.%N)
	"$KVM_GIT_SBX" vm "$@" 2> "$KVM_TMP/stderr"
	kvm_status=$?
	kvm_end=$(date +%s.%N)
	awk -v s="$kvm_start" -v e="$kvm_end" -v st="$kvm_status" \
		'BEGIN { printf "# git sbx vm run: exit %d after %.1f s\n", st, e - s }'
	return 0
}

kvm_ok() {
	local desc=$1
	shift
	kvm_n=$((kvm_n + 1))
	if "$@"; then
		echo "ok $kvm_n - $desc"
	else
		echo "not ok $kvm_n - $desc"
		kvm_failed=$((kvm_failed + 1))
		if [ -f "$KVM_SERIAL" ]; then
			echo "# serial log (tail):"
			tail -n 30 "$KVM_SERIAL" | sed 's/^/#   /'
		fi
		if [ -f "$KVM_TMP/stderr" ]; then
			echo "# stderr:"
			tail -n 10 "$KVM_TMP/stderr" | sed 's/^/#   /'
		fi
	fi
}

kvm_skip() {
	kvm_n=$((kvm_n + 1))
	echo "ok $kvm_n - $1 # SKIP $2"
}

kvm_done() {
	echo "1..$kvm_n"
	[ "$kvm_failed" -eq 0 ]
	exit $?
}
