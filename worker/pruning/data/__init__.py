"""Task data: built-in tasks, local files and the hub, read, encoded and tokenized."""
