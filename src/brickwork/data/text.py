"""Text: tokenizers, a vocabulary, language-model chunks and padded classification inputs.

Ids are fixed: 0 is padding, 1 is unknown, real tokens start at 2. Padding with 0 lets an
embedding with mask_zero recover each sequence's length as (x != 0).sum(1).

`text` (language modelling): the corpus is cut chronologically (train = first part, val =
next, test = last) before chunking, so no chunk crosses a boundary; x is a chunk of seq_len
ids and y the same chunk shifted by one. The vocabulary is built from the training part.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from brickwork.data.sources import read_text_file
from brickwork.errors import BrickworkError

PAD, UNK = 0, 1
SPECIALS = ["<pad>", "<unk>"]
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def tokenize(text: str, tokenizer: str = "char", lowercase: bool = False) -> list[str]:
    """Characters, or words and punctuation marks (`word`)."""
    if lowercase:
        text = text.lower()
    if tokenizer == "char":
        return list(text)
    if tokenizer == "word":
        return _WORD.findall(text)
    raise BrickworkError(f"unknown tokenizer '{tokenizer}'; choose 'char' or 'word'.")


class Vocab:
    """Token <-> id table with <pad>=0 and <unk>=1; saved as JSON next to a model."""

    def __init__(self, tokens: list[str], tokenizer: str = "char", lowercase: bool = False):
        if tokens[:2] != SPECIALS:
            tokens = SPECIALS + [t for t in tokens if t not in SPECIALS]
        self.tokens, self.tokenizer, self.lowercase = list(tokens), tokenizer, lowercase
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(
        cls,
        token_lists,
        tokenizer: str = "char",
        lowercase: bool = False,
        max_size: int | None = None,
    ) -> Vocab:
        """Most frequent tokens first (ties by token), capped at max_size ids including specials."""
        counts: Counter = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        ordered = sorted(counts, key=lambda t: (-counts[t], t))
        if max_size is not None:
            ordered = ordered[: max(0, max_size - len(SPECIALS))]
        return cls(SPECIALS + ordered, tokenizer, lowercase)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        return self.encode_tokens(tokenize(text, self.tokenizer, self.lowercase))

    def encode_tokens(self, tokens: list[str]) -> list[int]:
        get = self.index.get
        return [get(t, UNK) for t in tokens]

    def decode(self, ids: list[int] | torch.Tensor | np.ndarray) -> str:
        """Text from ids; padding is dropped, unknown ids show as <unk>."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        words = [self.tokens[i] if 0 <= i < len(self.tokens) else "<unk>" for i in ids if i != PAD]
        return ("" if self.tokenizer == "char" else " ").join(words)

    def to_json(self) -> dict:
        return {"tokenizer": self.tokenizer, "lowercase": self.lowercase, "tokens": self.tokens}

    @classmethod
    def from_json(cls, data: dict) -> Vocab:
        if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
            raise BrickworkError(
                "a vocabulary must be a dict with a 'tokens' list (as written by Vocab.to_json())."
            )
        return cls(data["tokens"], data.get("tokenizer", "char"), data.get("lowercase", False))


