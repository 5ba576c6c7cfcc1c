# Tests for the virtio devices (vmm/virtio-*.c); adds to UNIT_TESTS, KVM_TESTS, FUZZ_TESTS.
VIRTIO_HARNESS = tests/unit/virtio-harness.c tests/unit/virtio-harness.h

check_PROGRAMS += tests/unit/test-virtqueue
tests_unit_test_virtqueue_SOURCES = tests/unit/test-virtqueue.c $(VIRTIO_HARNESS)
tests_unit_test_virtqueue_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_virtqueue_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test-virtqueue

check_PROGRAMS += tests/unit/test-virtio-mmio
tests_unit_test_virtio_mmio_SOURCES = tests/unit/test-virtio-mmio.c $(VIRTIO_HARNESS)
tests_unit_test_virtio_mmio_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_virtio_mmio_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test-virtio-mmio

check_PROGRAMS += tests/unit/test-virtio-blk
tests_unit_test_virtio_blk_SOURCES = tests/unit/test-virtio-blk.c $(VIRTIO_HARNESS)
tests_unit_test_virtio_blk_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_virtio_blk_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test-virtio-blk

check_PROGRAMS += tests/unit/test-virtio-console
tests_unit_test_virtio_console_SOURCES = tests/unit/test-virtio-console.c $(VIRTIO_HARNESS)
tests_unit_test_virtio_console_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_virtio_console_LDADD = $(UNIT_LDADD)

UNIT_TESTS += tests/unit/test-virtio-console

# Fuzz target: descriptor chains and virtio-blk requests (see tests/local.mk).
check_PROGRAMS += tests/fuzz/check-virtqueue
tests_fuzz_check_virtqueue_SOURCES = tests/fuzz/fuzz-virtqueue.c tests/fuzz/driver.c $(VIRTIO_HARNESS)
tests_fuzz_check_virtqueue_LDADD = $(SBX_LIBS)
FUZZ_TESTS += tests/fuzz/virtqueue.fuzz
EXTRA_DIST += tests/fuzz/corpus/virtqueue
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz-virtqueue
tests_fuzz_fuzz_virtqueue_SOURCES = tests/fuzz/fuzz-virtqueue.c $(VIRTIO_HARNESS)
tests_fuzz_fuzz_virtqueue_LDFLAGS = $(FUZZ_LDFLAGS)
tests_fuzz_fuzz_virtqueue_LDADD = $(SBX_LIBS)
endif

# KVM tests of the devices under a stock kernel, and the guest program that
# writes malformed rings (static: the test initramfs has no libc).
check_PROGRAMS += tests/kvm/guest/virtio-malformed
tests_kvm_guest_virtio_malformed_SOURCES = tests/kvm/guest/virtio-malformed.c
tests_kvm_guest_virtio_malformed_CFLAGS = $(GUEST_CFLAGS)
tests_kvm_guest_virtio_malformed_LDFLAGS = -static
KVM_TESTS += tests/kvm/virtio.kvm tests/kvm/disk-format.kvm
