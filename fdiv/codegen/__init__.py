"""The code-generation stage: a `Derivation` in; a readable, deterministic torch (or JAX) module out."""
