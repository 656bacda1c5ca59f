"""The web page at /ui: server-rendered shells that small vendored scripts fill from the API."""
