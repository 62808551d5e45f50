"""The Job controller (batch/v1): controller.py; pure helpers in indexes.py, pods.py, backoff.py."""
