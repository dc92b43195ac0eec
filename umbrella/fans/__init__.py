"""Fans: contact lists, broadcasts by email and SMS, deliveries and suppressions."""
