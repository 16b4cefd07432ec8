"""A benchmark's section of a results file: the text between its two markers is replaced (or the
section appended), so each benchmark rewrites its own numbers and nothing else."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, block: str, start: str, end: str) -> None:
    """Put ``block`` (which begins with ``start`` and ends with ``end``) in ``path`` where the old
    section was, or at the end."""
    text = path.read_text() if path.exists() else "# Oracle benchmark results\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
