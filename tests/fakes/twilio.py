"""Fake twilio: filled in by its integration."""
