# cmd/: git-sbx and one file per subcommand.
bin_PROGRAMS += git-sbx
git_sbx_SOURCES = \
	cmd/git-sbx.c cmd/builtin.h \
	cmd/parse-options.c cmd/parse-options.h \
	cmd/disk.c \
	cmd/image.c \
	cmd/run.c cmd/run-cmd.h \
	cmd/version.c \
	cmd/vm.c
git_sbx_CFLAGS = $(AM_CFLAGS) $(LIBGIT2_CFLAGS) $(JANSSON_CFLAGS)
git_sbx_LDADD = $(SBX_LIBS)
# the task commands (git transport and task records)
git_sbx_SOURCES += cmd/audit.c cmd/list.c cmd/show.c cmd/diff.c cmd/logs.c cmd/checkpoint.c cmd/continue.c cmd/rm.c cmd/gc.c cmd/task-print.c cmd/task-print.h
# git sbx task and git sbx demo
git_sbx_SOURCES += cmd/task.c cmd/task-cmd.h cmd/demo.c
# attempts: git sbx attempts, pick, retry
git_sbx_SOURCES += cmd/attempts.c cmd/retry.c
# git sbx warm: warm bases ahead of time, and their list
git_sbx_SOURCES += cmd/warm.c
# git sbx hooks: host hooks that run sbx.check in a VM and guard sbx/<id> pushes
git_sbx_SOURCES += cmd/hooks.c
# git sbx proxy: the egress proxy on a host port (not listed; benchmarks, policy debugging)
git_sbx_SOURCES += cmd/proxy.c
# the review loop: review, accept/reject/apply, pr; the pager and colours for every page
git_sbx_SOURCES += cmd/review.c cmd/accept.c cmd/pr.c cmd/pager.c cmd/pager.h
# bash completion: git's completion loads completions/git-sbx for `git sbx <TAB>` (_git_sbx)
bashcompdir = $(datadir)/bash-completion/completions
dist_bashcomp_DATA = cmd/completion/git-sbx
