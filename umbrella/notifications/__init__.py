"""Notifications: every email and SMS the platform sends, with its delivery outcome."""
