"""Local transformers checkpoints as models (``hf:<path>``): the checkpoint's own chat
template renders the tools, and tool calls are parsed from the generated text."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .models import GenerationConfig, ModelError, Reply, ResponseCache, Usage
from .tools import tool_schemas


@dataclass
class HFModel:
    """A causal LM loaded offline from `path`; greedy when temperature is 0, else sampling
    seeded from (episode seed, step) so reruns reproduce."""

    path: Path
    generation: GenerationConfig = field(
        default_factory=lambda: GenerationConfig(temperature=0.0, max_tokens=256))
    cache: ResponseCache | None = None
    native_tools: bool = False
    template_tools: bool = True
    """The chat template describes the tools itself (no extra text prompt needed)."""
    usage: Usage = field(default_factory=Usage)
    _loaded: tuple[Any, Any] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"hf:{self.path}"

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            try:
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError as exc:
                raise ModelError(f"{self.name}: transformers is not installed; install "
                                 "drift-gym[train]", fatal=True) from exc
            if not (self.path / "config.json").is_file():
                raise ModelError(f"{self.name}: no config.json in {self.path}; give a folder "
                                 "saved with save_pretrained", fatal=True)
            tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True)
            model.eval()
            self._loaded = (tokenizer, model)
        return self._loaded

    def complete(self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None,
                 seed: int | None, step: int) -> Reply:
        request = {"model": self.name, "messages": messages, "tools": tool_schemas(),
                   "generation": self.generation.__dict__, "episode_seed": seed, "step": step}
        key = ResponseCache.key(request)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            reply = Reply.from_json(hit, cached=True)
            self.usage.add(reply)
            return reply
        reply = self._generate(messages, seed, step)
        if self.cache is not None:
            self.cache.put(key, reply.to_json())
        self.usage.add(reply)
        return reply

    def _generate(self, messages: list[dict[str, Any]], seed: int | None, step: int) -> Reply:
        import torch

        tokenizer, model = self._load()
        chat = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
        inputs = tokenizer.apply_chat_template(chat, tools=tool_schemas(),
                                               add_generation_prompt=True, return_dict=True,
                                               return_tensors="pt")
        digest = hashlib.sha256(f"{seed}:{step}".encode()).digest()
        torch.manual_seed(int.from_bytes(digest[:4], "little"))
        sample = self.generation.temperature > 0
        with torch.no_grad():
            output = model.generate(
                **inputs, max_new_tokens=self.generation.max_tokens, do_sample=sample,
                temperature=self.generation.temperature if sample else None,
                top_p=self.generation.top_p if sample else None,
                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
            )
        prompt_length = inputs["input_ids"].shape[1]
        new = output[0, prompt_length:]
        text = tokenizer.decode(new, skip_special_tokens=False)
        for marker in (tokenizer.eos_token, tokenizer.pad_token, "<|im_end|>", "<|endoftext|>"):
            if marker:
                text = text.replace(marker, "")
        return Reply(content=text.strip(), prompt_tokens=int(prompt_length),
                     completion_tokens=int(new.shape[0]), cost=None)
