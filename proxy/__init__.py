"""kubelite proxy."""
