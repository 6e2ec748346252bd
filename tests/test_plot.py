"""fdiv plot: structure of the figures (size, axes, labels, what each panel draws), determinism, errors, and
the one-line error when matplotlib is missing."""
from __future__ import annotations

import functools
import math
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import fdiv
from fdiv.cli import main

pytest.importorskip("matplotlib", reason="fdiv plot needs the optional extra fdiv[plot]")

from fdiv import plot  # noqa: E402  (imports matplotlib lazily, but the tests need it present)

ROOT = Path(__file__).resolve().parents[1]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@functools.cache
def derived(name: str) -> fdiv.Derivation:
    return fdiv.derive(name)


@pytest.fixture(scope="module")
def kl_figure():
    return plot.divergence_figure([derived("kl")])


@pytest.fixture(scope="module")
def compare_figure():
    return plot.divergence_figure([derived(n) for n in ("gan", "kl", "reverse-kl")])


def test_cli_png_svg_pdf(tmp_path, capsys):
    """The issue's three commands; PNG size, SVG axes and PDF page count read back from the files."""
    png, svg, pdf = tmp_path / "kl.png", tmp_path / "x.svg", tmp_path / "c.pdf"
    assert main(["plot", "kl", "-o", str(png)]) == 0
    assert main(["plot", "--f", "Abs(u-1)**3", "-o", str(svg)]) == 0
    assert main(["plot", "gan", "--compare", "kl", "reverse-kl", "-o", str(pdf)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"wrote {png}", f"wrote {svg}", f"wrote {pdf}"]
    assert png_size(png.read_bytes()) == (1000, 750)  # 10 x 7.5 inches at 100 dpi
    root = ET.fromstring(svg.read_bytes())
    ids = [el.get("id") for el in root.iter() if (el.get("id") or "").startswith("axes_")]
    assert ids == ["axes_1", "axes_2", "axes_3", "axes_4"]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") == 1
    assert b"CreationDate" not in data and b"ModDate" not in data


def test_output_is_deterministic(compare_figure, tmp_path):
    """Vector formats twice, byte for byte (SVG clip-path names and PDF dates would otherwise vary); the PNG's
    only text chunk names fdiv, not a matplotlib version."""
    for fmt in ("svg", "pdf"):
        assert plot.render(compare_figure, fmt) == plot.render(compare_figure, fmt), fmt
    svg = plot.render(compare_figure, "svg")
    assert b"<dc:date>" not in svg and b"Matplotlib v" not in svg  # no date, no version string
    png = plot.save(compare_figure, tmp_path / "c.png").read_bytes()
    assert b"tEXtSoftware\x00fdiv " in png and b"Matplotlib" not in png
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]  # the temporary file was moved into place


def test_panels_and_labels(kl_figure):
    axes = kl_figure.axes
    assert len(axes) == 4
    assert [a.get_xlabel() for a in axes] == ["u = p/q", "t", "v (critic logit)", "u = p/q"]
    assert [a.get_ylabel() for a in axes] == ["f(u)", "f*(t)", "σ_f(v)", "T*(u) = f′(u)"]
    assert kl_figure.get_suptitle() == "kl:  f(u) = u*log(u)"
    assert tuple(kl_figure.get_size_inches()) == plot.SIZE


def curve(ax, label_start: str):
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith(label_start)]
    assert len(lines) == 1, [ln.get_label() for ln in ax.get_lines()]
    return np.asarray(lines[0].get_xdata(), float), np.asarray(lines[0].get_ydata(), float)


def test_curves_are_the_derived_functions(kl_figure):
    """Each panel draws the exact expression: f(2) = 2 log 2, f*(0) = e^-1, sigma(v) = v, T*(2) = log 2 + 1."""
    ax_f, ax_c, ax_s, ax_t = kl_figure.axes
    for ax, label, x0, y0 in ((ax_f, "kl", 2.0, 2 * math.log(2)), (ax_c, "f* (kl)", 0.0, math.exp(-1)),
                              (ax_s, "σ_f(v) = v", 1.5, 1.5), (ax_t, "T*(u) = log(u) + 1", 2.0, math.log(2) + 1)):
        x, y = curve(ax, label)
        assert abs(np.interp(x0, x, y) - y0) < 1e-3 * max(1, abs(y0)), label  # linear interpolation on the grid


def test_conjugate_panel_marks_domain_ends_and_branches():
    # neyman: dom f* = (-oo, 1], closed: a filled marker at (1, f*(1) = 2), +oo shaded beyond
    ax = plot.divergence_figure([derived("neyman")]).axes[1]
    (x, y) = curve(ax, "t = 1 ∈ dom f*")
    assert (x[0], y[0]) == (1.0, 2.0)
    assert any(p.get_label() == "f* = +∞ (outside dom f*)" for p in ax.patches)
    # reverse KL: dom f* = (-oo, 0), f* -> oo: a vertical asymptote at t = 0, no end marker
    ax = plot.divergence_figure([derived("reverse-kl")]).axes[1]
    x, _ = curve(ax, "open end t = 0")
    assert set(x) == {0.0}
    assert not [ln for ln in ax.get_lines() if "closed end" in ln.get_label()]
    # total variation: the branch t <= -1/2 is -f(0) = -1/2
    ax = plot.divergence_figure([derived("total-variation")]).axes[1]
    x, y = curve(ax, "−f(0) = -1/2 for t ≤ -1/2")
    assert x.max() <= -0.5 and set(y) == {-0.5}


