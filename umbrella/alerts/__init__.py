"""Gig alerts: saved browse filters and the daily digest of new gigs matching them."""
