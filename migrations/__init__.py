"""Data that travels with the code (read through importlib.resources: settings.packaged)."""
