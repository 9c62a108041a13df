"""``synprune datasets list|fetch|check``: the shipped dataset files, their state and sha256."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from synprune.errors import DataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir", default=None,
        help="folder with the dataset files (default: $SYNPRUNE_DATA_DIR or "
        "~/.cache/synprune/datasets)",
    )  # fmt: skip
    sub.add_parser("list", parents=[common], help="name, file, rows, target, split, present?")
    fetch = sub.add_parser(
        "fetch", parents=[common], help="download missing files (sha256 checked)"
    )
    fetch.add_argument("names", nargs="*", metavar="NAME", help="datasets (default: all)")
    fetch.add_argument(
        "--base-url", default=None,
        help="download <base-url>/<file name> instead of the canonical source "
        "(also $SYNPRUNE_DATA_URL)",
    )  # fmt: skip
    sub.add_parser("check", parents=[common], help="sha256 of present files vs the expected")


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _list(data_dir: str | None) -> int:
    from synprune.datasets import list_datasets
    from synprune.datasets.builtin import SYNTHETIC_ROWS
    from synprune.datasets.sources import SOURCES, find_local
    from synprune.datasets.sources import data_dir as resolve

    folder = resolve(data_dir)
    rows = [("name", "file", "rows", "target", "split", "present", "licence")]
    manual = []
    for name in list_datasets():
        src = SOURCES.get(name)
        if src is not None:
            local = find_local(name, folder)
            present = "no" if local is None else "yes" if local.parent == folder else "packaged"
            rows.append(
                (name, src.filename, str(src.rows), src.target, src.split, present, src.licence)
            )
            if src.manual_steps and local is None:
                manual.append((name, src.manual_steps))
        elif name == "synthetic":
            rows.append((name, "-", str(SYNTHETIC_ROWS), "y", "70/10/20", "generated", "-"))
        else:
            rows.append((name, "-", "?", "?", "?", "plugin", "?"))
    print(f"data dir: {folder}  (set $SYNPRUNE_DATA_DIR or --data-dir to change it)")
    print(_table(rows))
    for name, steps in manual:
        print(f"\n{name}: no automatic download; get it by hand:")
        print("\n".join(f"  {i}. {step}" for i, step in enumerate(steps, 1)))
    print("any other CSV: --dataset csv:PATH --target COLUMN [--date-column COLUMN]")
    return 0


def _fetch(names: list[str], data_dir: str | None, base_url: str | None) -> int:
    from synprune.datasets.sources import SOURCES, fetch, packaged_file
    from synprune.datasets.sources import data_dir as resolve

    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise DataError(
            f"no file to fetch for {', '.join(unknown)}; datasets with files: {', '.join(SOURCES)}"
        )
    folder = resolve(data_dir)
    failed = 0
    for name in names or list(SOURCES):
        src = SOURCES[name]
        present = (folder / src.filename).is_file()
        if not present and packaged_file(name) is not None and not names:
            print(f"{name}: ships with synprune ({packaged_file(name)}), nothing to download")
            continue
        if not present and (src.url is None or src.sha256 is None) and not names:
            print(f"{name}: skipped, supply it by hand: {src.origin} -> {folder / src.filename}")
            continue
        try:
            path = fetch(name, data_dir_override=folder, base_url=base_url)
        except DataError as exc:
            print(f"{name}: FAILED: {exc}")
            failed += 1
            continue
        print(f"{name}: {'present' if present else 'downloaded'} {path}")
    return 1 if failed else 0


def _check(data_dir: str | None) -> int:
    from synprune.datasets.sources import SOURCES, check
    from synprune.datasets.sources import data_dir as resolve

    folder = resolve(data_dir)
    print(f"data dir: {folder}")
    rows = [("name", "file", "status", "sha256")]
    bad = 0
    for name, src in SOURCES.items():
        status, sha = check(name, folder)
        bad += status == "mismatch"
        detail = sha or "-"
        if status == "mismatch":
            detail = f"{sha} (expected {src.sha256})"
        rows.append((name, src.filename, status, detail))
    print(_table(rows))
    return 1 if bad else 0


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args.data_dir)
    if args.action == "fetch":
        return _fetch(list(args.names), args.data_dir, args.base_url)
    return _check(args.data_dir)
