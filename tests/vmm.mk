# Tests for vmm/ (unit, e2e, kvm, fuzz); adds to UNIT_TESTS, E2E_TESTS, KVM_TESTS.

# Shared helpers of every tests/kvm/*.kvm (the virtio tests use them too).
EXTRA_DIST += tests/kvm/lib.sh

KVM_TESTS += tests/kvm/boot.kvm
# Memory snapshots: save, restore (two at once), damaged files.
KVM_TESTS += tests/kvm/snapshot.kvm
EXTRA_DIST += tests/kvm/statefile.py tests/bench/snapshot.sh
# Live checkpoints: memory diff + disk switch of a running VM, restored from their chain.
KVM_TESTS += tests/kvm/checkpoint.kvm
# The VM generation ID seen by stock kernels: drivers bound, each new generation an interrupt
# and (-amd64) a CRNG reseed; vmgenid-run runs a VM and bumps it when the guest asks.
KVM_TESTS += tests/kvm/vmgenid.kvm
check_PROGRAMS += tests/kvm/vmgenid-run
tests_kvm_vmgenid_run_SOURCES = tests/kvm/vmgenid-run.c
tests_kvm_vmgenid_run_LDADD = $(SBX_LIBS) -lpthread

# Unit tests of the machine's pure parts (no KVM): boot protocol, ACPI tables, AML.
check_PROGRAMS += tests/unit/test-boot tests/unit/test-acpi tests/unit/test-aml
tests_unit_test_boot_SOURCES = tests/unit/test-boot.c
tests_unit_test_boot_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_boot_LDADD = $(UNIT_LDADD)
tests_unit_test_acpi_SOURCES = tests/unit/test-acpi.c
tests_unit_test_acpi_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_acpi_LDADD = $(UNIT_LDADD)
tests_unit_test_aml_SOURCES = tests/unit/test-aml.c
tests_unit_test_aml_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_aml_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-boot tests/unit/test-acpi tests/unit/test-aml
# The VM generation ID: the ID in guest memory, bumps, and its AML (read back by iasl -d when installed).
check_PROGRAMS += tests/unit/test-vmgenid
tests_unit_test_vmgenid_SOURCES = tests/unit/test-vmgenid.c
tests_unit_test_vmgenid_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_vmgenid_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-vmgenid

# tests/kvm/lib.sh caches its base initramfs archives here, and
# tests/kvm/image-lib.sh its test images in tests/.images.
clean-local: clean-kvm-initramfs
clean-kvm-initramfs:
	rm -rf tests/kvm/.initramfs tests/.images
.PHONY: clean-kvm-initramfs

# vm_create's KVM checks against a fake KVM: the shim in vmm/kvm-sys.c is wrapped.
check_PROGRAMS += tests/unit/test-vm
tests_unit_test_vm_SOURCES = tests/unit/test-vm.c
tests_unit_test_vm_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_vm_LDFLAGS = -Wl,--wrap=kvm_open -Wl,--wrap=kvm_ioctl \
	-Wl,--wrap=kvm_host_module -Wl,--wrap=kvm_host_cpu_virt
tests_unit_test_vm_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-vm

# The KVM usability check (vmm/kvm-probe.c) against a fake KVM for each answer.
check_PROGRAMS += tests/unit/test-kvm-probe
tests_unit_test_kvm_probe_SOURCES = tests/unit/test-kvm-probe.c
tests_unit_test_kvm_probe_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_kvm_probe_LDFLAGS = -Wl,--wrap=kvm_open -Wl,--wrap=kvm_ioctl \
	-Wl,--wrap=kvm_map_run -Wl,--wrap=kvm_unmap_run \
	-Wl,--wrap=kvm_host_module -Wl,--wrap=kvm_host_cpu_virt
tests_unit_test_kvm_probe_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-kvm-probe

EXTRA_DIST += tests/bench/boot.sh

check_PROGRAMS += tests/unit/test-serial
tests_unit_test_serial_SOURCES = tests/unit/test-serial.c
tests_unit_test_serial_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_serial_LDADD = $(UNIT_LDADD)
UNIT_TESTS += tests/unit/test-serial
