/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * What Debian 12's libbpf 1.1 and its 6.1 uapi headers lack for tcx
 * (kernel 6.6+). The one place these values are written down; they are
 * the kernel's ABI (include/uapi/linux/bpf.h) and never change.
 */
#ifndef PINGFOLD_TCX_COMPAT_H
#define PINGFOLD_TCX_COMPAT_H

#include <linux/types.h>

#define PF_BPF_TCX_INGRESS	46	/* enum bpf_attach_type */
#define PF_BPF_TCX_EGRESS	47
#define PF_BPF_LINK_TYPE_TCX	11	/* enum bpf_link_type */
#define PF_BPF_F_BEFORE		(1U << 3)	/* attach before the relative (all, if none) */

/* struct bpf_link_info's head and its tcx member (offset 16: the union is 8-aligned). */
struct pf_tcx_link_info {
	__u32 type;
	__u32 id;
	__u32 prog_id;
	__u32 pad;
	__u32 ifindex;		/* 0 once the device is gone or the link detached */
	__u32 attach_type;
	__u8 rest[48];		/* the rest of the union: room for the kernel's answer */
};

#endif /* PINGFOLD_TCX_COMPAT_H */