def lm_chunks(ids: np.ndarray, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping (x, y) chunks [N, seq_len] with y = x shifted one token ahead."""
    n = (len(ids) - 1) // seq_len
    ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    return ids[: n * seq_len].view(n, seq_len).clone(), ids[1 : n * seq_len + 1].view(
        n, seq_len
    ).clone()


def pad_sequences(seqs: list[list[int]], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids [N, max_len] right-padded with 0 and truncated, lengths [N])."""
    out = np.zeros((len(seqs), max_len), dtype=np.int64)
    lengths = np.zeros(len(seqs), dtype=np.int64)
    for i, s in enumerate(seqs):
        s = s[:max_len]
        out[i, : len(s)] = s
        lengths[i] = len(s)
    return torch.from_numpy(out), torch.from_numpy(lengths)


def lengths(x: torch.Tensor) -> torch.Tensor:
    """Lengths of right-padded id rows (pad id 0)."""
    return (x != PAD).sum(-1)


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """A whole text file, compressed or not (gz, bz2, xz, one-file zip); decoding errors name
    the line and byte offset."""
    if not Path(path).is_file():
        raise BrickworkError(f"text file '{path}' does not exist; set `path:` to your corpus.")
    text = read_text_file(path, encoding)
    if not text.strip():
        raise BrickworkError(f"'{path}' is empty; a language model needs a text corpus.")
    return text


def load_text(spec, seed: int):
    """The `text` dataset: a plain-text corpus cut into language-model chunks."""
    from brickwork.data.bundle import DataBundle, Split
    from brickwork.data.preprocess import make_preprocessing
    from brickwork.data.splits import chronological

    path = Path(spec.path).expanduser()
    tokens = tokenize(read_text(path, spec.encoding), spec.tokenizer, spec.lowercase)
    tr, va, te = chronological(len(tokens), spec.validation_split, spec.test_split or 0.0)
    vocab = Vocab.build([tokens[tr]], spec.tokenizer, spec.lowercase, spec.max_vocab)
    ids = np.asarray(vocab.encode_tokens(tokens), dtype=np.int64)
    splits = []
    for part in (tr, va, te):
        chunk = ids[part]
        splits.append(Split(*lm_chunks(chunk, spec.seq_len)) if len(chunk) > spec.seq_len else None)
    if splits[0] is None:
        raise BrickworkError(
            f"'{path}' has {tr.stop} training tokens, too few for one chunk of "
            f"seq_len={spec.seq_len}; lower seq_len."
        )
    if spec.limit is not None:
        splits[0] = Split(splits[0].x[: spec.limit], splits[0].y[: spec.limit])
    unknown = int((ids[tr.stop :] == UNK).sum())
    return DataBundle(
        train=splits[0],
        val=splits[1],
        test=splits[2],
        task="language_model",
        input_shape=[spec.seq_len],
        num_classes=len(vocab),
        class_names=None,
        preprocessing=make_preprocessing([spec.seq_len], [], kind="tokens"),
        vocab=vocab,
        extra={"tokens": len(tokens), "unknown_tokens_outside_train": unknown, "source": str(path)},
    )


def load_text_csv(spec, seed: int):
    """The `text_csv` dataset: a CSV with a text column and a label column, padded to max_len."""
    from brickwork.data.csvfile import table_options
    from brickwork.data.tabular import (
        check_labels,
        classification_split,
        encode_labels,
        label_cells,
        read_table,
    )

    path = Path(spec.path).expanduser()
    header, rows = read_table(path, **table_options(spec))
    text_col = _column(header, spec.text_column, path, "text_column")
    label_col = _column(
        header,
        spec.label_column if spec.label_column is not None else "label",
        path,
        "label_column",
    )
    check_labels(rows, label_col, header, path)
    texts, raw_labels = [r[text_col] for r in rows], label_cells(rows, label_col)
    test_texts = test_labels = None
    if spec.test_path:
        test_path = Path(spec.test_path).expanduser()
        theader, trows = read_table(test_path, **table_options(spec))
        if theader != header:
            raise BrickworkError(
                f"'{test_path}' has columns {theader} but '{path}' has {header}; the test file "
                "needs the same header."
            )
        check_labels(trows, label_col, header, test_path)
        test_texts, test_labels = [r[text_col] for r in trows], label_cells(trows, label_col)
    y, class_names, y_test = encode_labels(raw_labels, test_labels, spec, path, header[label_col])
    tok = [tokenize(t, spec.tokenizer, spec.lowercase) for t in texts]
    tok_test = (
        None
        if test_texts is None
        else [tokenize(t, spec.tokenizer, spec.lowercase) for t in test_texts]
    )
    idx = classification_split(len(y), y, spec, seed, has_test=tok_test is not None)
    vocab = Vocab.build(
        [tok[i] for i in idx["train"]], spec.tokenizer, spec.lowercase, spec.max_vocab
    )
    max_len = spec.max_len or max(1, min(512, max(len(tok[i]) for i in idx["train"])))

    def make(seqs, labels):
        x, _ = pad_sequences([vocab.encode_tokens(s) for s in seqs], max_len)
        return _labelled(x, labels, spec.task)

    from brickwork.data.bundle import DataBundle
    from brickwork.data.preprocess import make_preprocessing

    train = make([tok[i] for i in idx["train"]], y[idx["train"]])
    val = make([tok[i] for i in idx["val"]], y[idx["val"]]) if len(idx["val"]) else None
    if tok_test is not None:
        test = make(tok_test, y_test)
    else:
        test = make([tok[i] for i in idx["test"]], y[idx["test"]]) if len(idx["test"]) else None
    task = spec.task or "classification"
    return DataBundle(
        train=train,
        val=val,
        test=test,
        task=task,
        input_shape=[max_len],
        num_classes=len(class_names) if task != "binary" else 2,
        class_names=class_names,
        preprocessing=make_preprocessing([max_len], [], kind="tokens"),
        vocab=vocab,
        extra={"max_len": max_len, "source": str(path)},
    )


def _labelled(x, labels, task):
    from brickwork.data.bundle import Split

    y = torch.as_tensor(labels)
    return Split(x, y.float() if task == "binary" else y.long())


def _column(header: list[str], name, path: Path, field: str) -> int:
    from brickwork.data.tabular import column_index

    return column_index(header, name, path, field)
