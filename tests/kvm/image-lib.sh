# tests/kvm/image-lib.sh: a tiny guest image for the sandbox tests, sourced
# after tests/kvm/lib.sh or tests/t/test-lib.sh.
#
#   sbx_test_image DIR NAME [git [PROGRAM...]]
#                             puts an image named NAME into $SBX_CACHE_DIR:
#                             a busybox rootfs (every applet, /etc/passwd
#                             with root only; with "git", the host's git and
#                             the libraries it links, and
#                             tests/t/helper/sbx-test-sudo as a set-uid
#                             /usr/bin/sudo, as real images have sudo; and
#                             each PROGRAM, a path, with its libraries)
#                             built by `git sbx image build --from-tar ...`
#                             with the cached cloud kernel (found when this
#                             file is sourced, so source it before pointing
#                             SBX_CACHE_DIR elsewhere).
#
# Each image is built once per build tree and kept under
# $SBX_BUILD_DIR/tests/.images/KEY, KEY a hash of NAME, the arguments and
# the size and time of every file that goes into it (busybox, git and the
# programs with their libraries, sbx-test-sudo, git-sbx, sbx-init, the
# kernel, this file) as a sparse tar; a test unpacks it into its own cache.  Building one
# inside the nested harness takes 80-120 s (TCG, 9p), on the host a few
# seconds: tests/kvm/with-kvm builds the images the KVM tests use on the
# host before it enters the harness (sbx_test_image_prebuild).
. "$SBX_SRC_DIR/tests/nested/kernel-dir.sh"
sbx_test_kdir=$(sbx_nested_kernel_dir cloud-amd64)
# Copy a dynamically linked program and the libraries ldd names.
sbx_test_add_program() {
	root=$1
	prog=$2
	mkdir -p "$root$(dirname "$prog")" && cp "$prog" "$root$prog" || return 1
	for lib in $(ldd "$prog" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p'); do
		mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib" || return 1
	done
}

sbx_test_image_build() {
	dir=$1
	name=$2
	rootfs=$dir/rootfs
	mkdir -p "$rootfs/bin" "$rootfs/sbin" "$rootfs/usr/bin" "$rootfs/usr/sbin" \
		"$rootfs/etc" "$rootfs/tmp" "$rootfs/root" "$rootfs/dev" "$rootfs/proc" \
		"$rootfs/sys" "$rootfs/run" "$rootfs/workspace" || return 1
	cp "$(command -v busybox)" "$rootfs/bin/busybox" || return 1
	for applet in $(busybox --list); do
		[ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
	done
	if [ "${3-}" = git ]; then
		sbx_test_add_program "$rootfs" "$(command -v git)" || return 1
		mkdir -p "$rootfs/usr/share/git-core" &&
			cp -r /usr/share/git-core/templates "$rootfs/usr/share/git-core/" || return 1
		cp "$SBX_BUILD_DIR/tests/t/helper/sbx-test-sudo" "$rootfs/usr/bin/sudo" &&
			chmod 4755 "$rootfs/usr/bin/sudo" || return 1
		shift 3
		for prog in "$@"; do
			sbx_test_add_program "$rootfs" "$prog" || return 1
		done
	fi
	printf 'root:x:0:0:root:/root:/bin/sh\n' > "$rootfs/etc/passwd"
	printf 'root:x:0:\n' > "$rootfs/etc/group"
	tar -C "$rootfs" -cf "$dir/rootfs.tar" . || return 1
	[ -n "$sbx_test_kdir" ] || return 1
	if ! "$SBX_BUILD_DIR/git-sbx" image build --from-tar "$dir/rootfs.tar" --name "$name" \
		--kernel-dir "$sbx_test_kdir" >"$dir/image.out" 2>"$dir/image.err"; then
		sed 's/^/# /' "$dir/image.err"
		return 1
	fi
}

# The files an image is made of, with their libraries, for its key.
sbx_test_image_inputs() {
	printf '%s\n' "$@"
	for f in "$(command -v busybox)" "$SBX_BUILD_DIR/git-sbx" "$SBX_BUILD_DIR/guest/sbx-init" \
		"$SBX_SRC_DIR/tests/kvm/image-lib.sh" "$sbx_test_kdir"/boot/vmlinuz-*; do
		stat -L -c '%n %s %Y' "$f" 2>&1
	done
	[ "${3-}" = git ] || return 0
	stat -L -c '%n %s %Y' "$SBX_BUILD_DIR/tests/t/helper/sbx-test-sudo" 2>&1
	shift 3
	for prog in "$(command -v git)" "$@"; do
		stat -L -c '%n %s %Y' "$prog" 2>&1
		for lib in $(ldd "$prog" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p'); do
			stat -L -c '%n %s %Y' "$lib" 2>&1
		done
	done
}

# sbx_test_image_store NAME [git [PROGRAM...]]: make sure the image is in the
# store; print its directory there.  The build runs in a cache of its own
# under a lock, so two tests that want one image build it once.
sbx_test_image_store() {
	_sti_store=$SBX_BUILD_DIR/tests/.images
	_sti_key=$(sbx_test_image_inputs "$@" | sha256sum | cut -c1-16)
	mkdir -p "$_sti_store" || return 1
	if [ ! -f "$_sti_store/$_sti_key/id" ]; then
		(
			flock 9 || exit 1
			[ -f "$_sti_store/$_sti_key/id" ] && exit 0
			rm -rf "$_sti_store/.build-$_sti_key"
			mkdir -p "$_sti_store/.build-$_sti_key/cache" || exit 1
			SBX_CACHE_DIR=$_sti_store/.build-$_sti_key/cache
			export SBX_CACHE_DIR
			sbx_test_image_build "$_sti_store/.build-$_sti_key" "$@" || exit 1
			read -r _sti_hex < "$SBX_CACHE_DIR/images/names/$1" || exit 1
			# A sparse tar: task-base.img is 16 GiB of mostly holes, and
			# 9p (the harness) cannot seek past them; tar can.
			mkdir -p "$_sti_store/.build-$_sti_key/image" &&
				tar -C "$SBX_CACHE_DIR/images" --sparse \
					-cf "$_sti_store/.build-$_sti_key/image/image.tar" "$_sti_hex" &&
				echo "$_sti_hex" > "$_sti_store/.build-$_sti_key/image/id" &&
				printf '%s\n' "$@" > "$_sti_store/.build-$_sti_key/image/what" || exit 1
			# The same image from older inputs (a rebuilt git-sbx, say) is stale.
			for _sti_old in "$_sti_store"/*/what; do
				cmp -s "$_sti_old" "$_sti_store/.build-$_sti_key/image/what" &&
					rm -rf "${_sti_old%/what}"
			done
			rm -rf "$_sti_store/$_sti_key" &&
				mv "$_sti_store/.build-$_sti_key/image" "$_sti_store/$_sti_key" &&
				rm -rf "$_sti_store/.build-$_sti_key"
		) 9>"$_sti_store/.lock" >&2 || return 1
	fi
	echo "$_sti_store/$_sti_key"
}

sbx_test_image() {
	shift
	_sti_from=$(sbx_test_image_store "$@") || return 1
	read -r _sti_hex < "$_sti_from/id" || return 1
	_sti_cache=$(sbx_cache_dir)
	mkdir -p "$_sti_cache/images/names" || return 1
	if [ ! -d "$_sti_cache/images/$_sti_hex" ]; then
		rm -rf "$_sti_cache/images/.copy-$_sti_hex"
		mkdir -p "$_sti_cache/images/.copy-$_sti_hex" &&
			tar -C "$_sti_cache/images/.copy-$_sti_hex" -xf "$_sti_from/image.tar" &&
			mv "$_sti_cache/images/.copy-$_sti_hex/$_sti_hex" "$_sti_cache/images/$_sti_hex" &&
			rmdir "$_sti_cache/images/.copy-$_sti_hex" || return 1
	fi
	echo "$_sti_hex" > "$_sti_cache/images/names/$1"
}

# The images the KVM tests use, built on the host (tests/kvm/with-kvm).
sbx_test_image_prebuild() {
	sbx_test_image_store t >/dev/null &&
	sbx_test_image_store default git >/dev/null &&
	{ ! command -v curl >/dev/null 2>&1 ||
		sbx_test_image_store default git "$(command -v curl)" >/dev/null; }
}
