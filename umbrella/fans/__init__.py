"""Fans: contact lists and their members, imports, unsubscribes and suppressions."""
