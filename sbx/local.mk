# sbx/: the core layer; composes vmm/ and snapshot/ with the repository.
libsbx_a_SOURCES += \
	sbx/config.c sbx/config.h sbx/settings.c sbx/settings.h \
	sbx/repo.c sbx/repo.h \
	sbx/sysinfo.c sbx/sysinfo.h
# git transport and task records (bundle.c, task.c)
libsbx_a_SOURCES += sbx/bundle.c sbx/bundle-header.c sbx/bundle-import.c sbx/bundle.h \
	sbx/pack-scan.c sbx/pack-scan.h sbx/index-pack.c sbx/index-pack.h \
	sbx/import-check.c sbx/import-check.h \
	sbx/oidset.c sbx/oidset.h sbx/fsutil.c sbx/fsutil.h sbx/textrec.c sbx/textrec.h \
	sbx/task.c sbx/task-record.c sbx/task-gc.c sbx/task-worktree.c \
	sbx/task-import.c sbx/task-summary.c sbx/task.h sbx/task-int.h
libsbx_a_SOURCES += \
	sbx/channel.c sbx/channel.h sbx/proto.h \
	sbx/chan-parse.c sbx/chan-stream.c sbx/chan-quiesce.c sbx/chan-int.h
# the machine description that cmd/vm.c and the core layer hand to vmm/
libsbx_a_SOURCES += sbx/machine.c sbx/machine-snap.c sbx/machine-ckpt.c sbx/machine-ckpt.h sbx/machine.h
# the VMM in a confined process of its own (fork+exec, Landlock, seccomp)
libsbx_a_SOURCES += sbx/vmm-proc.c sbx/vmm-proc.h sbx/vmm-child.c \
	sbx/seccomp.c sbx/seccomp.h sbx/landlock.c sbx/landlock.h \
	sbx/disk-limit.c sbx/disk-limit.h
# disks for `git sbx disk` (cmd/disk.c): snapshot/qcow2 behind a thin interface
libsbx_a_SOURCES += sbx/disk.c sbx/disk.h
# images: the guest's initramfs and root images
libsbx_a_SOURCES += sbx/initramfs.c sbx/initramfs.h sbx/image.c sbx/image.h \
	sbx/sandbox.c sbx/sandbox-qemu.c sbx/sandbox-int.h sbx/sandbox.h sbx/console-log.c sbx/console-log.h
# running a task: agents and the session (boot, transfer, agent, import)
libsbx_a_SOURCES += sbx/agent.c sbx/agent.h sbx/task-run.c sbx/task-step.c sbx/task-run.h sbx/task-run-int.h \
	sbx/task-transfer.c sbx/task-warm.c sbx/tar.c sbx/tar.h
# warm bases: memory snapshots of a set-up guest that tasks restore (store, build)
libsbx_a_SOURCES += sbx/warm.c sbx/warm-gc.c sbx/warm-build.c sbx/warm.h
# attempts: several sessions of a task from one start, side by side, one chosen
libsbx_a_SOURCES += sbx/attempt.c sbx/attempt-cmp.c sbx/attempt-pick.c sbx/attempt.h
libsbx_a_SOURCES += sbx/checkpoint.c sbx/checkpoint-gc.c sbx/checkpoint.h \
	sbx/rewind.c sbx/rewind.h sbx/task-ckpt.c sbx/task-ckpt.h sbx/task-resume.c
# secrets and TLS interception for the hosts that carry one (OpenSSL)
libsbx_a_SOURCES += sbx/secret.c sbx/secret-http.c sbx/secret.h sbx/tls-ca.c sbx/tls-ca.h \
	sbx/mitm.c sbx/mitm-bio.c sbx/mitm.h sbx/mitm-int.h sbx/req-stream.c sbx/req-stream.h
# the audit trail: audit.jsonl, its reader and summary, the git note
libsbx_a_SOURCES += sbx/audit.c sbx/audit-read.c sbx/audit-sample.c sbx/audit.h sbx/net-event.h
# the egress proxy's host side: request and ClientHello parsers, policy, connections
libsbx_a_SOURCES += sbx/http-req.c sbx/http-req.h sbx/tls-hello.c sbx/tls-hello.h \
	sbx/policy.c sbx/policy.h sbx/proxy.c sbx/proxy-conn.c sbx/proxy.h sbx/proxy-int.h \
	sbx/proxy-upstream.c sbx/proxy-upstream.h
# a task's network: its policy, proxy, secrets, CA and audit file, wired to the session
libsbx_a_SOURCES += sbx/task-net.c sbx/task-net.h sbx/task-env.c sbx/task-env.h \
	sbx/task-scripts.c sbx/task-scripts.h
# the end of a review: accept (merge, squash, rebase, fast-forward), reject, apply; the review page's data
libsbx_a_SOURCES += sbx/accept.c sbx/apply.c sbx/accept.h sbx/accept-int.h sbx/review.c sbx/review-md.c sbx/review.h
# the hook gate (checks on a result in a fresh VM, their results) and the host hooks
libsbx_a_SOURCES += sbx/gate.c sbx/gate-vm.c sbx/gate.h sbx/hooks.c sbx/hooks.h
