"""The CSV manifest layout: a .csv file with the columns path,label and optionally split (train
or test), paths relative to the file's folder. Without a split column, a seeded, stratified
share of each class is the test set.

Scanning is four steps, each with its own errors: read the rows, check their cells, find their
files, and group the files by split and class.
"""

from __future__ import annotations

import os
from pathlib import Path

from labelspace.data.errors import DatasetError, EmptyClassError
from labelspace.data.layouts.files import PerClass, few, read_csv
from labelspace.data.layouts.listing import PERCENT, Layout, Listing, make_listing, split_off_test

__all__ = ["LAYOUT", "SPLIT_NOTE"]

SPLIT_NOTE = (
    f"no split column: {PERCENT} of each class of the manifest (seeded, stratified) is the test set"
)
"""Said to the user when the test set is split off the manifest's rows."""

Row = tuple[int, str, str, str]  # line number, path, label, split


def _detect(root: Path) -> bool:
    """A CSV manifest: a file named *.csv."""
    return root.is_file() and root.suffix.lower() == ".csv"


def _scan(manifest: Path) -> Listing:
    """List a CSV manifest: columns path,label and optionally split (train or test).

    Paths are relative to the CSV file's folder (absolute paths allowed). Without a split
    column, TEST_FRACTION of each class (seeded, stratified) is the test set.

    Raises:
        DatasetError: missing columns, an empty path or label, a split other than train or
            test, a file listed twice or missing, or (no split column) a class too small to
            split.
        EmptyClassError: a class without train rows or without test rows.
    """
    rows, has_split = _read_rows(manifest)
    _check_rows(manifest, rows, has_split)
    files = _find_files(manifest, rows)
    per: dict[str, PerClass] = {"train": {}, "test": {}}
    for (_, _, label, split), full in zip(rows, files, strict=True):
        part = per[split.lower()] if has_split else per["train"]
        part.setdefault(label, []).append(full)
    for part in per.values():
        for paths in part.values():
            paths.sort()
    if not has_split:
        train, test = split_off_test(
            manifest, per["train"], "add rows for them, or a split column (train or test)"
        )
        return make_listing(manifest, "csv", train, test, [SPLIT_NOTE])
    classes = sorted(set(per["train"]) | set(per["test"]))
    no_train = [c for c in classes if c not in per["train"]]
    no_test = [c for c in classes if c not in per["test"]]
    if no_train or no_test:
        parts = [f"without train rows: {few(no_train)}"] if no_train else []
        parts += [f"without test rows: {few(no_test)}"] if no_test else []
        raise EmptyClassError(
            f"{manifest}: class(es) {'; '.join(parts)}; every label needs rows with split train "
            "and rows with split test: add rows, or remove the class's rows"
        )
    return make_listing(manifest, "csv", per["train"], per["test"])


def _read_rows(manifest: Path) -> tuple[list[Row], bool]:
    """The manifest's non-blank rows as (line, path, label, split), cells stripped, and whether
    it has a split column."""
    header, lines = read_csv(manifest)
    columns = [cell.strip().lower() for cell in header]
    if lacking := [c for c in ("path", "label") if c not in columns]:
        found = ", ".join(cell.strip() for cell in header if cell.strip())
        raise DatasetError(
            f"{manifest} lacks the column(s) {', '.join(lacking)} (found columns: "
            f"{found or 'none'}); its first row must name the columns path,label and, "
            "optionally, split"
        )
    split_col = columns.index("split") if "split" in columns else None
    wanted = (columns.index("path"), columns.index("label"), split_col)
    rows: list[Row] = []
    for line, row in lines:
        path, label, split = (
            row[i].strip() if i is not None and i < len(row) else "" for i in wanted
        )
        rows.append((line, path, label, split))
    return rows, split_col is not None


def _check_rows(manifest: Path, rows: list[Row], has_split: bool) -> None:
    """DatasetError for no rows, an empty path or label, or a split other than train/test."""
    if not rows:
        raise DatasetError(f"{manifest} lists no images; add one row per image below the header")
    if no_path := [line for line, path, _, _ in rows if not path]:
        raise DatasetError(
            f"{manifest}: line(s) {few(no_path)} have an empty path; give every row the path "
            "of its image file"
        )
    if no_label := [line for line, _, label, _ in rows if not label]:
        raise DatasetError(
            f"{manifest}: line(s) {few(no_label)} have an empty label; give every row its "
            "class name, or remove the row"
        )
    if has_split and (
        bad := [(line, s) for line, _, _, s in rows if s.lower() not in ("train", "test")]
    ):
        raise DatasetError(
            f"{manifest}: the split column must say train or test, but line {bad[0][0]} says "
            f"{bad[0][1]!r}{f' (and {len(bad) - 1} more lines)' if len(bad) > 1 else ''}"
        )


def _find_files(manifest: Path, rows: list[Row]) -> list[Path]:
    """Each row's file, relative to the manifest's folder; each listed once, all existing."""
    base = manifest.parent
    first_line: dict[str, int] = {}
    files: list[Path] = []
    missing: list[tuple[int, str, Path]] = []
    for line, path, _, _ in rows:
        full = Path(os.path.normpath(base / path))
        if (earlier := first_line.setdefault(str(full), line)) != line:
            raise DatasetError(
                f"{manifest}: line {line} lists {path} again (first on line {earlier}); list "
                "each image once"
            )
        if not full.is_file():
            missing.append((line, path, full))
        files.append(full)
    if missing:
        line, path, full = missing[0]
        more = f" and {len(missing) - 1} more listed files are missing" if len(missing) > 1 else ""
        raise DatasetError(
            f"{manifest} line {line}: {path} does not exist (looked for {full}){more}; paths are "
            f"relative to the CSV file's folder {base}: correct the paths or remove the rows"
        )
    return files


LAYOUT = Layout(
    "csv",
    "a .csv manifest file with the columns path,label and optionally split (train or "
    "test); paths relative to the file's folder",
    _detect,
    _scan,
)
