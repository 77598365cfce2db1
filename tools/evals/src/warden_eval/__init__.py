"""`warden eval`: scenario files run end to end through the embedded stack, scored on a scorecard."""
