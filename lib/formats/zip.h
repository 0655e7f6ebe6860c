/* zip.h - the ZIP archives torch.save writes (stored entries, ZIP64 records), read strictly.
 *
 * Promise: zip_open (a file) and zip_parse (bytes in memory) read the central directory and check every
 * entry; an archive that breaks a rule is an error naming the file, never a crash, an out-of-bounds read
 * or an allocation larger than the archive allows:
 *   - exactly one end-of-central-directory record, ending the file (after its comment); single disk;
 *     a ZIP64 locator and record (as torch writes them) used when present, their counts, sizes and
 *     offsets agreeing with the 32-bit record (or that record holding the 0xFFFF.. escape);
 *   - the central directory runs exactly up to the end record(s); the entry count fits in it
 *     (46 bytes or more each) and is at most ZIP_MAX_ENTRIES; each entry lies inside it;
 *   - every entry stored (method 0; compressed size == size) or deflated (method 8: listed, so that a
 *     caller can say what the archive is, but never read: zip_read refuses it); encrypted or patched
 *     entries and other methods refused; the ZIP64 extra field parsed within its bounds when a 32-bit
 *     field holds the 0xFFFFFFFF escape;
 *   - names 1..ZIP_MAX_NAME bytes, unique, relative, without control bytes, backslashes, or empty, "."
 *     or ".." components (no traversal);
 *   - each local header inside the file, agreeing with the central entry (signature, name, method; CRC
 *     and sizes equal, or zero when bit 3 says a data descriptor follows), its data ending before the
 *     central directory, and no two entries overlapping.
 * CRC-32 values are not checked: torch.load does not check them, and torch.save can be told to write
 * zeros. Only the central directory is read on open; entry bytes are read (pread) on request. Lookups
 * and reads leave the ZipFile unchanged and may run in several threads at once. */
#ifndef AUDIOCNN_ZIP_H
#define AUDIOCNN_ZIP_H

#include <stddef.h>
#include <stdint.h>

#define ZIP_MAX_ENTRIES (1 << 20)
#define ZIP_MAX_NAME 4096

typedef struct ZipEntry {
    char *name;      /* NUL-terminated (names holding NUL are refused) */
    uint64_t header; /* offset of the local header */
    uint64_t off;    /* offset of the data */
    uint64_t size;   /* bytes (uncompressed) */
    int method;      /* 0 stored, 8 deflated (not readable) */
} ZipEntry;

typedef struct ZipFile {
    char *name;                 /* the path (or zip_parse's name), prefixed to every message */
    int fd;                     /* zip_open: the open file; -1 for zip_parse */
    const unsigned char *bytes; /* zip_parse: the caller's buffer (must outlive the ZipFile) */
    uint64_t size;              /* of the whole archive */
    int n;
    ZipEntry *e;   /* in central directory order */
    int *by_name;  /* entry indices sorted by name, for zip_find */
} ZipFile;

/* Open and check PATH (central directory and local headers). Returns 0, or -1 with err_set() naming
 * PATH; zip_close() is needed only after success. */
int zip_open(const char *path, ZipFile *z);
/* The same on a whole archive in memory (not copied). */
int zip_parse(const void *bytes, size_t len, const char *name, ZipFile *z);
void zip_close(ZipFile *z);

int zip_find(const ZipFile *z, const char *name); /* entry index or -1 */
/* Bytes [off, off + n) of entry i into buf. Returns 0, or -1 with err_set() (outside the entry, I/O). */
int zip_read(const ZipFile *z, int i, uint64_t off, void *buf, size_t n);

#endif
