"""Artists: profiles and career timeline."""
