"""Embedded domains that ship with the package, so the suite runs offline on data we may ship.

``python-docs``: the Python Language Reference topics that every CPython installation carries in
``pydoc_data.topics``, written out as one text document per topic, plus hand-written gold questions
(``python_docs_gold.jsonl``) naming their relevant passages.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BUILTIN_PREFIX", "builtin_names", "is_builtin", "materialize"]

BUILTIN_PREFIX = "builtin:"
_HERE = Path(__file__).parent
_GOLD = {"python-docs": _HERE / "python_docs_gold.jsonl"}


def builtin_names() -> list[str]:
    """Names accepted after ``builtin:`` in ``data_dir``."""
    return sorted(_GOLD)


def is_builtin(data_dir: str) -> bool:
    """Whether ``data_dir`` names an embedded domain (``builtin:<name>``)."""
    return str(data_dir).startswith(BUILTIN_PREFIX)


def _write_python_docs(dest: Path) -> None:
    from pydoc_data.topics import topics

    dest.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(topics.items()):
        (dest / f"{name}.txt").write_text(text, encoding="utf-8")


def materialize(data_dir: str, dest: str | Path) -> tuple[Path, Path]:
    """Write an embedded domain's documents under ``dest``.

    Args:
        data_dir: ``builtin:<name>``.
        dest: folder to write the documents into (created; existing files are overwritten).

    Returns:
        ``(documents_folder, gold_file)``.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    name = str(data_dir)[len(BUILTIN_PREFIX) :]
    if name not in _GOLD:
        raise ValueError(f"unknown builtin domain {name!r}; valid: {', '.join(builtin_names())}")
    folder = Path(dest)
    _write_python_docs(folder)
    return folder, _GOLD[name]
