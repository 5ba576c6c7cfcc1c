// SPDX-License-Identifier: MIT
/*
 * Which format is a disk image file, and opening it as that.  A qcow2 file
 * handed to a guest as raw lets the guest write over the image's own
 * header and tables, and shows it the container instead of the disk; so a
 * disk is opened by what its first bytes say, other known formats are
 * refused by name, and an explicit format=raw on a file that is an image
 * is refused unless the disk is read-only.  Magic numbers are from each
 * format's published specification.
 */
#include "util/blockdev.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define SNIFF_BYTES 512

static const struct {
	size_t off;
	const char *magic;
	size_t len;
	const char *name;
} magics[] = {
	{ 0, "QFI\xfb", 4, "qcow2" },		/* qcow (v1) is told apart by its version */
	{ 0, "QED\0", 4, "QED" },
	{ 0, "KDMV", 4, "VMDK" },
	{ 0, "# Disk DescriptorFile", 21, "VMDK (descriptor)" },
	{ 0x40, "\x7f\x10\xda\xbe", 4, "VDI" },
	{ 0, "vhdxfile", 8, "VHDX" },
	{ 0, "conectix", 8, "VHD" },
	{ 0, "LUKS\xba\xbe", 6, "LUKS" },
	{ 0, "WithoutFreeSpace", 16, "Parallels" },
	{ 0, "WithouFreSpacExt", 16, "Parallels" },
	{ 0, "Bochs Virtual HD Image", 22, "Bochs" },
};

const char *blockdev_format_sniff(const uint8_t *head, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
		if (magics[i].off > len || magics[i].len > len - magics[i].off ||
		    memcmp(head + magics[i].off, magics[i].magic, magics[i].len))
			continue;
		/* qcow2's version is big-endian at byte 4: 1 is the old qcow. */
		if (i == 0 && len >= 8 && head[4] == 0 && head[5] == 0 && head[6] == 0 && head[7] == 1)
			return "qcow (version 1)";
		return magics[i].name;
	}
	return NULL;
}

static int read_head(const char *path, uint8_t *buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return sbx_error_errno(SBX_EIO, "cannot open '%s'", path);
	do
		n = pread(fd, buf, SNIFF_BYTES, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		close(fd);
		return sbx_error_errno(SBX_EIO, "cannot read '%s'", path);
	}
	close(fd);
	*len = (size_t)n;
	return 0;
}

int blockdev_open_image(struct blockdev **out, const char *path, bool read_only,
			enum blockdev_format format)
{
	uint8_t head[SNIFF_BYTES];
	const char *what;
	size_t len = 0;
	int ret;

	*out = NULL;
	if (format == BLOCKDEV_FORMAT_QCOW2) {
		ret = blockdev_open_qcow2(out, path, read_only);
		return ret ? sbx_error_prefix(ret, "format=qcow2") : 0;
	}
	ret = read_head(path, head, &len);
	if (ret)
		return ret;
	what = blockdev_format_sniff(head, len);
	if (format == BLOCKDEV_FORMAT_RAW) {
		if (what && !read_only)
			return sbx_error_set(SBX_EINVAL,
					     "'%s' is a %s image: as format=raw the guest would write over "
					     "its header; open it as format=qcow2, or as format=raw,ro to "
					     "see its bytes", path, what);
		return blockdev_open_raw(out, path, read_only);
	}
	if (!what)
		return blockdev_open_raw(out, path, read_only);
	if (!strcmp(what, "qcow2"))
		return blockdev_open_qcow2(out, path, read_only);
	return sbx_error_set(SBX_EUNSUPPORTED,
			     "'%s' is a %s image, which git sbx does not read: convert it with "
			     "'qemu-img convert -O qcow2', or give format=raw,ro to see its bytes",
			     path, what);
}

int blockdev_parse_format(const char *name, enum blockdev_format *format)
{
	if (!strcmp(name, "raw"))
		*format = BLOCKDEV_FORMAT_RAW;
	else if (!strcmp(name, "qcow2"))
		*format = BLOCKDEV_FORMAT_QCOW2;
	else if (!strcmp(name, "auto"))
		*format = BLOCKDEV_FORMAT_AUTO;
	else
		return sbx_error_set(SBX_EINVAL, "unknown disk format '%s' (raw, qcow2 or auto)", name);
	return 0;
}
