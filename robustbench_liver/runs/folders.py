"""Names as folder names: one safe path component per name, never two names in one folder.

A name that is already a safe component (letters, digits, '_', '+', '.', '-'; no leading or
trailing '.' or '-'; not a Windows device name; at most 100 characters) is its own folder,
exactly as run folders before this module had it. Any other name becomes a readable slug, '~'
and 12 hex digits of the name's sha256: '~' is never in a safe name, so an encoded folder
never meets a safe one, and two encoded ones meet only if their hashes do. The manifest maps
each name to its folder (`folders` in manifest.json), which makes the encoding reversible.

What the encoding cannot rule out, `check_distinct` refuses: two names whose folders differ
only in case share one folder on macOS and Windows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from robustbench_liver.errors import RobustBenchError

_SAFE = re.compile(r"[A-Za-z0-9_+]([A-Za-z0-9_.+-]*[A-Za-z0-9_+])?")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")
_LONGEST = 100
_READABLE = 48
_HASH = 12
_DEVICES = frozenset(
    {"con", "prn", "aux", "nul"} | {f"{d}{i}" for d in ("com", "lpt") for i in range(10)}
)
"""Windows refuses these as file names, whatever follows a dot."""


def is_safe(name: str) -> bool:
    """Is `name` its own folder name?"""
    return (
        len(name) <= _LONGEST
        and _SAFE.fullmatch(name) is not None
        and name.split(".")[0].casefold() not in _DEVICES
    )


def folder_name(name: str) -> str:
    """`name` itself when it is a safe path component, else 'slug~hash' (see the module)."""
    if is_safe(name):
        return name
    readable = _UNSAFE.sub("-", name).strip(".-")[:_READABLE].strip(".-") or "_"
    if readable.split(".")[0].casefold() in _DEVICES:  # 'CON.txt~...' is still CON
        readable = "_" + readable
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH]
    return f"{readable}~{digest}"


def legacy_folder(name: str) -> str:
    """The folder run folders written before `folder_name` used (several names could share
    one): read only, to recognise such folders."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", name).lstrip(".").strip("-") or "x"


def check_distinct(names: Iterable[str], what: str) -> dict[str, str]:
    """name -> folder for `names`, refusing empty names and names whose folders are one
    folder on a case-insensitive disk."""
    folders: dict[str, str] = {}
    taken: dict[str, str] = {}
    for name in dict.fromkeys(names):
        if not name.strip():
            raise RobustBenchError(f"a {what} name must not be empty or blank, got {name!r}")
        folder = folder_name(name)
        other = taken.setdefault(folder.casefold(), name)
        if other != name:
            raise RobustBenchError(
                f"{what}s {other!r} and {name!r} would share the folder {folder!r} on "
                f"case-insensitive disks (macOS, Windows); give one of them another name"
                + (" (its card's `name`)" if what == "model" else "")
            )
        folders[name] = folder
    return folders
