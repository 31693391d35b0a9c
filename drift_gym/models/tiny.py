"""A tiny, random, offline causal LM for tests, demos and CPU training smoke runs.

No hub download is possible here, so we *build* one: a small byte-level BPE tokenizer trained
with `tokenizers` on drift_gym's own catalogue text, TRL's bundled Qwen3 chat template (its
exact text, so TRL's tool-calling support recognises it), and a randomly initialised Qwen2
model. Its output is nonsense; what it proves is that the plumbing works end to end.
"""

from __future__ import annotations

from pathlib import Path

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>",
           "<tool_response>", "</tool_response>", "<think>", "</think>"]


def _corpus() -> list[str]:
    from ..catalog import default_catalog
    from ..tools import tool_schemas

    texts = [str(tool_schemas())]
    for scenario in default_catalog().scenarios.values():
        texts += list(scenario.family.template.values())
        texts += [s.request for s in scenario.steps]
        texts.append(scenario.spec.instruction + scenario.spec.system_prompt)
    return texts


def qwen3_template() -> str:
    """The exact text of TRL's bundled qwen3 chat template."""
    try:
        import trl
    except ImportError as exc:
        raise RuntimeError("TRL is not installed: install drift-gym[train]") from exc
    return (Path(trl.__file__).parent / "chat_templates" / "qwen3.jinja").read_text()


def make_tiny_model(out: Path, *, vocab_size: int = 1024, hidden_size: int = 64,
                    layers: int = 2, seed: int = 0) -> Path:
    """Build and save a tiny model + tokenizer under `out`; return `out`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>",
                                        additional_special_tokens=SPECIAL[3:])
    tokenizer.chat_template = qwen3_template()
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=131072, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    model = Qwen2ForCausalLM(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
