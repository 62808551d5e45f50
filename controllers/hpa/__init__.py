"""The HorizontalPodAutoscaler controller (controllers/hpa/controller.py) and its pure parts."""
