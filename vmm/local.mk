# vmm/: the machine (KVM, boot, ACPI, devices); knows nothing of git or tasks.
libsbx_a_SOURCES += \
	vmm/kvm-probe.c vmm/kvm-probe.h \
	vmm/device.h vmm/guest-mem.h vmm/virtio.h
