"""Violet: the AI assistant's prompt log, which also backs the daily limit (D-062)."""
