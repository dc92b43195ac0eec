"""Follows: users following artists, with follower counts kept exact."""
