"""What a person sees: HTML reports, compare pages, terminal tables. Reads results only."""
