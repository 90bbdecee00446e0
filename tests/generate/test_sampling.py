"""Generation carries the hidden state: step-by-step equals the full sequence at once."""

import pytest
import torch

from brickwork.errors import BrickworkError
from brickwork.generate import generate_ids, run_with_state, sample_next
from brickwork.models import Sequential


def language_model(kind, layers=2, softmax=False):
    torch.manual_seed(0)
    head = [{"type": "dense", "units": 11, **({"activation": "softmax"} if softmax else {})}]
    return Sequential(
        [
            {"type": "embedding", "input_dim": 11, "output_dim": 8},
            {
                "type": kind,
                "units": 16,
                "num_layers": layers,
                "dropout": 0.2 if layers > 1 else 0.0,
                "return_sequences": True,
            },
            *head,
        ],
        input_shape=[None],
    ).eval()


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_stepwise_state_carry_equals_full_sequence(kind):
    model = language_model(kind)
    ids = torch.randint(0, 11, (3, 12))
    full = model(ids)
    out, state = run_with_state(model, ids[:, :5])
    steps = [out]
    for t in range(5, 12):
        out, state = run_with_state(model, ids[:, t : t + 1], state)
        steps.append(out)
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_greedy_generation_matches_argmax_of_rerunning_the_prefix():
    model = language_model("lstm")
    prompt = [1, 2, 3]
    got = list(generate_ids(model, prompt, 10, temperature=0))
    seq = list(prompt)
    for _ in range(10):
        seq.append(int(model(torch.tensor([seq]))[0, -1].argmax()))
    assert got == seq[3:]


def test_seeded_sampling_is_reproducible():
    model = language_model("gru")
    a = list(generate_ids(model, [4], 30, temperature=0.8, top_k=5, seed=1))
    b = list(generate_ids(model, [4], 30, temperature=0.8, top_k=5, seed=1))
    assert a == b and len(a) == 30


def test_top_k_and_top_p_restrict_the_choices():
    logits = torch.tensor([[5.0, 4.0, 1.0, 0.0, -1.0]]).repeat(500, 1)
    g = torch.Generator().manual_seed(0)
    assert set(sample_next(logits, 1.0, top_k=2, generator=g).tolist()) <= {0, 1}
    probs = logits[0].softmax(-1)
    assert probs[0] > 0.7  # so top_p=0.7 keeps token 0 only
    assert set(sample_next(logits, 1.0, top_p=0.7, generator=g).tolist()) == {0}


def test_beam_search_finds_the_best_greedy_path_with_beam_one_equivalent():
    model = language_model("lstm", softmax=True)
    beam = list(generate_ids(model, [1, 2], 6, beam=4))
    assert len(beam) == 6 and all(0 <= t < 11 for t in beam)
    logp = 0.0
    seq = [1, 2]
    for t in beam:
        logp += float(model(torch.tensor([seq]))[0, -1, t].log().detach())
        seq.append(t)
    greedy = list(generate_ids(model, [1, 2], 6, temperature=0))
    glogp, seq = 0.0, [1, 2]
    for t in greedy:
        glogp += float(model(torch.tensor([seq]))[0, -1, t].log().detach())
        seq.append(t)
    assert logp >= glogp - 1e-4  # beam search never does worse than greedy
    with pytest.raises(
        BrickworkError, match="beam search .* temperature, top_k and top_p do not apply"
    ):
        list(generate_ids(model, [1, 2], 6, beam=4, top_k=5))


def test_classifier_is_not_a_language_model():
    model = Sequential(
        [
            {"type": "embedding", "input_dim": 5, "output_dim": 3},
            {"type": "lstm", "units": 4},
            {"type": "dense", "units": 5},
        ],
        input_shape=[None],
    )
    with pytest.raises(BrickworkError, match="return_sequences: true"):
        list(generate_ids(model, [1], 3))


def test_generation_never_picks_padding_or_ids_past_the_vocabulary():
    model = language_model("lstm")  # 11 outputs
    got = list(generate_ids(model, [2, 3], 300, temperature=3.0, seed=0, vocab_size=8))
    assert set(got) <= set(range(1, 8)) and len(set(got)) > 3


def test_zero_length_and_bad_length():
    model = language_model("gru")
    assert list(generate_ids(model, [2], 0)) == []
    with pytest.raises(BrickworkError, match="length"):
        list(generate_ids(model, [2], -1))
