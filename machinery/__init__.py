"""kubelite machinery."""
