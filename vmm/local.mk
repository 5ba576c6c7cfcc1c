# vmm/: the machine (KVM, boot, ACPI, devices); knows nothing of git or tasks.
libsbx_a_SOURCES += \
	vmm/kvm-probe.c vmm/kvm-probe.h \
	vmm/device.h vmm/guest-mem.h vmm/virtio.h

# virtio-mmio transport, split virtqueues and the virtio devices.
libsbx_a_SOURCES += \
	vmm/virtio-mmio.c vmm/virtio-mmio.h \
	vmm/virtqueue.c vmm/virtqueue.h \
	vmm/virtio-blk.c vmm/virtio-console.c vmm/virtio-rng.c
