"""Command line: each module parses one command group, calls the library and renders the result."""
