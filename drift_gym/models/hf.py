"""Local transformers checkpoints as models (``hf:<path>``): the checkpoint's own chat
template renders the tools, and tool calls are parsed from the generated text."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from ..tools import tool_schemas
from .base import (
    GenerationConfig,
    ModelError,
    Reply,
    ResponseCache,
    Usage,
    through_cache,
    wire_safe,
)

CHECKPOINT_FILES = ("config.json", "generation_config.json", "tokenizer*", "vocab.*",
                    "merges.txt", "special_tokens_map.json", "added_tokens.json",
                    "chat_template.*", "*.safetensors", "*.bin", "*.index.json", "*.model",
                    "*.tiktoken")
"""Files of a checkpoint folder that decide its answers: configs, tokenizer and chat
template, weights (and their shard indexes). Trainer state beside them is left out."""
_NOT_ANSWERS = ("training_args.bin",)  # pickled trainer settings, rewritten on every save

Signature = tuple[tuple[str, int, int, int, int], ...]
_FILE_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}
_FILE_DIGESTS_LOCK = threading.Lock()


def _signature(path: Path) -> Signature:
    """(name, size, mtime_ns, ctime_ns, inode) of each answer-deciding file, sorted."""
    found = []
    for entry in os.scandir(path):
        if (entry.name in _NOT_ANSWERS or not entry.is_file()
                or not any(fnmatch(entry.name, p) for p in CHECKPOINT_FILES)):
            continue
        stat = entry.stat()
        found.append((entry.name, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns,
                      stat.st_ino))
    return tuple(sorted(found))


def _file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_digest(path: Path) -> tuple[Signature, str]:
    """The folder's stat signature and a sha256 over the *contents* of its answer-deciding
    files (names included), so a checkpoint retrained into the same folder gets new cache
    keys while an unchanged one keeps its cached answers.

    Hashing reads every weight file once (about a second per GB). Within one process each
    file's hash is remembered under its (path, size, mtime_ns, ctime_ns, inode): evaluation
    builds a fresh model per episode, and rehashing gigabytes each time would cost as much
    as the episode. That shortcut only trusts stat fields *between reads of the same file by
    this process*; ctime cannot be set back by a program (unlike mtime), and any rewrite by
    save_pretrained changes it, so a stale hash would need a same-size in-place rewrite
    within one clock tick. A new process always hashes contents afresh.
    """
    signature = _signature(path)
    combined = hashlib.sha256()
    for name, size, mtime_ns, ctime_ns, inode in signature:
        memo = (str((path / name).resolve()), size, mtime_ns, ctime_ns, inode)
        with _FILE_DIGESTS_LOCK:
            known = _FILE_DIGESTS.get(memo)
        if known is None:
            known = _file_sha256(path / name)
            with _FILE_DIGESTS_LOCK:
                _FILE_DIGESTS[memo] = known
        combined.update(f"{name}\0{known}\n".encode("utf-8", "surrogatepass"))
    return signature, combined.hexdigest()


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
    _digest: tuple[Signature, str] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"hf:{self.path}"

    @property
    def digest(self) -> str:
        """sha256 of the checkpoint's answer-deciding files, part of every cache key: computed
        on first use and again only when the weights are loaded from a folder whose files
        changed since, so it always describes the weights that answer."""
        if self._digest is None:
            self._digest = checkpoint_digest(self.path)
        return self._digest[1]

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
            if self._digest is not None and self._digest[0] != _signature(self.path):
                self._digest = checkpoint_digest(self.path)  # what is about to be loaded
            tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True)
            model.eval()
            self._loaded = (tokenizer, model)
        return self._loaded

    def _key(self, messages: list[dict[str, Any]], seed: int | None, step: int) -> str:
        """The cache key: the path names the model for people, the digest for the cache."""
        return ResponseCache.key({
            "model": self.name, "checkpoint": self.digest, "messages": messages,
            "tools": tool_schemas(), "generation": self.generation.__dict__,
            "episode_seed": seed, "step": step})

    def complete(self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None,
                 seed: int | None, step: int) -> Reply:
        messages = wire_safe(messages)  # the tokenizer rejects lone surrogates
        # loading may find new weights (refresh): the answer is keyed on those
        return through_cache(self.cache, self.usage, lambda: self._key(messages, seed, step),
                             lambda: self._generate(messages, seed, step),
                             refresh=lambda: None if self._load() else None)

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
