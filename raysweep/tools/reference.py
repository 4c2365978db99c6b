"""The README's reference sections, generated from the code that defines them: the table columns
(raysweep.results.schema) and the spec keys (the pydantic schema in raysweep.config).

    python -m raysweep.tools.reference --write README.md   # rewrite the generated blocks in place
    python -m raysweep.tools.reference README.md           # exit 1 when they drifted (tests/contracts/test_reference.py)

A block sits between `<!-- BEGIN name -->` and `<!-- END name -->` lines; the text around it is
the README's own.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import re
import sys
import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from raysweep.config.eval_spec import EvalSpec
from raysweep.config.schema import SweepSpec
from raysweep.results import columns as C, schema as S

BLOCK = re.compile(r"(<!-- BEGIN (\w+) -->\n)(.*?)(<!-- END \2 -->)", re.S)


def _type_name(tp: object) -> str:
    """A readable type: list[int], Optional[Resources], Literal['clean', 'mean'] (constraints dropped)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return "Literal[" + ", ".join(repr(a) for a in args) + "]"
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        rest = [a for a in args if a is not type(None)]
        inner = " or ".join(_type_name(a) for a in rest)
        return f"Optional[{inner}]" if len(rest) < len(args) else inner
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a) for a in args)}]"
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def columns() -> str:
    """Markdown tables of every result table's columns, Arrow types and meanings (raysweep.results.columns)."""
    def table(title: str, fields, kind: str = "trials") -> list[str]:
        return [f"**{title}**", "", "| column | type | meaning |", "|---|---|---|",
                *[f"| `{name}` | {typ} | {C.doc_of(name, kind) or ''} |" for name, typ in fields], ""]

    lines = table("tables/trials/ (one row per trial)", [(f.name, f.type) for f in S.TRIAL_BASE])
    lines += table("tables/trials/, per attack label `<attack>` (the min-eps columns only with `min_eps_steps`) "
                   "and strategy parameter",
                   [(f"<attack>.{k}", t) for k, t in {**S.ATTACK_INFO, **S.ATTACK_METRICS, **S.MIN_EPS_METRICS}.items()]
                   + [("strategy.<param>", "the parameter's declared type")])
    lines += table("tables/trials/, per distance `<method>.<attack>`",
                   [(f"<method>.<attack>.{k}", t) for k, t in S.DISTANCE_METRICS.items()])
    lines += table("tables/examples/ (one row per attacked sample and restart)",
                   [(f.name, f.type) for f in S.EXAMPLE_SCHEMA], "examples")
    lines += table("tables/epochs/ (one row per trial and epoch)", [(f.name, f.type) for f in S.EPOCH_SCHEMA], "epochs")
    lines += table("tables/manifolds/ (one row per learned manifold model; raysweep/manifold/quality.py)",
                   [(f.name, f.type) for f in S.MANIFOLD_SCHEMA], "manifolds")
    return "\n".join(lines)


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """root and every pydantic model its fields hold, in first-seen order."""
    seen: list[type[BaseModel]] = []

    def visit(tp: object) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                return
            seen.append(tp)
            for f in tp.model_fields.values():
                visit(f.annotation)
        for arg in typing.get_args(tp):
            visit(arg)

    visit(root)
    return seen


def spec_keys() -> str:
    """Markdown tables of every key of a sweep spec and an evaluation spec: type and default."""
    lines: list[str] = []
    for model in _models(SweepSpec) + [m for m in _models(EvalSpec) if m not in _models(SweepSpec)]:
        doc = " ".join((model.__doc__ or "").strip().split("\n\n")[0].split())
        lines += [f"**{model.__name__}**" + (f": {doc}" if doc and not doc.startswith("!!!") else ""), "",
                  "| key | type | default |", "|---|---|---|"]
        for name, f in model.model_fields.items():
            if f.default is PydanticUndefined and f.default_factory is None:
                default = "required"
            elif f.default_factory is not None:
                default = f"`{f.default_factory()!r}`" if f.default_factory in (list, dict) else "(defaults)"
            else:
                default = f"`{f.default!r}`"
            lines.append(f"| `{name}` | {_type_name(f.annotation)} | {default} |")
        lines.append("")
    return "\n".join(lines)


GENERATORS = {"columns": columns, "spec": spec_keys}


def render(text: str) -> str:
    """`text` with every known generated block rewritten."""
    def sub(m: re.Match) -> str:
        gen = GENERATORS.get(m.group(2))
        return m.group(0) if gen is None else f"{m.group(1)}{gen()}\n{m.group(4)}"

    return BLOCK.sub(sub, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rewrite or check the README's generated reference blocks.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--write", action="store_true", help="rewrite the blocks in place")
    args = parser.parse_args(argv)
    text = args.path.read_text()
    new = render(text)
    if args.write:
        args.path.write_text(new)
        return 0
    if new != text:
        print(f"{args.path}: generated blocks are out of date; run python -m raysweep.tools.reference --write {args.path}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
