"""kubelite cli."""
