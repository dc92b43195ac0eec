"""Studio: the artist's journal and goals."""
