"""Machine-checked derivations of the course notes (planned; see the project's issues)."""
