# snapshot/: on-disk formats (qcow2, memory snapshots); knows nothing of KVM or git.
libsbx_a_SOURCES += \
	snapshot/raw.c
