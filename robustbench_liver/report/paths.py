"""No local paths in what we publish: reports and leaderboards travel to other machines, and
an absolute path says nothing there but who ran it where (a home folder, a temp folder)."""

from __future__ import annotations

import re
from typing import Any

# an absolute POSIX or Windows path that starts a value or follows a space, quote, bracket,
# '=' or ',': so 'nsd@2mm/surfel', '*/ct.nii.gz', '{dir}/x', 'n/a', URLs and ' / ' are left
_ABSOLUTE = re.compile(r"""(?<![^\s'"(\[{=,])(?:[A-Za-z]:[\\/]|/)[^\s'"`<>|/\\][^\s'"`<>|]*""")


def portable(value: Any) -> Any:
    """`value` with every absolute path in its strings (dict keys too, lists and dicts
    followed) cut to its last part: '/home/me/w/unet.pt' -> 'unet.pt'."""
    if isinstance(value, str):
        return _ABSOLUTE.sub(_last_part, value)
    if isinstance(value, dict):
        return {portable(k): portable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(portable(v) for v in value)
    return value


def _last_part(match: re.Match[str]) -> str:
    parts = [p for p in re.split(r"[\\/]", match.group()) if p]
    return parts[-1] if parts else match.group()
