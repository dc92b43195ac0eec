"""Analytics: the daily per-artist metrics batch (D-008) and profile view counts."""
