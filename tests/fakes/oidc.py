"""Fake oidc: filled in by its integration."""
