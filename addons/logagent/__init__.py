"""Node log agent: tails the kubelet's container log files and ships them to the log store."""
