"""Admission: defaulting and validation of objects written through the API server."""
