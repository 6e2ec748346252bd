"""fdiv as a reference oracle for other people's code: losses, activations, conjugates, DPO / f-DPO preference
losses, Gaussian divergences, FID and Monte Carlo estimators against fdiv's exact derivations.

Every check_* returns a Report (outcome: agree, numerically limited or wrong; worst point, errors, non-finite
points, a one-line diagnosis); its assert_* twin raises AssertionError with that report, verdict first. The
function under test gets its own copies of the inputs and runs in this process (`fdiv verify` runs it in a child
process: fdiv.testing.isolate). Hypothesis strategies are in
fdiv.testing.strategies, the pytest fixtures in fdiv.testing.plugin (a pytest11 entry point).

Importing this package loads nothing heavy: the pytest plugin lives inside it, and pytest imports the plugin in
every project of an environment where fdiv is installed. A name loads its submodule (torch and numpy) on first
use; SymPy and the derivation engine load when a check first needs a derivation.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Where each public name lives; an assert_* twin lives beside its check_*.
_EXPORTS = {
    "dpo": ("DPOFunctionError", "check_dpo"),
    "estimators": ("EstimatorError", "check_divergence_estimator", "check_elbo_estimator", "check_estimator",
                   "check_iwae_estimator"),
    "gaussians": ("Case", "GaussianFunctionError", "check_fid", "check_gaussian_divergence", "gaussian_cases"),
    "losses": ("ROLES", "UserFunctionError", "check_activation", "check_conjugate", "check_conjugate_of_activation",
               "check_critic_loss", "check_density_ratio", "check_divergence_estimate", "check_generator_loss",
               "check_generator_loss_nonsaturating", "check_loss", "default_logits", "drawn_logits"),
    "reference": ("DTYPES", "LOGIT_GRID", "RTOL", "Point"),
    "report": ("AGREE", "ASSERTS", "LIMITED", "WRONG", "Report"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
_WHERE.update({name.replace("check_", "assert_", 1): module
               for name, module in list(_WHERE.items()) if name.startswith("check_")})

__all__ = sorted(name for name in _WHERE if name != "ASSERTS")

if TYPE_CHECKING:  # what a type checker and an IDE see; at run time __getattr__ below loads each name
    from .dpo import DPOFunctionError, check_dpo
    from .estimators import (EstimatorError, check_divergence_estimator, check_elbo_estimator, check_estimator,
                             check_iwae_estimator)
    from .gaussians import Case, GaussianFunctionError, check_fid, check_gaussian_divergence, gaussian_cases
    from .losses import (ROLES, UserFunctionError, check_activation, check_conjugate, check_conjugate_of_activation,
                         check_critic_loss, check_density_ratio, check_divergence_estimate, check_generator_loss,
                         check_generator_loss_nonsaturating, check_loss, default_logits, drawn_logits)
    from .reference import DTYPES, LOGIT_GRID, RTOL, Point
    from .report import AGREE, ASSERTS, LIMITED, WRONG, Report


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    loaded = importlib.import_module(f"{__name__}.{module}")
    if name.startswith("assert_"):
        value = getattr(loaded, name.replace("assert_", "check_", 1)).assert_twin
    else:
        value = getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
