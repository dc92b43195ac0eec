"""Operations: cron run records and the durable job queue's schema."""
