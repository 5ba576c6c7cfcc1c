# guest/: sbx-init, PID 1 inside the VM (static binary).
# sbx-init is static: it is the whole userspace of the initramfs.
# Installed as $(pkglibexecdir)/sbx-init, where `git sbx image build` looks for it.
pkglibexec_PROGRAMS = guest/sbx-init
guest_sbx_init_SOURCES = guest/sbx-init.c guest/setup.c guest/sbx-init.h sbx/proto.h \
	guest/serve.c guest/serve.h guest/exec.c guest/proxy.c guest/reseed.c \
	guest/note.c
guest_sbx_init_CFLAGS = $(GUEST_CFLAGS)
guest_sbx_init_LDFLAGS = -static
