"""Pure logic of the scheduler; imports no framework, broker or SDK."""
