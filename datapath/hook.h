/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Where the datapath's two programs sit on an interface: tcx links where
 * the kernel has tcx, else clsact filters. A guest on a shaper's box: it
 * never deletes a qdisc or anything it did not add, it goes first on each
 * hook, and pf_hook_check() puts it back when a shaper's reload removed or
 * overtook it. See docs/operations.md, "A LibreQoS box".
 */
#ifndef PINGFOLD_HOOK_H
#define PINGFOLD_HOOK_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>

enum pf_hook_mode {
	PF_HOOK_AUTO,		/* tcx where the kernel has it, else tc */
	PF_HOOK_TCX,		/* BPF links (kernel 6.6+), independent of clsact */
	PF_HOOK_TC,		/* clsact filters */
};

enum pf_hook_dir { PF_HOOK_INGRESS, PF_HOOK_EGRESS, PF_HOOK_NDIRS };

/* What the last check found on one hook. */
enum pf_hook_state {
	PF_HOOK_OK,		/* attached, first to run */
	PF_HOOK_MISSING,	/* not attached (and re-attaching failed) */
	PF_HOOK_NOT_FIRST,	/* attached, but something that runs before may end the chain */
};

#define PF_TC_HANDLE	0x7066	/* "pf": the handle of our clsact filters */
#define PF_HOOK_DESC	160

struct pf_hook_side {
	int link_fd;		/* tcx link, -1 if none */
	uint32_t prio;		/* tc: priority of our filter, 0 if none */
	uint32_t prog_id;	/* the program we attached */
	enum pf_hook_state state;
	char before[PF_HOOK_DESC];	/* what runs before ours, when not first */
};

struct pf_hook {
	char ifname[IF_NAMESIZE];
	int ifindex;
	enum pf_hook_mode mode;		/* PF_HOOK_TCX or PF_HOOK_TC once attached */
	uint32_t want_prio;		/* tc: the configured priority, 0 = choose */
	char pin_dir[192];		/* tcx links pinned here; "" = not pinned */
	struct pf_hook_side side[PF_HOOK_NDIRS];
};

/* Whether this kernel has tcx (probed, not guessed from the version). */
bool pf_hook_tcx_supported(void);
int pf_hook_mode_parse(const char *s, enum pf_hook_mode *m);
const char *pf_hook_mode_name(enum pf_hook_mode m);
const char *pf_hook_dir_name(enum pf_hook_dir d);

/*
 * Attaches prog_fd[ingress/egress] to ifname. tcx: links placed before
 * every other program, pinned under pin_dir (an earlier agent's pinned
 * links are taken over and given the new programs). tc: filters at
 * tc_prio, or (0) at the lowest priority that runs before every filter
 * already there; a clsact qdisc is created if missing, never deleted.
 * Returns 0 or -errno, logged with the interface and what is in the way.
 */
int pf_hook_attach(struct pf_hook *h, const char *ifname, enum pf_hook_mode mode,
		   uint32_t tc_prio, const char *pin_dir, const int prog_fd[PF_HOOK_NDIRS]);

/*
 * Checks that both programs are attached and first; re-attaches what is
 * missing, or behind something it can get ahead of. Logs once per event.
 * Returns the number of re-attachments made, or -errno.
 */
int pf_hook_check(struct pf_hook *h, const int prog_fd[PF_HOOK_NDIRS]);

/* Removes what this handle attached (links, filters), nothing else. */
void pf_hook_detach(struct pf_hook *h);
/* Forgets the handle, leaving the programs attached (pinned links stay). */
void pf_hook_release(struct pf_hook *h);

/*
 * Without a handle (another process, `pingfold-agent --detach`): removes
 * the tcx links pinned for ifname under pin_dir and the clsact filters
 * with our handle whose program is pingfold's. Returns how many were
 * removed, or -errno.
 */
int pf_hook_detach_any(const char *ifname, const char *pin_dir);

#endif /* PINGFOLD_HOOK_H */
