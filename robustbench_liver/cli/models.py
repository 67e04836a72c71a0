"""`robustbench-liver models`: every registered model with its card."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXAMPLE = """\
examples:
  robustbench-liver models                      # names, versions, what each one is
  robustbench-liver models --full               # every card field its adapter uses
  robustbench-liver models --spec my_model.yaml # check a model spec and show its card
  robustbench-liver models --json > cards.json
"""

SHORT_FIELDS = ("version", "adapter", "output", "needs_liver", "spacing_mm", "license")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "models",
        help="list the registered models and their cards",
        description=(
            "List every registered model (built-ins, @register_model, entry points of the "
            "group robustbench_liver.models) with its model card."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="show every card field that applies to the model's adapter (a python or "
        "command model has no sliding-window or weights fields)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the complete cards (every field) as JSON"
    )
    parser.add_argument(
        "--spec",
        type=Path,
        action="append",
        default=[],
        help="also load this model: a YAML spec or a MONAI bundle folder",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from robustbench_liver.errors import ModelError
    from robustbench_liver.models import cards, get_model

    entries: list[tuple[str, object]] = list(cards())
    for path in args.spec:
        try:
            model = get_model(str(path))  # a spec file or a bundle folder
            entries.append((str(path), model.card))
        except ModelError as err:
            entries.append((str(path), err))
    if args.json:
        payload = {
            name: card.to_dict() if not isinstance(card, Exception) else {"error": str(card)}  # type: ignore[attr-defined]
            for name, card in entries
        }
        print(json.dumps(payload, indent=2))
    else:
        for name, card in entries:
            print(_describe(name, card, args.full))
    broken = [name for name, card in entries if isinstance(card, Exception)]
    if broken:
        print(f"{len(broken)} model(s) could not be loaded: {', '.join(broken)}", file=sys.stderr)
    return 1 if broken else 0


def _describe(name: str, card: object, full: bool) -> str:
    from robustbench_liver.models.protocol import card_for_display

    if isinstance(card, Exception):
        return f"{name}\n  error: {card}\n"
    data = card_for_display(card.to_dict())  # type: ignore[attr-defined]
    lines = [f"{name}  {data['description']}".rstrip()]
    keys = [k for k in data if k not in ("name", "description")] if full else SHORT_FIELDS
    for key in (k for k in keys if k in data):
        value = data[key]
        if value in (None, "", []) and not full:
            continue
        lines.append(f"  {key}: {value}")
    if not full and data.get("trained_on"):
        lines.append(f"  trained_on: {data['trained_on']}")
    return "\n".join(lines) + "\n"
