"""fdiv list: the catalogue's names, aliases, f and parameters."""
from __future__ import annotations

import json


def add_parser(sub, formatter) -> None:
    p = sub.add_parser("list", help="built-in divergences and their aliases", formatter_class=formatter,
                       description="The built-in catalogue: names, aliases, f(u) and parameters.",
                       epilog="examples:\n  fdiv list\n  fdiv list --format json")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")


def run(args) -> str:
    from .. import catalogue

    specs = catalogue.specs()
    if args.format == "json":
        return json.dumps([{"name": s.name, "aliases": list(s.aliases), "title": s.title, "f": s.f,
                            "parameters": {p.name: p.describe() for p in s.params}} for s in specs], indent=2)
    width = max(len(s.name) for s in specs)
    lines = []
    for s in specs:
        extra = f"  [{'; '.join(p.describe() + ', default ' + p.default for p in s.params)}]" if s.params else ""
        aliases = f"  (aliases: {', '.join(s.aliases)})" if s.aliases else ""
        lines.append(f"{s.name.ljust(width)}  f(u) = {s.f}{extra}{aliases}")
    return "\n".join(lines)
