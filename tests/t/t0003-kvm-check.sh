#!/bin/sh
test_description='the KVM usability check on this machine: one verdict for the probe, git sbx version and with-kvm'
. "$SBX_SRC_DIR/tests/t/test-lib.sh"

probe=$SBX_BUILD_DIR/tests/kvm/kvm-probe
if why=$("$probe" 2>&1); then works=yes; else works=; fi
say "this machine: ${why:-/dev/kvm works}"

test_expect_success 'git sbx version gives the same verdict as the probe' '
	git sbx version >out &&
	cat out &&
	if test -n "$works"; then
		grep "^kvm: works (/dev/kvm, API 12, up to [0-9]* vCPUs; a 64-bit test guest ran in [0-9]* us)$" out
	else
		case "$why" in
		*" is PVM "*)
			grep "^kvm: present but unusable: PVM (kvm_pvm), which runs only PVM-enabled guest kernels; tasks run under QEMU.s emulation$" out ;;
		*" is missing: "*)
			grep "^kvm: unavailable (/dev/kvm cannot open it: " out ;;
		*)
			grep "^kvm: present but unusable: it cannot run a stock kernel: " out ;;
		esac
	fi
'

test_expect_success 'a PVM host (kvm_pvm without kvm_intel or kvm_amd) is recognised as such' '
	if test -d /sys/module/kvm_pvm && ! test -d /sys/module/kvm_intel && ! test -d /sys/module/kvm_amd; then
		test -z "$works" &&
		test "$why" = "/dev/kvm is PVM (kvm_pvm), which runs only PVM-enabled guest kernels" &&
		# What the test guest does there is shown; the verdict stays PVM.
		test_expect_code 1 "$probe" -v --guest >out 2>/dev/null &&
		cat out && grep "^/dev/kvm is PVM (kvm_pvm)" out
	else
		say "not a PVM host: nothing to check"
	fi
'

test_expect_success 'a device that is not there is "missing", with the reason' '
	SBX_KVM_DEVICE=$TRASH_DIRECTORY/no-kvm test_expect_code 1 "$probe" 2>err &&
	grep "^$TRASH_DIRECTORY/no-kvm is missing: cannot open it: No such file or directory$" err &&
	SBX_KVM_DEVICE=$TRASH_DIRECTORY/no-kvm git sbx version >out &&
	grep "^kvm: unavailable ($TRASH_DIRECTORY/no-kvm cannot open it: No such file" out
'

test_expect_success 'with-kvm: SBX_TEST_KVM=direct on a host whose KVM cannot run the VM fails with the reason' '
	if test -n "$works"; then
		say "this machine has KVM: nothing to check"
	else
		SBX_TEST_KVM=direct test_expect_code 99 /bin/sh "$SBX_SRC_DIR/tests/kvm/with-kvm" \
			"$SBX_SRC_DIR/tests/kvm/smoke.kvm" >out &&
		grep -F "Bail out! /dev/kvm does not work here: $why" out
	fi
'

test_done
