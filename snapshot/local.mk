# snapshot/: on-disk formats (qcow2, memory snapshots); knows nothing of KVM or git.
libsbx_a_SOURCES += \
	snapshot/raw.c snapshot/image-format.c \
	snapshot/qcow2.c snapshot/qcow2.h snapshot/qcow2-int.h \
	snapshot/qcow2-header.c \
	snapshot/qcow2-io.c \
	snapshot/qcow2-l2.c \
	snapshot/qcow2-rw.c \
	snapshot/qcow2-refcount.c \
	snapshot/qcow2-compress.c \
	snapshot/qcow2-check.c \
	snapshot/qcow2-squash.c \
	snapshot/qcow2-switch.c \
	snapshot/qcow2-blockdev.c \
	snapshot/vmstate.c snapshot/vmstate.h \
	snapshot/memfile.c snapshot/memfile.h
