"""fdiv list: the catalogue's names, aliases, f and parameters."""
from __future__ import annotations

import json


def add_parser(sub, formatter) -> None:
    p = sub.add_parser("list", help="built-in divergences and their aliases", formatter_class=formatter,
                       description="The built-in catalogue: names, aliases, f(u) and parameters.",
                       epilog="examples:\n  fdiv list\n  fdiv list --format json")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")


def _links(specs) -> dict:
    """Whether each spec (parameters at their defaults) has a valid f-DPO link (fdiv.codegen.objectives.link)."""
    from ..codegen.objectives.link import catalogue_links

    return catalogue_links(specs)


def run(args) -> str:
    from ..spec import catalogue

    specs = catalogue.specs()
    links = _links(specs)
    if args.format == "json":
        return json.dumps([{"name": s.name, "aliases": list(s.aliases), "title": s.title, "f": s.f,
                            "parameters": {p.name: p.describe() for p in s.params},
                            "fdpo": {"valid": links[s.name].valid, "reason": links[s.name].reason}}
                           for s in specs], indent=2)
    width = max(len(s.name) for s in specs)
    lines = []
    for s in specs:
        extra = f"  [{'; '.join(p.describe() + ', default ' + p.default for p in s.params)}]" if s.params else ""
        aliases = f"  (aliases: {', '.join(s.aliases)})" if s.aliases else ""
        link = links[s.name]
        dpo = "f-DPO: yes" if link.valid else f"f-DPO: no ({link.short})"
        lines.append(f"{s.name.ljust(width)}  f(u) = {s.f}{extra}{aliases}  {dpo}")
    lines.append("\nf-DPO: whether `fdiv gen NAME --objective dpo` has a valid link at the default parameters "
                 "(f'(0+) = -oo, f' continuous and strictly increasing)")
    return "\n".join(lines)
