"""Files: folders, file metadata, the per-artist storage quota and pending uploads."""
