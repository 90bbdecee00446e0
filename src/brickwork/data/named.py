"""Named datasets that are a generic kind read from a known file.

`dataset: co2` is `dataset: timeseries` on the CO2 series shipped inside the package,
`tinyshakespeare` is `dataset: text` on the downloaded char-rnn corpus, `imdb` is
`dataset: text_csv` on the IMDB reviews (train and test tables made once from the official
archive). Every option of the kind still applies (tokenizer, seq_len, lookback, ...); a few
fields are preset unless the spec sets them. Code written for the generic kinds (forecasts,
the server) reads a named dataset through `concrete_spec`.
"""

from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

from brickwork.errors import BrickworkError

# name -> (kind, fields preset unless the spec sets them)
NAMED: dict[str, tuple[str, dict]] = {
    "tinyshakespeare": ("text", {}),
    "imdb": ("text_csv", {"task": "binary", "class_names": ["neg", "pos"]}),
    "co2": ("timeseries", {"target_columns": "co2"}),
    "sunspots": ("timeseries", {"target_columns": "SUNACTIVITY"}),
}


def dataset_kind(name: str | None) -> str | None:
    """The generic dataset a name stands for (`co2` -> `timeseries`); other names unchanged."""
    return NAMED[name][0] if name in NAMED else name


def concrete_spec(spec):
    """`spec` with a named dataset replaced by its kind and resolved files (downloaded or
    checked first), so code written for `timeseries`/`text`/`text_csv` reads it; other specs
    are returned unchanged."""
    if spec.dataset not in NAMED:
        return spec
    from brickwork.data.download import EMBEDDED, RESOURCES, embedded_file, ensure_files

    kind, preset = NAMED[spec.dataset]
    for field in ("path", "test_path"):
        if getattr(spec, field):
            raise BrickworkError(
                f"data.{field}: dataset '{spec.dataset}' is a built-in dataset that brings its "
                f"own file, but `{field}: {str(getattr(spec, field))[:80]}` was given. Remove "
                f"`{field}:`, or read your own file with `dataset: {kind}` and `path:`."
            )
    files: dict = {}
    if spec.dataset in EMBEDDED:
        files["path"] = str(embedded_file(spec.dataset))
    else:
        folder = ensure_files(
            spec.dataset, spec.data_dir, spec.download, verify_present=spec.verify_checksums
        )
        first = folder / RESOURCES[spec.dataset][0].filename
        if spec.dataset == "imdb":
            train, test = imdb_tables(first)
            files = {"path": str(train), "test_path": str(test)}
        else:
            files["path"] = str(first)
    update = {k: v for k, v in preset.items() if getattr(spec, k) is None}
    return spec.model_copy(update={**update, **files, "dataset": kind})


def imdb_tables(archive: Path) -> tuple[Path, Path]:
    """train and test CSVs (text,label; label neg or pos) made once from aclImdb_v1.tar.gz.

    They go into the cache (`$BRICKWORK_DATA/imdb`), never into a user's own folder, and are
    remade when the archive changes (its path, size and time are recorded). Members are read,
    never extracted to disk; the unlabelled `unsup` reviews are left out.
    """
    from brickwork.data.download import cache_dir
    from brickwork.files import atomic_write

    folder = cache_dir("imdb")
    tables = (folder / "imdb_train.csv", folder / "imdb_test.csv")
    stamp, stat = folder / ".imdb_tables", archive.stat()
    key = f"{archive.resolve()} {stat.st_size} {stat.st_mtime_ns}"
    if all(t.is_file() for t in tables) and _read(stamp) == key:
        return tables
    rows = _imdb_rows(archive)
    for table, split in zip(tables, ("train", "test"), strict=True):
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        writer.writerows(row[1:] for row in sorted(rows[split]))
        atomic_write(table, out.getvalue().encode("utf-8"))
    atomic_write(stamp, key.encode("utf-8"))
    return tables


def _imdb_rows(archive: Path) -> dict[str, list[tuple[str, str, str]]]:
    """(member name, text, label) per labelled review of each split."""
    rows: dict[str, list[tuple[str, str, str]]] = {"train": [], "test": []}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                parts = member.name.split("/")
                if not (member.isfile() and len(parts) == 4 and parts[1] in rows):
                    continue
                if parts[2] in ("pos", "neg") and parts[3].endswith(".txt"):
                    text = _decode(tar.extractfile(member).read(), archive, member.name)
                    rows[parts[1]].append((member.name, text, parts[2]))
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BrickworkError(
            f"'{archive}' is not a readable IMDB archive ({e}); delete it and run "
            "`brickwork download imdb` again."
        ) from None
    if not rows["train"] or not rows["test"]:
        raise BrickworkError(
            f"'{archive}' holds no aclImdb/train/ and aclImdb/test/ reviews (pos/*.txt, "
            "neg/*.txt); it is not the IMDB archive aclImdb_v1.tar.gz."
        )
    return rows


def _decode(raw: bytes, archive: Path, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BrickworkError(
            f"'{archive}': review {name} is not valid UTF-8 (byte offset {e.start}); the "
            "archive is not the published one. Delete it and run `brickwork download imdb`."
        ) from None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None
