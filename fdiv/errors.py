"""Errors fdiv reports to users: each carries a one-line message that says what is wrong and where."""


class FdivError(ValueError):
    """Bad input or an impossible derivation; the CLI prints it as one `error:` line and exits 2."""


class ParseError(FdivError):
    """The expression text is not in fdiv's whitelisted grammar."""


class SpecError(FdivError):
    """A spec (name, parameters, TOML file) is unknown or malformed."""


class ValidationError(FdivError):
    """f is not a valid generator: undefined on (0, oo), f(1) != 0, or not convex."""


class DerivationError(FdivError):
    """A derivation step failed (for example f' could not be inverted in closed form)."""


class DerivationTimeout(DerivationError):
    """A heavy SymPy call ran past its time limit."""
