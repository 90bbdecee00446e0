"""Write speeches.csv (text,label): speeches from Tiny Shakespeare labelled with their play.

    python examples/text_classification/make_speeches.py [--data-dir DIR] [--input TXT] [--out CSV]

Without --input the corpus is the named dataset `tinyshakespeare`: read from DIR (a folder
with input.txt) or the download cache, downloaded and MD5-checked when missing
(`brickwork download tinyshakespeare` fetches it ahead of time for an offline machine).

Tiny Shakespeare does not name the plays, but its speakers do: each character below speaks
in one play only, so a speech's play is known from its speaker. Speakers who appear in more
than one play (GLOUCESTER, QUEEN MARGARET, YORK, ...) and generic ones (First Citizen,
Messenger, ...) are left out. The speaker's name is not in the text, only what they say.
"""

import argparse
import csv
import io
import sys
from collections import Counter
from pathlib import Path

from brickwork.data.download import ensure_files
from brickwork.errors import BrickworkError
from brickwork.models.io import atomic_write

PLAYS = {
    "coriolanus": [
        "CORIOLANUS",
        "MARCIUS",
        "MENENIUS",
        "SICINIUS",
        "BRUTUS",
        "COMINIUS",
        "VOLUMNIA",
        "AUFIDIUS",
        "VIRGILIA",
    ],
    "romeo_and_juliet": [
        "ROMEO",
        "JULIET",
        "Nurse",
        "BENVOLIO",
        "MERCUTIO",
        "FRIAR LAURENCE",
        "CAPULET",
        "LADY CAPULET",
        "MONTAGUE",
        "PARIS",
        "TYBALT",
    ],
    "measure_for_measure": [
        "DUKE VINCENTIO",
        "ISABELLA",
        "LUCIO",
        "ANGELO",
        "ESCALUS",
        "POMPEY",
        "CLAUDIO",
        "ELBOW",
        "MARIANA",
    ],
    "taming_of_the_shrew": [
        "PETRUCHIO",
        "TRANIO",
        "KATHARINA",
        "BAPTISTA",
        "HORTENSIO",
        "GRUMIO",
        "LUCENTIO",
        "GREMIO",
        "BIONDELLO",
        "BIANCA",
        "SLY",
    ],
    "winters_tale": [
        "LEONTES",
        "CAMILLO",
        "AUTOLYCUS",
        "PAULINA",
        "POLIXENES",
        "FLORIZEL",
        "HERMIONE",
        "PERDITA",
    ],
    "richard_ii": [
        "KING RICHARD II",
        "HENRY BOLINGBROKE",
        "NORTHUMBERLAND",
        "DUKE OF YORK",
        "DUKE OF AUMERLE",
        "JOHN OF GAUNT",
    ],
}
PLAY_OF = {speaker: play for play, speakers in PLAYS.items() for speaker in speakers}

HERE = Path(__file__).resolve().parent


def speeches(text: str) -> list[tuple[str, str]]:
    """(speech, play) for every speech whose speaker belongs to one play only."""
    rows = []
    for block in text.split("\n\n"):
        first, _, rest = block.strip().partition("\n")
        speaker = first[:-1] if first.endswith(":") else None
        if speaker in PLAY_OF and rest.strip():
            rows.append((" ".join(rest.split()), PLAY_OF[speaker]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", help="the corpus file (default: dataset tinyshakespeare)")
    parser.add_argument("--out", default=str(HERE / "speeches.csv"), help="the CSV to write")
    parser.add_argument("--data-dir", help="folder holding tinyshakespeare's input.txt")
    args = parser.parse_args()
    try:
        if args.input:
            source = Path(args.input)
        else:
            source = ensure_files("tinyshakespeare", args.data_dir) / "input.txt"
        rows = speeches(source.read_text(encoding="utf-8"))
    except BrickworkError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot read the corpus: {e}", file=sys.stderr)
        return 2
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    atomic_write(args.out, out.getvalue().encode("utf-8"))
    counts = Counter(label for _, label in rows)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"{args.out}: {len(rows)} speeches; {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
