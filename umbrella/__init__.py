"""Umbrella: the music-industry platform for independent artists."""

__version__ = "0.1.0"
