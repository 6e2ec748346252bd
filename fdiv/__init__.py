"""fdiv: exact f-divergence derivations (conjugates over u >= 0, critic ranges, activations) and stable losses."""
from .derive import Derivation, derive
from .errors import FdivError
from .spec import Spec, load_toml

__version__ = "0.1.0"

__all__ = ["Derivation", "FdivError", "Spec", "derive", "load_toml", "__version__"]
