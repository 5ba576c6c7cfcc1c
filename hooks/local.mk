# hooks/: git hook templates and the hook gate.
# The templates that `git sbx hooks install` writes, built into libsbx as C strings.
HOOK_TEMPLATES = hooks/pre-commit.sh hooks/pre-push.sh
EXTRA_DIST += $(HOOK_TEMPLATES) hooks/gen-templates.sh
nodist_libsbx_a_SOURCES = hooks/templates.c
BUILT_SOURCES = hooks/templates.c
CLEANFILES += hooks/templates.c
hooks/templates.c: $(HOOK_TEMPLATES) $(srcdir)/hooks/gen-templates.sh
	$(AM_V_GEN)$(MKDIR_P) hooks && $(SHELL) $(srcdir)/hooks/gen-templates.sh $(srcdir) > $@.tmp && mv $@.tmp $@
