"""`run` prints each failure's first line, cut at a word (the rows keep the whole text)."""

from __future__ import annotations

from robustbench_liver.cli.run import _first_line


def test_the_reason_line_is_kept_whole_and_long_ones_end_at_a_word():
    assert (
        _first_line("RuntimeError: gave up\n  the command: tool --in x") == "RuntimeError: gave up"
    )
    long = _first_line("because " * 60)
    assert long.endswith(" …") and len(long) <= 302 and long[:-2].endswith("because")
    assert _first_line("") == ""
