"""Command line: argument parsing only; every command is one call into the library."""
