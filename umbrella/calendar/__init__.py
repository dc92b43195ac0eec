"""Calendar: an iCalendar feed of a user's gigs, behind a revocable per-user link."""
