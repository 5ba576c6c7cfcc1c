# Tests for vmm/ (unit, e2e, kvm, fuzz); adds to UNIT_TESTS, E2E_TESTS, KVM_TESTS.

# Shared helpers of every tests/kvm/*.kvm (the virtio tests use them too).
EXTRA_DIST += tests/kvm/lib.sh
