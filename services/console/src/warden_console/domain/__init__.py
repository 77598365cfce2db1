"""Pure logic of the console; imports no framework, broker or SDK."""
