"""Gigs: the marketplace of venue opportunities, applications and favorites."""
