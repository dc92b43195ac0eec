"""Storage: browser uploads (signed, sealed, checked), the per-artist quota and object deletion."""
