"""Fake resend: filled in by its integration."""
