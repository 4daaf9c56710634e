"""The measurements table: its schema, the on-disk store of runs, reading runs back."""
