# Tests for sbx/ (unit, e2e, kvm, fuzz); adds to UNIT_TESTS, E2E_TESTS, KVM_TESTS.
