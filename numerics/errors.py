"""Errors for bad numeric input: one line that says what is wrong (the CLI prints it and exits 2)."""
from fdiv.errors import FdivError


class NumericsError(FdivError):
    """Bad input to a numeric reference (non-PD covariance, negative variance, mismatched shapes, NaN)."""
