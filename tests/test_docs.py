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
