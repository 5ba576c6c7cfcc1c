# sbx/: the core layer; composes vmm/ and snapshot/ with the repository.
libsbx_a_SOURCES += \
	sbx/config.c sbx/config.h \
	sbx/repo.c sbx/repo.h \
	sbx/sysinfo.c sbx/sysinfo.h
