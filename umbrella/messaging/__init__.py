"""Messaging: one conversation per pair of users, polled for new messages."""
