"""What to measure: sweep specs, the cases they expand to, shards, FLOP formulas. Pure; no torch state."""
