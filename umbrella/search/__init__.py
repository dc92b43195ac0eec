"""Artist discovery and global search (D-071): ranked full-text and typo-tolerant matching."""
