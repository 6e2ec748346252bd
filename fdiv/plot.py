"""Figures: f, f*, sigma_f and T* of one or more divergences, a training history, the mixture experiment.

matplotlib is an optional extra (pip install 'fdiv[plot]'); it is imported here only, when a figure is made.
Figures are built on matplotlib.figure.Figure (no pyplot, no global backend) under one fixed style, and
saved with the dates and the creator's version removed from the metadata, so the same input gives the
same bytes.
"""
from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mpmath
import numpy as np
import sympy as sp

from ._util import __version__
from .derivation.activation import V
from .derivation.conjugate import T
from .derivation.engine import Derivation
from .errors import FdivError
from .spec.spec import U

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = ("png", "svg", "pdf")
SIZE = (10.0, 7.5)  # inches; at DPI 100 a PNG is 1000 x 750 pixels
DPI = 100
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#000080", "#808000")
STYLE = {
    "font.family": "DejaVu Sans",  # shipped with matplotlib: no dependence on the machine's fonts
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.6,
    "legend.fontsize": 8.0,
    "legend.framealpha": 0.85,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "svg.hashsalt": "fdiv",  # element ids in SVG are otherwise random
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "path.simplify": True,
}


class PlotUnavailable(FdivError):
    """matplotlib is not installed."""


def _matplotlib():
    try:
        import matplotlib
        import matplotlib.style  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError:
        raise PlotUnavailable("plotting needs matplotlib: pip install 'fdiv[plot]' (or pip install matplotlib)") from None
    return matplotlib


@contextmanager
def _style() -> Iterator[None]:
    mpl = _matplotlib()
    with mpl.rc_context():
        mpl.style.use("default")
        mpl.rcParams.update(STYLE)
        yield


def _new_figure(rows: int, cols: int) -> tuple[Figure, np.ndarray]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, dpi=DPI)
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, axes


def _layout(fig: Figure) -> None:
    """Lay out once, when the figure is built: the margins are then fixed, so every render is the same
    (constrained layout re-runs on each draw from where the last one left off, moving text by 1e-6 pt)."""
    fig.tight_layout(rect=(0, 0, 1, 0.96))


# ------------------------------------------------------------------------------------------------ saving

def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise FdivError(f"-o {path}: expected a file ending in .png, .svg or .pdf")
    return suffix


def render(fig: Figure, fmt: str) -> bytes:
    """The figure's bytes in png/svg/pdf, without dates or version strings in the metadata."""
    if fmt not in FORMATS:
        raise FdivError(f"unknown figure format {fmt!r} (png, svg, pdf)")
    creator = f"fdiv {__version__}"
    metadata: dict[str, Any] = {
        "png": {"Software": creator},
        "svg": {"Creator": creator, "Date": None},
        "pdf": {"Creator": creator, "Producer": creator, "CreationDate": None, "ModDate": None},
    }[fmt]
    buf = io.BytesIO()
    with _style():
        fig.savefig(buf, format=fmt, metadata=metadata)
    return _stable_clip_ids(buf.getvalue()) if fmt == "svg" else buf.getvalue()


def _stable_clip_ids(svg: bytes) -> bytes:
    """matplotlib names SVG clip paths by hashing (among others) the id() of a box made at draw time, so the
    names change from run to run; number them in order of first appearance instead."""
    names: dict[bytes, bytes] = {}

    def rename(m: re.Match) -> bytes:
        return names.setdefault(m.group(0), b"clip%d" % len(names))
    return re.sub(rb"\bp[0-9a-f]{10}\b", rename, svg)


def save(fig: Figure, path: str | Path) -> Path:
    """Render first, then write atomically: a failure leaves no file behind."""
    from ._util.atomic import write_bytes

    return write_bytes(path, render(fig, format_of(path)))


# ------------------------------------------------------------------------------------- numeric evaluation

