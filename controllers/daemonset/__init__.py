"""The DaemonSet controller (apps/v1): controller.py, placement rules in placement.py."""
