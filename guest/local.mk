# guest/: sbx-init, PID 1 inside the VM (static binary).
