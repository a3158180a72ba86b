// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/wire.h"
#include "datapath/journal.h"

#define JOURNAL_MAGIC	"PFJRNL01"

/* On disk: this header, the message, the updates. */
struct journal_hdr {
	char magic[8];
	uint64_t epoch;
	uint64_t seq;
	uint64_t msg_len;
	uint64_t nupd;
};

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n)
{
	char *c = p;

	while (n) {
		ssize_t r = read(fd, c, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ENODATA;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

int journal_write(const char *path, uint64_t epoch, uint64_t seq, const char *msg, size_t len,
		  const struct pf_dp_upd *upd, size_t nupd)
{
	struct journal_hdr h = { .epoch = epoch, .seq = seq, .msg_len = len, .nupd = nupd };
	char tmp[PATH_MAX + 8];
	int fd, err;

	memcpy(h.magic, JOURNAL_MAGIC, 8);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = write_all(fd, &h, sizeof(h));
	err = err ?: write_all(fd, msg, len);
	err = err ?: write_all(fd, upd, nupd * sizeof(*upd));
	close(fd);
	if (!err && rename(tmp, path))
		err = -errno;
	return err;
}

void journal_entry_free(struct journal_entry *e)
{
	free(e->msg);
	free(e->upd);
	memset(e, 0, sizeof(*e));
}

int journal_read(const char *path, uint64_t epoch, uint64_t committed, struct journal_entry *e,
		 const char **why)
{
	struct journal_hdr h;
	int fd, rc;

	memset(e, 0, sizeof(*e));
	*why = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = read_all(fd, &h, sizeof(h));
	if (rc) {
		*why = "short header";
		goto out;
	}
	if (memcmp(h.magic, JOURNAL_MAGIC, 8) || h.msg_len > WIRE_MAX_MSG || h.nupd > (1ULL << 30)) {
		*why = "not a journal";
		goto out;
	}
	if (h.epoch != epoch || (h.seq != committed && h.seq != committed + 1)) {
		rc = 0;		/* another epoch's, or older: nothing to recover */
		goto out;
	}
	e->seq = h.seq;
	e->len = h.msg_len;
	e->nupd = h.nupd;
	e->msg = malloc(h.msg_len ?: 1);
	e->upd = malloc(h.nupd * sizeof(*e->upd) ?: 1);
	if (!e->msg || !e->upd) {
		rc = -ENOMEM;
		goto out;
	}
	rc = read_all(fd, e->msg, e->len);
	rc = rc ?: read_all(fd, e->upd, e->nupd * sizeof(*e->upd));
	if (rc) {
		*why = "short";
		goto out;
	}
	close(fd);
	return 1;
out:
	close(fd);
	journal_entry_free(e);
	/* what cannot be recovered is not an error of the caller's */
	return rc == -ENOMEM ? rc : 0;
}
