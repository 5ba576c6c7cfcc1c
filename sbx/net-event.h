/* SPDX-License-Identifier: MIT */
/*
 * One network decision, as the policy proxy (sbx/proxy.c) reports it: one
 * event per guest connection, when the connection ends (or is refused).
 * sbx/audit.c writes it to the task's audit file as a "conn" record.
 *
 * Every string but `rule` may come from the guest (the CONNECT or request
 * line, the Host header, the SNI): any bytes, not necessarily UTF-8.  The
 * audit writer copies what it needs before returning, so the strings only
 * have to live for the call.
 */
#ifndef SBX_SBX_NET_EVENT_H
#define SBX_SBX_NET_EVENT_H

#include <stdbool.h>
#include <stdint.h>

struct sbx_net_event {
	int64_t time_ms;	/* Unix time in ms when the connection was accepted; 0 = now */
	const char *host;	/* the name (or IP literal) asked for; may be NULL */
	uint16_t port;
	const char *method;	/* "CONNECT", "GET", ...; NULL when not seen */
	const char *path;	/* the request target's path; NULL when not seen (CONNECT) */
	bool allowed;
	const char *rule;	/* the rule that allowed or denied it; NULL: the default (deny) */
	const char *reason;	/* why, in words ("no rule for this host", "SNI differs"); may be NULL */
	uint64_t bytes_up, bytes_down;	/* guest -> upstream, upstream -> guest */
	uint64_t duration_ms;
};

/* How the proxy hands events on (e.g. to sbx_audit_conn); called from any thread. */
typedef void (*sbx_net_event_fn)(void *opaque, const struct sbx_net_event *ev);

#endif
