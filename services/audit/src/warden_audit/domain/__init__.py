"""Pure audit logic: the hash chain, its line format, verification and the recorder."""
