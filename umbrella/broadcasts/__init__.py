"""Broadcasts: fan messages by email and SMS, sent once per recipient by the delivery engine."""
