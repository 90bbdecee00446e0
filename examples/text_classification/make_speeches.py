"""Write speeches.csv (text,label): speeches from Tiny Shakespeare labelled with their play.

    python examples/text_classification/make_speeches.py [INPUT.txt] [OUTPUT.csv]

Tiny Shakespeare does not name the plays, but its speakers do: each character below speaks
in one play only, so a speech's play is known from its speaker. Speakers who appear in more
than one play (GLOUCESTER, QUEEN MARGARET, YORK, ...) and generic ones (First Citizen,
Messenger, ...) are left out. The speaker's name is not in the text, only what they say.
"""

import csv
import sys
from collections import Counter
from pathlib import Path

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
source = (
    Path(sys.argv[1])
    if len(sys.argv) > 1
    else HERE.parents[2] / "shared" / "data" / "tinyshakespeare" / "input.txt"
)
target = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "speeches.csv"

rows = []
for block in source.read_text(encoding="utf-8").split("\n\n"):
    first, _, rest = block.strip().partition("\n")
    speaker = first[:-1] if first.endswith(":") else None
    if speaker in PLAY_OF and rest.strip():
        rows.append((" ".join(rest.split()), PLAY_OF[speaker]))
with open(target, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
counts = Counter(label for _, label in rows)
print(
    f"{target}: {len(rows)} speeches; " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
)
