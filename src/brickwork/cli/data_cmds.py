"""`brickwork download [NAME ... | --all | --list] [--data-dir DIR]`: fetch and verify datasets.

With no name (or `--list`) it lists every named dataset: size, where it is read from and
whether it is there. `--all` fetches every downloadable one, so an offline machine is
prepared in one command. Downloads show a progress bar on a terminal and one line per file
otherwise (logs, CI).
"""

from __future__ import annotations

from pathlib import Path

from brickwork.errors import BrickworkError, did_you_mean

BUILT_IN = {"digits": "ships with scikit-learn"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "download",
        help="download datasets into the cache (or --data-dir) and verify their checksums; "
        "no name lists them",
        description="Download named datasets' official files (with mirror fallback), verify "
        "their MD5 checksums, and print where they are. Files already present are only "
        "verified. With no name, list every named dataset and whether it is present.",
    )
    p.add_argument(
        "datasets",
        nargs="*",
        metavar="NAME",
        help="mnist, fashion_mnist, cifar10, tinyshakespeare, imdb (co2, sunspots ship inside "
        "brickwork and digits with scikit-learn: nothing to download)",
    )
    p.add_argument("--all", action="store_true", help="download every downloadable dataset")
    p.add_argument("--list", action="store_true", help="list the datasets and where they are")
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder to put the files in (default: $BRICKWORK_DATA/<dataset>, else "
        "~/.cache/brickwork/data/<dataset>); with several datasets each goes to DIR/<dataset>",
    )
    p.set_defaults(func=cmd_download)


def cmd_download(args) -> int:
    from brickwork.data.download import RESOURCES

    if args.list or not (args.datasets or args.all):
        if args.datasets:
            raise BrickworkError("--list takes no dataset names; drop the names or --list.")
        return list_datasets(args.data_dir)
    names = list(RESOURCES) if args.all else [_known(n) for n in args.datasets]
    nested = len(names) > 1 or args.all
    failed: dict[str, str] = {}
    for name in dict.fromkeys(names):
        if name not in RESOURCES:
            print(f"{name}: {_where_built_in(name)}; there is nothing to download.")
            continue
        data_dir = Path(args.data_dir) / name if args.data_dir and nested else args.data_dir
        try:
            _download(name, data_dir)
        except BrickworkError as e:  # fetch the others first, then report every failure
            failed[name] = str(e)
    if len(failed) == 1:
        raise BrickworkError(next(iter(failed.values())))
    if failed:
        raise BrickworkError(
            f"{len(failed)} datasets could not be fetched ({', '.join(failed)}); the others are "
            "verified. " + " ".join(f"[{name}] {why}" for name, why in failed.items())
        )
    return 0


def _known(name: str) -> str:
    """A dataset name as the registries spell it, or an error listing the valid ones."""
    from brickwork.data.download import EMBEDDED, RESOURCES

    key = name.strip().lower().replace("-", "_")
    known = [*BUILT_IN, *RESOURCES, *EMBEDDED]
    if key not in known:
        raise BrickworkError(
            f"'{name[:80]}' is not a named dataset{did_you_mean(key, known)}; named datasets "
            f"are {', '.join(known)} (brickwork download lists them). Datasets such as csv, "
            "text or image_folder read your own files via `path:`."
        )
    return key


def _where_built_in(name: str) -> str:
    from brickwork.data.download import EMBEDDED, EMBEDDED_DIR

    if name in EMBEDDED:
        return f"ships inside brickwork ({EMBEDDED_DIR / EMBEDDED[name].filename})"
    return BUILT_IN[name]


def _download(name: str, data_dir) -> None:
    """Fetch and verify one dataset, with a progress bar per file on a terminal."""
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    from brickwork.data.download import RESOURCES, dataset_folder, ensure_files

    console = Console(stderr=True)
    folder = dataset_folder(name, data_dir)
    todo = [r for r in RESOURCES[name] if not (folder / r.filename).is_file()]
    if not console.is_terminal:
        for r in todo:
            print(f"downloading {r.filename} ({_size(r.size)}) into {folder}", flush=True)
        folder = ensure_files(name, data_dir, download=True)
    else:
        columns = (*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            tasks = {r.filename: bar.add_task(r.filename, total=r.size) for r in todo}

            def show(resource, done: int) -> None:
                bar.update(tasks[resource.filename], completed=done)

            folder = ensure_files(name, data_dir, download=True, progress=show)
    for r in RESOURCES[name]:
        print(f"{folder / r.filename}  md5 {r.md5} ok")
    print(f"{name}: all files verified in {folder}")


def list_datasets(data_dir) -> int:
    """Every named dataset: size, where it is read from, present or not (a table on a
    terminal, tab-separated lines otherwise)."""
    from rich.console import Console
    from rich.table import Table

    from brickwork.data.download import EMBEDDED, RESOURCES, dataset_folder

    rows = [(name, "", where, "built in") for name, where in BUILT_IN.items()]
    rows += [(n, _size(r.size), _where_built_in(n), "built in") for n, r in EMBEDDED.items()]
    for name, resources in RESOURCES.items():
        folder = dataset_folder(name, data_dir)
        here = sum((folder / r.filename).is_file() for r in resources)
        status = "present" if here == len(resources) else "missing"
        if 0 < here < len(resources):
            status = f"partial ({here} of {len(resources)} files)"
        rows.append((name, _size(sum(r.size or 0 for r in resources)), str(folder), status))
    console = Console()
    if not console.is_terminal:
        for row in rows:
            print("\t".join(row))
        return 0
    table = Table(title="named datasets (brickwork download NAME, or --all)")
    for column in ("name", "size", "where", "status"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return 0


def _size(size: int | None) -> str:
    if not size:
        return "?"
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} KB"
