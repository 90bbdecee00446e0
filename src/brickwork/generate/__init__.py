"""Text generation from recurrent language models, carrying the hidden state forward.

The prompt runs through the model once; after that each new token costs one step of every
layer (no re-running of the prefix). Sampling: temperature, top-k, top-p (nucleus), or beam
search. `generate(model, vocab, prompt, length, ...)` yields text pieces as they are made.
"""

from brickwork.generate.sampling import (
    generate,
    generate_ids,
    prompt_ids,
    run_with_state,
    sample_next,
)

__all__ = ["generate", "generate_ids", "prompt_ids", "run_with_state", "sample_next"]
