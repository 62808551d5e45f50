"""The resource metrics add-on (metrics.k8s.io/v1beta1), see addons/metrics/main.py."""
