"""Portfolio: an artist's tracks (uploaded audio and streaming links) in display order."""
