"""Local stand-ins for the external providers, speaking their wire protocols."""
