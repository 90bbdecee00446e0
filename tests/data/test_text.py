"""Text: tokenizers, vocabulary (pad 0, unk 1), LM chunks, padded classification inputs."""

from __future__ import annotations

import json

import pytest
import torch

from brickwork.data import Vocab, load_data
from brickwork.data.text import lengths, lm_chunks, pad_sequences, tokenize
from brickwork.errors import BrickworkError


def test_tokenizers_and_vocab_roundtrip():
    assert tokenize("Hi, you!", "word") == ["Hi", ",", "you", "!"]
    assert tokenize("Ab", "char", lowercase=True) == ["a", "b"]
    v = Vocab.build([tokenize("abracadabra")], "char")
    assert v.tokens[:2] == ["<pad>", "<unk>"] and v.tokens[2] == "a" and len(v) == 7
    assert v.decode(v.encode("cab")) == "cab" and v.encode("z") == [1]
    v2 = Vocab.from_json(json.loads(json.dumps(v.to_json())))
    assert v2.encode("abc") == v.encode("abc")
    assert len(Vocab.build([list("aabbc")], max_size=4)) == 4


def test_lm_chunks_shift_by_one():
    x, y = lm_chunks(list(range(11)), 3)
    assert x.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and y.tolist() == [
        [1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
    ]


def test_pad_sequences_lengths():
    x, n = pad_sequences([[5, 6, 7], [8]], 2)
    assert x.tolist() == [[5, 6], [8, 0]] and n.tolist() == [2, 1] and lengths(x).tolist() == [2, 1]


def test_text_dataset(tmp_path):
    p = tmp_path / "corpus.txt"
    p.write_text("to be or not to be. " * 50)
    b = load_data({"dataset": "text", "path": str(p), "seq_len": 16, "validation_split": 0.1})
    assert b.task == "language_model" and b.input_shape == [16] and b.train.x.dtype == torch.int64
    assert torch.equal(b.train.x[0, 1:], b.train.y[0, :-1])
    assert (
        b.num_classes == len(b.vocab)
        and b.vocab.decode(b.train.x[0]) == ("to be or not to be. " * 2)[:16]
    )
    w = load_data({"dataset": "text", "path": str(p), "seq_len": 4, "tokenizer": "word"})
    assert w.vocab.decode(w.train.x[0]) == "to be or not"


def test_text_errors(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes(b"abc\xff\xfe")
    with pytest.raises(BrickworkError, match="byte offset 3"):
        load_data({"dataset": "text", "path": str(p)})
    p.write_text("short")
    with pytest.raises(BrickworkError, match="lower seq_len"):
        load_data({"dataset": "text", "path": str(p), "seq_len": 64})


def test_text_csv_classification(tmp_path):
    p = tmp_path / "reviews.csv"
    rows = ["text,label"] + [
        f'"{"great fun, loved it" if i % 2 else "dull and slow"} {i}",{"pos" if i % 2 else "neg"}'
        for i in range(40)
    ]
    p.write_text("\n".join(rows) + "\n")
    b = load_data({"dataset": "text_csv", "path": str(p), "tokenizer": "word", "max_len": 6})
    assert (
        b.class_names == ["neg", "pos"] and b.input_shape == [6] and b.train.x.dtype == torch.int64
    )
    assert (b.train.x[:, 0] != 0).all() and b.vocab.tokens[0] == "<pad>"
    for x, y in zip(b.train.x, b.train.y, strict=True):
        assert ("great" in b.vocab.decode(x)) == (y.item() == 1)
    # numbers unseen in training become <unk> (id 1) in the test split
    assert (b.test.x == 1).any()


def test_text_csv_blank_label_and_unknown_encoding(tmp_path):
    p = tmp_path / "reviews.csv"
    p.write_text('text,label\n"fine",pos\n"bad",\n"ok",pos\n')
    with pytest.raises(
        BrickworkError, match=r"reviews.csv' line 3 has an empty label \(column 'label'\)"
    ):
        load_data({"dataset": "text_csv", "path": str(p)})
    for kind in ("text", "text_csv"):
        with pytest.raises(
            BrickworkError, match=r"reviews.csv'.*`encoding: nope` is not a text encoding"
        ):
            load_data({"dataset": kind, "path": str(p), "encoding": "nope"})


def test_language_model_validation_is_the_held_out_tail(tmp_path):
    """Train chunks come from the first 90% of the corpus only, validation from the last 10%."""
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    p = tmp_path / "abc.txt"
    p.write_text(text)
    b = load_data({"dataset": "text", "path": str(p), "seq_len": 16, "validation_split": 0.1})
    decode = b.vocab.decode
    train = "".join(decode(row) for row in b.train.x) + decode(b.train.y[-1, -1:])
    val = "".join(decode(row) for row in b.val.x) + decode(b.val.y[-1, -1:])
    assert (
        text[:900].startswith(train) and len(train) == 56 * 16 + 1
    )  # (900 - 1) // 16 chunks, never past 900
    assert text[900:].startswith(val) and len(val) == 6 * 16 + 1
