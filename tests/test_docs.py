"""Generated documents are up to date: the README's catalogue table, docs/catalogue.md, docs/published-table.md."""
from fdiv import docs


def test_generated_documents_are_current():
    stale = [str(p.relative_to(docs.ROOT)) for p, text in docs.expected().items()
             if not p.exists() or p.read_text(encoding="utf-8") != text]
    assert not stale, f"regenerate with: python -m fdiv.docs --write ({', '.join(stale)})"


def test_readme_table_lists_every_entry():
    readme = (docs.ROOT / "README.md").read_text(encoding="utf-8")
    from fdiv import catalogue

    for name in catalogue.names():
        assert f"| `{name}" in readme


def test_facts_are_computed_not_typed():
    """Every fact marker in the README names a registered fact, every registered fact is used, and the check
    above rewrites a planted wrong value (the README's old JSD, 0.1199...) with the computed one."""
    readme = (docs.ROOT / "README.md").read_text(encoding="utf-8")
    used = set(docs.FACT.findall(readme))
    keys = {key for key, _ in used}
    assert keys == set(docs.FACTS), (keys ^ set(docs.FACTS))
    planted = "JSD = <!-- fact:jsd-n1-n0 -->0.1199…<!-- /fact -->."
    computed = docs.FACTS["jsd-n1-n0"]()
    assert docs.with_facts(planted) == f"JSD = <!-- fact:jsd-n1-n0 -->{computed}<!-- /fact -->."
    # and the computed value is the JSD: scipy's quadrature of q f(p/q) written out here, p/q = e^(x - 1/2)
    import math

    from scipy import integrate, stats

    def integrand(x: float) -> float:
        u = math.exp(x - 0.5)
        return stats.norm.pdf(x) * (u * math.log(u) - (u + 1) * math.log((u + 1) / 2)) / 2

    jsd = integrate.quad(integrand, -40, 40, epsabs=0, epsrel=1e-13)[0]
    assert computed == docs.leading_digits(jsd, 5)


def test_an_unknown_fact_is_an_error():
    import pytest

    with pytest.raises(KeyError, match="unknown fact"):
        docs.with_facts("x <!-- fact:no-such-fact -->1<!-- /fact -->")


def test_leading_digits_cut_and_do_not_round():
    assert docs.leading_digits(0.11142148218473617, 5) == "0.11142…"
    assert docs.leading_digits(0.22284296436947237, 5) == "0.22284…"
    assert docs.leading_digits(0.0999999, 2) == "0.099…"
    assert docs.leading_digits(1.3484988106265894e307, 5) == "1.3484…e+307"
    assert docs.leading_digits(-2.5e-9, 3) == "-2.50…e-9"
    assert docs.leading_digits(123.456, 3) == "123…" and docs.leading_digits(123.456, 4) == "123.4…"
