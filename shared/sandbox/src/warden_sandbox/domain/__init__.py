"""Pure simulation logic of the sandbox: no HTTP, files or settings here."""
