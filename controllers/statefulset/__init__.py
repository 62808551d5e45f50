"""StatefulSet controller package."""
