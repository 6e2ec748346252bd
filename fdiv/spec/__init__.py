"""The spec stage: a name, an expression in u or a TOML file in; a validated `Spec` (SymPy f, parameters) out."""
