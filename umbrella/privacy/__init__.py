"""Settings and the account itself: notification preferences, export, deletion (D-102)."""
