"""kubelite scheduler."""
