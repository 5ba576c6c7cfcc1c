# Sourced by tests/nested/run and the KVM test wrapper: where the Debian kernel
# package that tools/setup fetched lives.  Prints the extracted package's
# directory, or explains on stderr and returns 1.
sbx_cache_dir() {
	echo "${SBX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/git-sbx}"
}

# sbx_nested_kernel_dir [FLAVOUR]: FLAVOUR is "amd64" (default, has 9p and kvm)
# or "cloud-amd64".
sbx_nested_kernel_dir() {
	local flavour=${1:-amd64} dir
	if [ "$flavour" = amd64 ] && [ -n "${SBX_NESTED_KERNEL_DIR:-}" ]; then
		dir=$SBX_NESTED_KERNEL_DIR
	else
		dir=$(ls -d "$(sbx_cache_dir)"/kernels/linux-image-*-"$flavour" 2>/dev/null |
			grep -E -- "-[0-9]+-$flavour\$" | sort -V | tail -n 1)
	fi
	if [ -z "$dir" ] || ! ls "$dir"/boot/vmlinuz-* >/dev/null 2>&1; then
		echo "nested: no Debian linux-image-*-$flavour package under $(sbx_cache_dir)/kernels (run tools/setup)" >&2
		return 1
	fi
	echo "$dir"
}
