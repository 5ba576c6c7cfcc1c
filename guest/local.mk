# guest/: sbx-init, PID 1 inside the VM (static binary).
# sbx-init is static: it is the whole userspace of the initramfs.
noinst_PROGRAMS += guest/sbx-init
guest_sbx_init_SOURCES = guest/sbx-init.c guest/setup.c guest/sbx-init.h sbx/proto.h
guest_sbx_init_LDFLAGS = -static
