# hooks/: git hook templates and the hook gate.
