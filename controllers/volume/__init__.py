"""Storage controllers: PV binder with the local-path provisioner, PVC protection."""
