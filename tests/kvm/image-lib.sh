# tests/kvm/image-lib.sh: a tiny guest image for the sandbox tests, sourced
# after tests/kvm/lib.sh or tests/t/test-lib.sh.
#
#   sbx_test_image DIR NAME [git [PROGRAM...]]
#                             builds a busybox rootfs tarball (every applet,
#                             /etc/passwd with root only; with "git", the
#                             host's git and the libraries it links, and
#                             tests/t/helper/sbx-test-sudo as a set-uid
#                             /usr/bin/sudo, as real images have sudo; and
#                             each PROGRAM, a path, with its libraries), then
#                             `git sbx image build --from-tar ... --name NAME`
#                             into $SBX_CACHE_DIR with the cached cloud kernel
#                             (found when this file is sourced, so source it
#                             before pointing SBX_CACHE_DIR elsewhere).
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

sbx_test_image() {
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