def numeric(expr: sp.Expr, var: sp.Symbol) -> Callable[[np.ndarray], np.ndarray]:
    """expr as a vectorised float function; NaN where it is undefined or not real."""
    extra = sorted(str(s) for s in expr.free_symbols - {var})
    if extra:
        raise FdivError(f"cannot plot with symbolic parameters ({', '.join(extra)}): give each a value, "
                        "for example --param alpha=3")
    fn = sp.lambdify(var, _numpy_nodes(expr), ["scipy", "numpy"])

    def call(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            try:
                y = np.asarray(fn(x), dtype=np.complex128)
            except (TypeError, ValueError, ZeroDivisionError, OverflowError):
                y = np.array([_mp_value(expr, var, xi) for xi in x], dtype=np.complex128)
        y = np.broadcast_to(y, x.shape)
        real = np.where(np.abs(y.imag) <= 1e-9 * (1 + np.abs(y.real)), y.real, np.nan)
        return np.where(np.isfinite(real), real, np.nan)
    return call


def _numpy_nodes(expr: sp.Expr) -> sp.Expr:
    """expr with each numeric node (fdiv.inverse: u*(t), f*(t) = t u* - f(u*) where f'(u*) = t) replaced by a
    vectorised float64 implementation: a bisection of f'(u) = t on the piece, 120 halvings (to float64 resolution)."""
    from sympy.utilities.lambdify import implemented_function

    from .derivation.inverse import NUMERIC_FUNCTIONS

    if not isinstance(expr, sp.Basic) or not expr.has(*NUMERIC_FUNCTIONS):
        return expr
    nodes = sorted(expr.atoms(*NUMERIC_FUNCTIONS), key=sp.default_sort_key)
    return expr.xreplace({node: implemented_function(f"_numeric_node_{k}", _numpy_node(node))(node.args[0])
                          for k, node in enumerate(nodes)})


def _numpy_node(node: sp.Function) -> Callable[[np.ndarray], np.ndarray]:
    from .derivation.inverse import SlopeInverse
    from .codegen.lower.table import bisect

    lam, lo, hi = node.args[1], float(node.args[2]), float(node.args[3])
    u_var = lam.variables[0]
    f = sp.lambdify(u_var, lam.expr, "numpy")
    df = f if isinstance(node, SlopeInverse) else sp.lambdify(u_var, sp.diff(lam.expr, u_var), "numpy")

    def mapping(y):
        if np.isinf(hi):
            return (lo + np.exp(y),)
        return (np.where(y < 0, lo + (hi - lo) / (1 + np.exp(-y)), hi - (hi - lo) / (1 + np.exp(y))),)

    y_range = (-745.0, 709.0) if np.isinf(hi) else (-745.0, 745.0)

    def call(t):
        t = np.asarray(t, dtype=np.float64)
        with np.errstate(all="ignore"):
            u = mapping(bisect(lambda y: df(mapping(y)[0]), mapping, t * np.ones_like(t), *y_range))[0]
            return u if isinstance(node, SlopeInverse) else t * u - f(u)
    return call


def _mp_value(expr: sp.Expr, var: sp.Symbol, x: float) -> complex:
    from .derivation.numeric import mp_function, real_value

    value = real_value(mp_function(expr, var), x)
    return complex(float(value)) if value is not None else complex(np.nan)


def _float(x: sp.Expr) -> float:
    return float(x) if x.is_finite else (np.inf if x == sp.oo else -np.inf)


def _limits(values: Sequence[np.ndarray], extra: Sequence[float] = (), cut: float = 0.0) -> tuple[float, float]:
    """y-limits over the finite values, less the lowest `cut` percent (a steep fall at u -> 0), always
    including the landmarks in `extra`, widened by 8%."""
    flat = np.concatenate([np.ravel(v) for v in values])
    flat = flat[np.abs(flat) < 1e300]  # finite, with room for the padding below
    extra = [x for x in extra if abs(x) < 1e300]
    if flat.size == 0 and not extra:
        return -1.0, 1.0
    lo, hi = np.percentile(flat, [cut, 100]) if flat.size else (min(extra), max(extra))
    lo, hi = min(lo, *extra) if extra else lo, max(hi, *extra) if extra else hi
    pad = 0.08 * (hi - lo) if hi > lo else 1.0
    return float(lo - pad), float(hi + pad)


# --------------------------------------------------------------------------------------- divergence figure

def _text(x: Any) -> str:
    """SymPy's text with oo written as the infinity sign."""
    return str(x).replace("oo", "∞")


def _short(prefix: str, expr: sp.Expr, width: int = 42) -> str:
    """A legend label with the expression, or the prefix alone when the expression is too long to read."""
    text = _text(expr)
    return prefix + text if len(text) <= width else prefix.rstrip(" =")


def _label(d: Derivation) -> str:
    if d.name != "custom":
        params = ", ".join(f"{k}={v}" for k, v in d.parameters.items())
        return f"{d.name}({params})" if params else d.name
    return _short("f(u) = ", d.f, 60)


def _title(d: Derivation) -> str:
    return _label(d) if d.name == "custom" else _short(f"{_label(d)}:  f(u) = ", d.f, 60)


def _t_window(derivations: Sequence[Derivation]) -> tuple[float, float]:
    """t from 3 below the lowest to 3 above the highest finite landmark: f'(1), f'(0+), the ends of dom f*."""
    marks = []
    for d in derivations:
        marks += [_float(x) for x in (d.f_prime_at_one, d.f_prime_at_zero, d.conjugate_domain.upper,
                                      d.conjugate_domain.lower)]
    marks = [m for m in marks if np.isfinite(m)]
    return min(marks) - 3.0, max(marks) + 3.0


def divergence_figure(derivations: Sequence[Derivation], *, u_max: float = 4.0) -> Figure:
    """Four panels: f on (0, u_max]; f* on dom f* (ends open/closed, the -f(0) branch, the +oo region);
    sigma_f over R against the critic range; T* = f'(u). Several derivations are overlaid, one colour each."""
    if not derivations:
        raise FdivError("nothing to plot")
    if not (np.isfinite(u_max) and u_max > 1):
        raise FdivError(f"--u-max must be a finite number above 1, got {u_max}")
    single = len(derivations) == 1
    with _style():
        fig, axes = _new_figure(2, 2)
        ax_f, ax_c, ax_s, ax_t = axes[0, 0], axes[0, 1], axes[1, 0], axes[1, 1]
        u = np.unique(np.concatenate([np.geomspace(1e-6, 0.05, 120), np.linspace(0.05, u_max, 500)]))
        t_lo, t_hi = _t_window(derivations)
        t = np.linspace(t_lo, t_hi, 1201)
        v = np.linspace(-6.0, 6.0, 601)
        f_vals, c_vals, s_vals, d_vals, marks = [], [], [], [], []
        for i, d in enumerate(derivations):
            colour = COLOURS[i % len(COLOURS)]
            label = _label(d)
            f_vals.append(_panel_f(ax_f, d, u, colour, label))
            values, ends = _panel_conjugate(ax_c, d, t, colour, label, single)
            c_vals.append(values)
            marks += ends
            s_vals.append(_panel_activation(ax_s, d, v, colour, label, single))
            d_vals.append(_panel_critic(ax_t, d, u, colour, label, single))
        if not single:  # one legend entry explains every shaded region
            ax_c.axvspan(np.nan, np.nan, color="gray", alpha=0.15, linewidth=0, label="shaded: f* = +∞ there")
        u_window = u >= 0.1
        f_marks = [0.0] + [_float(d.f_at_zero) for d in derivations]  # f(0+), drawn on the axis edge
        ax_f.set_ylim(*_limits([y[u_window] for y in f_vals], f_marks, cut=5))
        ax_c.set_ylim(*_limits(c_vals, marks))
        ax_s.set_ylim(*_limits(s_vals))
        ax_t.set_ylim(*_limits([y[u_window] for y in d_vals], [0.0], cut=5))
        ax_f.set(xlim=(0, u_max), xlabel="u = p/q", ylabel="f(u)", title="generator f on (0, u_max]")
        ax_c.set(xlim=(t_lo, t_hi), xlabel="t", ylabel="f*(t)", title="convex conjugate f* on dom f*")
        ax_s.set(xlim=(v[0], v[-1]), xlabel="v (critic logit)", ylabel="σ_f(v)",
                 title="activation σ_f: ℝ → critic range")
        ax_t.set(xlim=(0, u_max), xlabel="u = p/q", ylabel="T*(u) = f′(u)", title="optimal critic T* = f′(p/q)")
        for ax in (ax_f, ax_c, ax_s, ax_t):
            ax.legend(loc="best")
        fig.suptitle(_title(derivations[0]) if single else
                     f"{_label(derivations[0])} compared with {', '.join(_label(d) for d in derivations[1:])}")
        _layout(fig)
    return fig


def _panel_f(ax, d: Derivation, u: np.ndarray, colour: str, label: str) -> np.ndarray:
    y = numeric(d.f, U)(u)
    ax.plot(u, y, color=colour, label=label)
    f0 = _float(d.f_at_zero)
    if np.isfinite(f0):  # f(0) := f(0+), part of f's domain
        ax.plot([0.0], [f0], "o", color=colour, clip_on=False, zorder=5)
    ax.plot([1.0], [_float(d.f_at_one)], "s", color=colour, markersize=4, zorder=5)
    return y


def _panel_conjugate(ax, d: Derivation, t: np.ndarray, colour: str, label: str,
                     single: bool) -> tuple[np.ndarray, list[float]]:
    """f* on dom f*; returns the values that set the y-limits (not those next to an asymptote) and the
    values at the marked ends."""
    dom = d.conjugate_domain
    lo, hi = _float(dom.lower), _float(dom.upper)
    inside = (t > lo) & (t < hi)
    fn = numeric(d.conjugate, T)
    y = np.where(inside, fn(t), np.nan)
    ax.plot(t, y, color=colour, label=f"f* ({label})" if single else label)
    scale_y = y.copy()
    marks: list[float] = []
    for b in d.branches:  # the branch t <= f'(0+), where the supremum sits at u = 0: f*(t) = -f(0)
        if b.kind == "boundary":
            edge = _float(b.upper)
            seg = t[t <= edge]
            ax.plot(seg, np.full(seg.shape, _float(b.expr)), color=colour, linewidth=4, alpha=0.35,
                    solid_capstyle="butt", label=f"−f(0) = {b.expr} for t ≤ {b.upper}" if single else None)
    for end, closed, side in ((hi, dom.upper_closed, 1), (lo, dom.lower_closed, -1)):
        if not np.isfinite(end):
            continue
        value = fn(np.array([end]))[0] if closed else _limit_at(d, dom.upper if side > 0 else dom.lower, side)
        name = _text(dom.upper if side > 0 else dom.lower)
        if closed and np.isfinite(value):
            ax.plot([end], [value], "o", color=colour, zorder=5,
                    label=f"t = {name} ∈ dom f* (closed end)" if single else None)
            marks.append(float(value))
        elif np.isfinite(value) and abs(value) < 1e6:
            ax.plot([end], [value], "o", markerfacecolor="white", color=colour, zorder=5,
                    label=f"t = {name} ∉ dom f* (open end)" if single else None)
            marks.append(float(value))
        else:
            ax.axvline(end, color=colour, linestyle=":", linewidth=1.2,
                       label=f"open end t = {name}: f* → +∞" if single else None)
            near = np.abs(t - end) < 0.05 * (t[-1] - t[0])  # the blow-up would squash the rest
            scale_y = np.where(near, np.nan, scale_y)
        span = (end, max(t[-1], end)) if side > 0 else (min(t[0], end), end)
        ax.axvspan(*span, color=colour, alpha=0.10 if single else 0.06, hatch="//" if single else None,
                   linewidth=0, label="f* = +∞ (outside dom f*)" if single else None)
    return scale_y, marks


def _limit_at(d: Derivation, end: sp.Expr, side: int) -> float:
    """lim f*(t) as t -> end from inside dom f*, numerically at 50 digits: the values at end -+ 10^-k,
    k = 10, 20, 40, either settle (the limit) or keep growing (+inf, as for -log(-t) at 0)."""
    from .derivation.numeric import mp_function, real_value

    fn = mp_function(d.conjugate, T)
    with mpmath.workdps(60):
        b = mpmath.mpf(sp.N(end, 60))
        values = [real_value(fn, b - side * mpmath.mpf(10) ** -k, dps=50) for k in (10, 20, 40)]
    if any(v is None for v in values):
        return np.inf
    if values[2] - values[1] > 1 or values[2] > 1e6:
        return np.inf
    return float(values[2])


def _critic_range_lines(ax, d: Derivation, colour: str, single: bool) -> list[float]:
    ends = []
    for end in (d.critic_range.lower, d.critic_range.upper):
        value = _float(end)
        if np.isfinite(value):
            ax.axhline(value, color=colour, linestyle="--", linewidth=1.0,
                       label="finite end of the critic range" if single and not ends else None)
            ends.append(value)
    return ends


def _panel_activation(ax, d: Derivation, v: np.ndarray, colour: str, label: str, single: bool) -> np.ndarray:
    y = numeric(d.activation, V)(v)
    ax.plot(v, y, color=colour, label=_short("σ_f(v) = ", d.activation) if single else label)
    ends = _critic_range_lines(ax, d, colour, single)
    if single:
        # an infinite end is drawn far outside the view (1e300 would overflow in the renderers' transforms)
        lo = max(_float(d.critic_range.lower), -1e6)
        hi = min(_float(d.critic_range.upper), 1e6)
        ax.axhspan(lo, hi, color=colour, alpha=0.07, linewidth=0, label=f"critic range {_text(d.critic_range)}")
    return np.concatenate([y, np.array(ends)])


def _panel_critic(ax, d: Derivation, u: np.ndarray, colour: str, label: str, single: bool) -> np.ndarray:
    y = numeric(d.optimal_critic, U)(u)
    ax.plot(u, y, color=colour, label=_short("T*(u) = ", d.optimal_critic) if single else label)
    ax.plot([1.0], [_float(d.f_prime_at_one)], "s", color=colour, markersize=4, zorder=5,
            label=f"f′(1) = {_text(d.f_prime_at_one)}" if single else None)
    _critic_range_lines(ax, d, colour, False)
    return y


# ------------------------------------------------------------------------------------------ history figure

def history_figure(history) -> Figure:
    """The variational bound against the step, with D_f when known; generator parameters when traced."""
    panels = 2 if history.parameters else 1
    with _style():
        fig, axes = _new_figure(1, panels)
        ax = axes[0, 0]
        ax.plot(history.step, history.bound, color=COLOURS[0], label="variational bound (batch mean)")
        if history.true_divergence:
            ax.plot(history.step, history.true_divergence, color=COLOURS[1], linestyle="--", label="D_f(P‖Q)")
        finite = [y for y in history.bound + history.true_divergence if np.isfinite(y)]
        if finite:
            ax.set_ylim(*_limits([np.array(finite)]))
        ax.set(xlabel="step", ylabel="D_f estimate", title="bound E_P[T] − E_Q[f*(T)] vs D_f")
        ax.legend(loc="best")
        if panels == 2:
            ax2 = axes[0, 1]
            for i, (name, values) in enumerate(sorted(history.parameters.items())):
                ax2.plot(history.step, values, color=COLOURS[(i + 2) % len(COLOURS)], label=name)
            ax2.set(xlabel="step", ylabel="value", title="generator parameters")
            ax2.legend(loc="best")
        fig.suptitle(f"training history: {history.divergence} ({history.scheme})")
        _layout(fig)
    return fig


# ------------------------------------------------------------------------------------------ mixture figure

def mixture_figure(rows, mix) -> Figure:
    """Left: P and the best-fit Gaussians N(theta*); right: theta* (dots) and theta-hat (crosses) in the
    (mu, sigma) plane. Divergences with the same theta* (kl and kl-normalised, JS, JSD and GAN, ...) share a
    colour; the legend on the right names them."""
    groups: list[tuple[tuple[float, float], list]] = []
    for row in rows:
        key = (round(row.star.mu, 9), round(row.star.sigma, 9))
        for g in groups:
            if g[0] == key:
                g[1].append(row)
                break
        else:
            groups.append((key, [row]))
    with _style():
        fig, axes = _new_figure(1, 2)
        ax, ax2 = axes[0, 0], axes[0, 1]
        lo = min(mix.means) - 4 * max(mix.stds)
        hi = max(mix.means) + 4 * max(mix.stds)
        x = np.linspace(lo, hi, 800)
        ax.fill_between(x, mix.pdf(x), color="black", alpha=0.15, linewidth=0)
        ax.plot(x, mix.pdf(x), color="black", linewidth=2.2, label=f"P = {mix.describe()}")
        for i, ((mu, sigma), members) in enumerate(groups):
            colour = COLOURS[i % len(COLOURS)]
            style = "-" if i < len(COLOURS) else "--"
            y = np.exp(-(x - mu) ** 2 / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
            ax.plot(x, y, color=colour, linestyle=style)
            ax2.plot([mu], [sigma], "o", color=colour, markersize=6, label=", ".join(r.name for r in members))
            for r in members:
                if r.hat is not None:
                    ax2.plot([r.hat.mu], [r.hat.sigma], "x", color=colour, markersize=7)
                    ax2.plot([mu, r.hat.mu], [sigma, r.hat.sigma], color=colour, linewidth=0.8, linestyle=style)
        ax.set(xlabel="x", ylabel="density", title="P and the best fit N(μ*, σ*²) per divergence", xlim=(lo, hi))
        ax.legend(loc="upper right")
        ax2.plot([], [], "x", color="gray", label="θ̂ (trained), joined to its θ*")
        ax2.set(xlabel="μ", ylabel="σ", title="θ* (dots, exact) and θ̂ (crosses, trained)")
        ax2.margins(0.08)
        ax2.legend(loc="upper left", fontsize=7)
        fig.suptitle("f-GAN mixture experiment: which Gaussian each divergence fits")
        _layout(fig)
    return fig


__all__ = ["FORMATS", "PlotUnavailable", "divergence_figure", "format_of", "history_figure", "mixture_figure",
           "numeric", "render", "save"]
