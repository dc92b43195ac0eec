"""Accounts: users, sessions, sign-in and notification preferences."""
