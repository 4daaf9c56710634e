"""Pure functions over results: statistics, significance tests, comparisons, summaries."""
