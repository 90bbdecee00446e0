"""`generate` on text: vocabulary checks, streamed pieces, word spacing, and the CLI end to end."""

import argparse

import pytest
import torch

from brickwork.cli import sequence_cmds
from brickwork.data import Vocab
from brickwork.errors import BrickworkError
from brickwork.generate import generate, generate_ids, prompt_ids
from brickwork.models import Sequential
from brickwork.spec.run import parse_run_spec
from brickwork.train.runner import train_from_spec


def char_model(vocab_size, units=None):
    torch.manual_seed(0)
    return Sequential(
        [
            {"type": "embedding", "input_dim": vocab_size, "output_dim": 8},
            {"type": "lstm", "units": 16, "num_layers": 2, "return_sequences": True},
            {"type": "dense", "units": units or vocab_size},
        ],
        input_shape=[None],
    ).eval()


def test_pieces_are_the_decoded_ids_streamed_one_by_one():
    vocab = Vocab(list("abcd \n"))
    model = char_model(len(vocab))
    pieces = generate(model, vocab, "ab c", length=40, temperature=0.9, seed=3)
    first = next(pieces)  # a generator: nothing beyond the first token has been made yet
    rest = list(pieces)
    ids = list(
        generate_ids(
            model, vocab.encode("ab c"), 40, temperature=0.9, seed=3, vocab_size=len(vocab)
        )
    )
    assert [first, *rest] == [vocab.tokens[i] for i in ids]
    assert "".join([first, *rest]) == vocab.decode(ids)


def test_word_level_pieces_carry_the_space():
    vocab = Vocab(["the", "king", "is", "dead", "."], tokenizer="word", lowercase=True)
    model = char_model(len(vocab))
    pieces = list(generate(model, vocab, "The King", length=12, seed=0))
    assert all(p.startswith(" ") for p in pieces)
    ids = list(generate_ids(model, vocab.encode("the king"), 12, seed=0, vocab_size=len(vocab)))
    assert "".join(pieces) == " " + vocab.decode(ids)


def test_unknown_prompt_characters():
    vocab = Vocab(list("abc "))
    model = char_model(len(vocab))
    with pytest.raises(BrickworkError, match=r"2 char\(s\).*'X', 'Z'.*unknown='skip'"):
        list(generate(model, vocab, "aXbZ", length=3))
    assert prompt_ids(vocab, "aXbZ", "skip") == vocab.encode("ab")
    assert prompt_ids(vocab, "aXb", "unk") == [vocab.index["a"], 1, vocab.index["b"]]
    assert len(list(generate(model, vocab, "aXbZ", length=3, unknown="skip"))) == 3
    with pytest.raises(BrickworkError, match="policy"):
        prompt_ids(vocab, "a", "drop")


def test_vocabulary_larger_than_the_model_output_is_refused():
    vocab = Vocab(list("abcdefgh"))
    model = char_model(len(vocab), units=5)
    with pytest.raises(BrickworkError, match="predicts 5 token ids but its vocabulary has 10"):
        list(generate(model, vocab, "ab", length=3))


def cli(*argv) -> int:
    parser = argparse.ArgumentParser()
    sequence_cmds.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


def test_generate_cli_on_a_trained_language_model(tmp_path, capsys):
    text = "ROMEO:\nO she doth teach the torches to burn bright!\n\nJULIET:\nAy me!\n\n" * 40
    corpus = tmp_path / "play.txt"
    corpus.write_text(text)
    chars = len(set(text)) + 2
    spec = parse_run_spec(
        {
            "name": "tiny_lm",
            "model": {
                "input_shape": [32],
                "layers": [
                    {"type": "embedding", "input_dim": chars, "output_dim": 16},
                    {"type": "gru", "units": 32, "return_sequences": True},
                    {"type": "dense", "units": chars},
                ],
            },
            "data": {
                "dataset": "text",
                "path": str(corpus),
                "seq_len": 32,
                "validation_split": 0.1,
            },
            "train": {"epochs": 3, "batch_size": 16, "lr": 0.01, "verbose": 0},
        }
    )
    result = train_from_spec(spec, runs_dir=tmp_path / "runs")
    assert result.history["val_perplexity"][-1] < result.history["val_perplexity"][0]
    assert (
        cli(
            "generate",
            result.run_dir,
            "--prompt",
            "ROMEO:",
            "--length",
            60,
            "--seed",
            1,
            "--top-k",
            5,
            "--stats",
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert out.startswith("ROMEO:") and len(out) == len("ROMEO:") + 60 + 1
    assert "60 chars in" in err
    assert (
        cli(
            "generate",
            result.run_dir,
            "--prompt",
            "RO",
            "--length",
            10,
            "--seed",
            1,
            "--top-k",
            5,
            "--no-echo",
        )
        == 0
    )
    assert len(capsys.readouterr().out) == 11
    with pytest.raises(BrickworkError, match="'#'"):
        cli("generate", result.run_dir, "--prompt", "#ROMEO", "--length", 5)
    assert cli("generate", result.run_dir, "--prompt", "ROMEO", "--length", 8, "--beam", 3) == 0
    assert len(capsys.readouterr().out) == len("ROMEO") + 8 + 1
