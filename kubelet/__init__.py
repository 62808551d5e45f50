"""kubelite kubelet."""