def test_f_panel_shows_f_at_zero():
    """alpha = 1/3: f(0+) = 1/a = 3 is marked on the axis and inside the y-range (a marker outside would push
    the layout around)."""
    ax = plot.divergence_figure([fdiv.derive("alpha", alpha="1/3")]).axes[0]
    marker = [ln for ln in ax.get_lines() if list(ln.get_xdata()) == [0.0]]
    assert len(marker) == 1 and list(marker[0].get_ydata()) == [3.0]
    assert ax.get_ylim()[0] < 0 < 3.0 < ax.get_ylim()[1]


def test_activation_panel_shows_the_critic_range():
    ax = plot.divergence_figure([derived("gan")]).axes[2]
    _, y = curve(ax, "σ_f(v) = -log(1 + exp(-v))")
    assert (y < 0).all()  # inside the critic range (-oo, 0)
    _, end = curve(ax, "finite end of the critic range")
    assert set(end) == {0.0}


def test_compare_overlays_one_curve_per_divergence(compare_figure):
    fig = compare_figure
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels[:3] == ["gan", "kl", "reverse-kl"], labels
    assert fig.get_suptitle() == "gan compared with kl, reverse-kl"


def test_history_plot(tmp_path):
    from fdiv.train import History

    h = History("kl", "single-step", step=[10, 20, 30], bound=[0.1, 0.3, 0.45],
                true_divergence=[0.9, 0.6, 0.5], parameters={"bias": [0.0, 1.0, 2.0], "weight": [1, 0.7, 0.5]})
    fig = plot.history_figure(h)
    assert len(fig.axes) == 2
    assert [ln.get_label() for ln in fig.axes[0].get_lines()] == ["variational bound (batch mean)", "D_f(P‖Q)"]
    assert [ln.get_label() for ln in fig.axes[1].get_lines()] == ["bias", "weight"]
    path = h.save(tmp_path / "h.json")
    out = tmp_path / "h.png"
    assert main(["plot", "--history", str(path), "-o", str(out)]) == 0
    assert png_size(out.read_bytes()) == (1000, 750)
    assert len(plot.history_figure(History("kl", "critic", step=[1], bound=[0.2])).axes) == 1


@pytest.mark.parametrize("argv, message", [
    (["plot", "kl", "-o", "{tmp}/a.jpg"], "expected a file ending in .png, .svg or .pdf"),
    (["plot", "kl", "-o", "{tmp}/missing/a.png"], "no such directory"),
    (["plot", "nope", "-o", "{tmp}/a.png"], "unknown divergence 'nope'"),
    (["plot", "kl", "--compare", "nope", "-o", "{tmp}/a.png"], "--compare 'nope': unknown divergence"),
    (["plot", "--f", "-u**2 + 1", "-o", "{tmp}/a.png"], "not convex"),
    (["plot", "--f", "__import__('os')", "-o", "{tmp}/a.png"], "unknown function '__import__'"),
    (["plot", "-o", "{tmp}/a.png"], "give exactly one of NAME, --f EXPR or --history FILE"),
    (["plot", "kl", "--u-max", "0.5", "-o", "{tmp}/a.png"], "--u-max must be a finite number above 1"),
    (["plot", "--history", "{tmp}/none.json", "-o", "{tmp}/a.png"], "cannot read"),
    (["plot", "--history", "{tmp}/h.json", "--compare", "kl", "-o", "{tmp}/a.png"], "takes no --compare"),
])
def test_bad_input_one_line_and_nothing_written(tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_missing_matplotlib_is_one_error_line(tmp_path):
    """A process where `import matplotlib` fails: exit 2, one line naming the extra, no file, no traceback."""
    out = tmp_path / "kl.png"
    code = ("import sys; sys.modules['matplotlib'] = None; from fdiv.cli import main; "
            f"sys.exit(main(['plot', 'kl', '-o', {str(out)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)}, timeout=900)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "error: plotting needs matplotlib: pip install 'fdiv[plot]' (or pip install matplotlib)\n"
    assert not out.exists()


def test_other_commands_do_not_import_matplotlib():
    code = ("import sys; from fdiv.cli import main; main(['list']); "
            "assert 'matplotlib' not in sys.modules and 'torch' not in sys.modules, 'imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)}, timeout=900)
    assert proc.returncode == 0, proc.stderr
