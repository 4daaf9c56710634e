"""Measurements of the harness itself (gate validation, noise checks); not part of the API."""
