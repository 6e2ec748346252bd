"""The f-GAN table cross-check finds exactly the known differences, and each published formula still bounds."""
import pytest

from fdiv.spec import catalogue
from fdiv.derivation.published import check_row


@pytest.fixture(scope="module")
def rows():
    out = {s.name: check_row(s) for s in catalogue.specs() if s.published}
    out["alpha=1/2"] = check_row(catalogue.get("alpha"), alpha="1/2")
    return out


def test_rows_with_differences(rows):
    differing = {name for name, row in rows.items() if row.differs}
    assert differing == {"total-variation", "pearson", "neyman", "alpha"}


def test_pearson_boundary_branch(rows):
    (text,) = rows["pearson"].differences
    assert "(-oo, -2]" in text and "exact -1" in text and "t**2/4 + t" in text


def test_total_variation_domain(rows):
    (text,) = rows["total-variation"].differences
    assert "published [-1/2, 1/2]" in text and "(-oo, 1/2]" in text


def test_neyman_closed_end(rows):
    (text,) = rows["neyman"].differences
    assert "published (-oo, 1)" in text and "(-oo, 1]" in text and "finite (2)" in text


def test_alpha_above_one_branch(rows):
    (text,) = rows["alpha"].differences  # default alpha = 3
    assert "(-oo, -1/2]" in text and "not real" in text


def test_published_formulas_never_undercut_the_exact_conjugate(rows):
    assert all(row.published_is_upper_bound for row in rows.values())


def test_activation_differences_are_shown(rows):
    notes = " ".join(rows["reverse-kl"].agreements)
    assert "-exp(-v)" in notes and "-log(1 + exp(-v))" in notes
