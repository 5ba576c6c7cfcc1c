# vmm/: the machine (KVM, boot, ACPI, devices); knows nothing of git or tasks.
libsbx_a_SOURCES += \
	vmm/kvm-probe.c vmm/kvm-probe.h \
	vmm/device.h vmm/guest-mem.h vmm/virtio.h

# virtio-mmio transport, split virtqueues and the virtio devices.
libsbx_a_SOURCES += \
	vmm/virtio-mmio.c vmm/virtio-mmio.h \
	vmm/virtqueue.c vmm/virtqueue.h \
	vmm/virtio-blk.c vmm/virtio-console.c vmm/virtio-rng.c

# The machine: KVM, boot, ACPI, the platform devices.
libsbx_a_SOURCES += \
	vmm/kvm-sys.c vmm/kvm-sys.h vmm/kvm-exit.c vmm/kvm-exit.h \
	vmm/vm.c vmm/vm-run.c vmm/vm-state.c vmm/vm-restore.c vmm/vm-state-int.h vmm/vm.h vmm/vm-int.h vmm/vcpu.c \
	vmm/boot.c vmm/boot.h \
	vmm/acpi.c vmm/acpi.h vmm/aml.c vmm/aml.h vmm/vmgenid.c vmm/vmgenid.h \
	vmm/platform.h vmm/serial.c vmm/i8042.c vmm/power.c
