"""kubelite apiserver."""
