"""Reviews: invitations by email (D-032), unmoderated ratings (D-034), reviews after a gig."""
