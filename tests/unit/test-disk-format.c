// SPDX-License-Identifier: MIT
/*
 * Disk images opened by what they are (snapshot/image-format.c): qcow2 by
 * its magic, through the qcow2 layer, so a guest sees the virtual disk and
 * can never write over the image's header; other known formats refused by
 * name; an explicit format=raw on an image only read-only; format=qcow2 on
 * anything else refused.
 */
#include "snapshot/qcow2.h"
#include "util/blockdev.h"
#include "util/error.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define MiB (1024 * 1024)

static char dir[] = "/tmp/sbx-test-disk-format.XXXXXX";

static const char *path_of(const char *name)
{
	static char p[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static void write_file(const char *name, const void *head, size_t len, off_t size)
{
	int fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	if (len)
		assert_int_equal(pwrite(fd, head, len, 0), (ssize_t)len);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static void expect_refused(const char *name, bool ro, enum blockdev_format f, const char *words)
{
	struct blockdev *bd = (struct blockdev *)1;

	assert_true(blockdev_open_image(&bd, path_of(name), ro, f) < 0);
	assert_null(bd);
	if (!strstr(sbx_error(), words))
		fail_msg("message '%s' does not say '%s'", sbx_error(), words);
}

static void test_sniff_each_format(void **state)
{
	static const struct {
		const char *magic;
		size_t off, len;
		const char *name;
	} cases[] = {
		{ "QFI\xfb\0\0\0\3", 0, 8, "qcow2" },
		{ "QFI\xfb\0\0\0\2", 0, 8, "qcow2" },
		{ "QFI\xfb\0\0\0\1", 0, 8, "qcow (version 1)" },
		{ "QED", 0, 4, "QED" },
		{ "KDMV", 0, 4, "VMDK" },
		{ "# Disk DescriptorFile", 0, 21, "VMDK (descriptor)" },
		{ "\x7f\x10\xda\xbe", 0x40, 4, "VDI" },
		{ "vhdxfile", 0, 8, "VHDX" },
		{ "conectix", 0, 8, "VHD" },
		{ "LUKS\xba\xbe", 0, 6, "LUKS" },
		{ "WithoutFreeSpace", 0, 16, "Parallels" },
		{ "Bochs Virtual HD Image", 0, 22, "Bochs" },
	};
	uint8_t head[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got;

		memset(head, 0, sizeof(head));
		memcpy(head + cases[i].off, cases[i].magic, cases[i].len);
		got = blockdev_format_sniff(head, sizeof(head));
		assert_non_null(got);
		assert_string_equal(got, cases[i].name);
		/* Cut short before the magic ends (qcow's is 4 bytes, then the version): no match. */
		assert_null(blockdev_format_sniff(head, cases[i].off + (i < 3 ? 4 : cases[i].len) - 1));
	}
	memset(head, 0, sizeof(head));
	assert_null(blockdev_format_sniff(head, sizeof(head)));
	memcpy(head, "QFI", 3);
	assert_null(blockdev_format_sniff(head, sizeof(head)));
	assert_null(blockdev_format_sniff(head, 0));
}

/* A qcow2 file opens as its virtual disk: size and data are the guest's, not the file's. */
static void test_qcow2_by_magic(void **state)
{
	struct qcow2_create_opts o = QCOW2_CREATE_OPTS_INIT;
	struct blockdev *bd = NULL;
	char buf[512], back[512];
	struct qcow2 *q = NULL;
	struct qcow2_open_opts oo = { 0 };

	o.size = 8 * MiB;
	assert_int_equal(qcow2_create(path_of("a.qcow2"), &o), 0);
	assert_int_equal(qcow2_open(&q, path_of("a.qcow2"), &oo), 0);
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(qcow2_write(q, buf, sizeof(buf), 4096), 0);
	assert_int_equal(qcow2_close(q), 0);

	assert_int_equal(blockdev_open_image(&bd, path_of("a.qcow2"), false, BLOCKDEV_FORMAT_AUTO), 0);
	assert_int_equal(bd->size, 8 * MiB);
	assert_int_equal(bd->ops->preadv(bd, &(struct iovec){ back, sizeof(back) }, 1, 4096), 0);
	assert_memory_equal(buf, back, sizeof(buf));
	/* A write at byte 0 of the disk lands in a data cluster, not on the header. */
	memset(buf, 0xcd, sizeof(buf));
	assert_int_equal(bd->ops->pwritev(bd, &(struct iovec){ buf, sizeof(buf) }, 1, 0), 0);
	assert_int_equal(blockdev_close(bd), 0);
	{
		uint8_t head[8];
		int fd = open(path_of("a.qcow2"), O_RDONLY);

		assert_int_equal(pread(fd, head, 8, 0), 8);
		close(fd);
		assert_memory_equal(head, "QFI\xfb\0\0\0\3", 8);
	}
	/* Explicitly too. */
	assert_int_equal(blockdev_open_image(&bd, path_of("a.qcow2"), true, BLOCKDEV_FORMAT_QCOW2), 0);
	assert_int_equal(bd->size, 8 * MiB);
	assert_int_equal(blockdev_close(bd), 0);
}

static void test_raw_stays_raw(void **state)
{
	struct blockdev *bd = NULL;

	write_file("plain.img", "hello", 5, 1 * MiB);
	assert_int_equal(blockdev_open_image(&bd, path_of("plain.img"), false, BLOCKDEV_FORMAT_AUTO), 0);
	assert_int_equal(bd->size, 1 * MiB);
	assert_int_equal(blockdev_close(bd), 0);
	assert_int_equal(blockdev_open_image(&bd, path_of("plain.img"), false, BLOCKDEV_FORMAT_RAW), 0);
	assert_int_equal(blockdev_close(bd), 0);
	/* An empty file is raw, of size 0; the sniff reads nothing. */
	write_file("empty.img", NULL, 0, 0);
	assert_int_equal(blockdev_open_image(&bd, path_of("empty.img"), true, BLOCKDEV_FORMAT_AUTO), 0);
	assert_int_equal(blockdev_close(bd), 0);
}

static void test_other_formats_refused(void **state)
{
	uint8_t head[512] = { 0 };

	write_file("d.vmdk", "KDMV", 4, 1 * MiB);
	expect_refused("d.vmdk", false, BLOCKDEV_FORMAT_AUTO, "is a VMDK image, which git sbx does not read");
	memcpy(head + 0x40, "\x7f\x10\xda\xbe", 4);
	write_file("d.vdi", head, sizeof(head), 1 * MiB);
	expect_refused("d.vdi", true, BLOCKDEV_FORMAT_AUTO, "is a VDI image");
	write_file("d.qcow", "QFI\xfb\0\0\0\1", 8, 1 * MiB);
	expect_refused("d.qcow", false, BLOCKDEV_FORMAT_AUTO, "is a qcow (version 1) image");
}

static void test_raw_over_an_image_only_read_only(void **state)
{
	struct qcow2_create_opts o = QCOW2_CREATE_OPTS_INIT;
	struct blockdev *bd = NULL;
	struct stat st;

	o.size = 8 * MiB;
	assert_int_equal(qcow2_create(path_of("b.qcow2"), &o), 0);
	expect_refused("b.qcow2", false, BLOCKDEV_FORMAT_RAW,
		       "is a qcow2 image: as format=raw the guest would write over its header");
	assert_int_equal(blockdev_open_image(&bd, path_of("b.qcow2"), true, BLOCKDEV_FORMAT_RAW), 0);
	assert_int_equal(stat(path_of("b.qcow2"), &st), 0);
	assert_int_equal(bd->size, (uint64_t)st.st_size & ~511ULL);
	assert_int_equal(blockdev_close(bd), 0);
}

static void test_qcow2_over_raw_refused(void **state)
{
	write_file("c.img", "not an image", 12, 1 * MiB);
	expect_refused("c.img", false, BLOCKDEV_FORMAT_QCOW2, "format=qcow2: ");
	expect_refused("c.img", false, BLOCKDEV_FORMAT_QCOW2, "is not a qcow2 image");
}

static void test_parse_format(void **state)
{
	enum blockdev_format f = BLOCKDEV_FORMAT_RAW;

	assert_int_equal(blockdev_parse_format("qcow2", &f), 0);
	assert_int_equal(f, BLOCKDEV_FORMAT_QCOW2);
	assert_int_equal(blockdev_parse_format("raw", &f), 0);
	assert_int_equal(f, BLOCKDEV_FORMAT_RAW);
	assert_int_equal(blockdev_parse_format("auto", &f), 0);
	assert_int_equal(f, BLOCKDEV_FORMAT_AUTO);
	assert_int_equal(blockdev_parse_format("vmdk", &f), SBX_EINVAL);
	assert_non_null(strstr(sbx_error(), "unknown disk format 'vmdk'"));
}

static int setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sniff_each_format),
		cmocka_unit_test(test_qcow2_by_magic),
		cmocka_unit_test(test_raw_stays_raw),
		cmocka_unit_test(test_other_formats_refused),
		cmocka_unit_test(test_raw_over_an_image_only_read_only),
		cmocka_unit_test(test_qcow2_over_raw_refused),
		cmocka_unit_test(test_parse_format),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
