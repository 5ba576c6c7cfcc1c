# util/: the bottom layer (errors, logging, parsing, checked arithmetic).
libsbx_a_SOURCES += \
	util/error.c util/error.h \
	util/log.c util/log.h \
	util/parse.c util/parse.h \
	util/quote.c util/quote.h \
	util/json.c util/json.h \
	util/checked.h \
	util/blockdev.h \
	util/sha256.c util/sha256.h \
	util/crc32c.c util/crc32c.h \
	util/spawn.c util/spawn.h
