"""kubelite controllers."""
