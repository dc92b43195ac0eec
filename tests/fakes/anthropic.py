"""Fake anthropic: filled in by its integration."""
