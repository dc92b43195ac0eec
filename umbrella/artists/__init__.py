"""Artists: profiles, followers, portfolio tracks, reviews and career timeline."""
