# Tests for the virtio devices (vmm/virtio-*.c); adds to UNIT_TESTS, KVM_TESTS, FUZZ_TESTS.
