"""Web dashboard add-on."""
