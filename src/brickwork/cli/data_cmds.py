"""`brickwork download DATASET [--data-dir DIR]`: fetch and verify a dataset's files."""

from __future__ import annotations

from brickwork.errors import BrickworkError, did_you_mean


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "download",
        help="download a dataset into the cache (or --data-dir) and verify its checksums",
        description="Download a dataset's official files (with mirror fallback), verify their MD5 "
        "checksums, and print where they are. Files already present are only verified.",
    )
    p.add_argument(
        "dataset",
        help="mnist, fashion_mnist, cifar10 (digits ships with scikit-learn: nothing to download)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder to put the files in (default: $BRICKWORK_DATA/<dataset>, "
        "else ~/.cache/brickwork/data/<dataset>)",
    )
    p.set_defaults(func=cmd_download)


def cmd_download(args) -> int:
    from brickwork.data.download import RESOURCES, ensure_files

    name = args.dataset.strip().lower().replace("-", "_")
    if name == "digits":
        print("digits ships with scikit-learn; there is nothing to download.")
        return 0
    if name not in RESOURCES:
        raise BrickworkError(
            f"'{args.dataset}' cannot be downloaded{did_you_mean(name, RESOURCES)}; downloadable "
            "datasets are "
            f"{', '.join(RESOURCES)}. Datasets such as csv, text or image_folder read your own "
            "files via `path:`."
        )
    folder = ensure_files(name, args.data_dir, download=True)
    for r in RESOURCES[name]:
        print(f"{folder / r.filename}  md5 {r.md5} ok")
    print(f"{name}: all files verified in {folder}")
    return 0
