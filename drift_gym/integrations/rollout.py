"""A multi-turn TRL ``rollout_func``: the policy works a request in a real sandbox, turn by
turn, and the rollout is graded by the environment.

Token accounting is what makes multi-turn GRPO correct: the completion is the policy's turns
*and* everything the environment put between them (tool results, error observations), but
only the policy's tokens are trained, so the rollout returns ``env_mask`` (1 = policy token,
0 = injected text) which TRL applies to the loss. In TRL 1.16 the prompts a rollout function
receives are already repeated per generation, so it returns exactly one completion per prompt;
GRPO groups are the repeats of one row and therefore share its start state.

How a policy turn is sampled is pluggable (`TurnPolicy`): free sampling for real training, or
a constrained choice for the decision demo (`training/decision_demo.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..tools import tool_schemas
from .trl import DriftToolEnv, row_of


@dataclass
class Turn:
    """One policy turn: its tokens, their sampling log-probabilities and their loss mask."""

    ids: list[int]
    logprobs: list[float]
    mask: list[int]


class TurnPolicy(Protocol):
    def __call__(self, model: Any, tokenizer: Any, context_ids: list[int],
                 env: DriftToolEnv) -> Turn: ...


def sample_turn(max_new_tokens: int = 256, temperature: float = 1.0) -> TurnPolicy:
    """Free sampling until the end-of-turn token (all tokens trained)."""

    def policy(model: Any, tokenizer: Any, context_ids: list[int], env: DriftToolEnv) -> Turn:
        import torch

        inputs = torch.tensor([context_ids], device=model.device)
        with torch.no_grad():
            out = model.generate(inputs, attention_mask=torch.ones_like(inputs),
                                 max_new_tokens=max_new_tokens, do_sample=True,
                                 temperature=temperature, top_k=0, top_p=1.0,
                                 output_scores=True, return_dict_in_generate=True,
                                 eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=tokenizer.pad_token_id)
        new = out.sequences[0, len(context_ids):].tolist()
        logprobs = [float(torch.log_softmax(score[0], dim=-1)[token])
                    for score, token in zip(out.scores, new, strict=False)]
        while new and new[-1] == tokenizer.pad_token_id and new[-1] != tokenizer.eos_token_id:
            new.pop()
            logprobs.pop()
        return Turn(new, logprobs, [1] * len(new))

    return policy


def _strip_row(prompt: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if k != "drift_gym_row" and v is not None}
            for m in prompt]


def _render(tokenizer: Any, messages: list[dict[str, Any]], *, generation: bool) -> str:
    return tokenizer.apply_chat_template(messages, tools=tool_schemas(), tokenize=False,
                                         add_generation_prompt=generation)


def feedback_ids(tokenizer: Any, messages: list[dict[str, Any]], reply: str,
                 observation: str) -> list[int]:
    """The tokens the chat template puts between the policy's reply and its next turn when
    the environment answers with `observation` (the template's own framing, not a guess)."""
    eos = tokenizer.eos_token or ""
    rendered = _render(tokenizer, [*messages, {"role": "assistant", "content": reply},
                                   {"role": "tool", "content": observation}], generation=True)
    # Templates may re-render the reply (Qwen3 adds an empty think block to the last turn
    # only), so anchor on the reply's end rather than on a prefix of the whole text.
    end = rendered.rfind(reply + eos)
    if end < 0:
        raise ValueError("the chat template does not render the policy's reply verbatim, so "
                         "injected tokens cannot be separated from the policy's")
    text = rendered[end + len(reply + eos):]
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def make_rollout_func(*, max_turns: int = 8, policy: TurnPolicy | None = None,
                      sandbox: str = "auto") -> Callable[[list[Any], Any], dict[str, Any]]:
    """A ``rollout_func`` for `GRPOTrainer`. Prompts must carry their start state (build rows
    with `agent_dataset` then `with_row`). Extra output columns: ``env_mask``,
    ``reward_components`` (read by the component reward functions) and ``env_reward``."""
    turn_policy = policy or sample_turn()

    def rollout(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        model = trainer.accelerator.unwrap_model(trainer.model)
        tokenizer = trainer.processing_class
        limit = int(getattr(trainer.args, "max_completion_length", 0) or 1 << 30)
        env = DriftToolEnv()
        env.sandbox = sandbox
        out: dict[str, list[Any]] = {k: [] for k in (
            "prompt_ids", "completion_ids", "logprobs", "env_mask", "reward_components",
            "env_reward")}
        for prompt in prompts:
            env.reset(**row_of(prompt))
            messages = _strip_row(prompt)
            prompt_ids = tokenizer(_render(tokenizer, messages, generation=True),
                                   add_special_tokens=False)["input_ids"]
            ids: list[int] = []
            logprobs: list[float] = []
            mask: list[int] = []
            for _ in range(max_turns):
                turn = turn_policy(model, tokenizer, prompt_ids + ids, env)
                ids += turn.ids
                logprobs += turn.logprobs
                mask += turn.mask
                reply = tokenizer.decode(turn.ids, skip_special_tokens=True)
                observation, done = env._act(reply)
                if done or len(ids) >= limit:
                    break
                feed = feedback_ids(tokenizer, messages, reply, observation)
                messages += [{"role": "assistant", "content": reply},
                             {"role": "tool", "content": observation}]
                ids += feed
                logprobs += [0.0] * len(feed)
                mask += [0] * len(feed)
            out["env_reward"].append(env.get_reward())
            out["reward_components"].append(dict(env.components))
            out["prompt_ids"].append(prompt_ids)
            out["completion_ids"].append(ids[:limit])
            out["logprobs"].append(logprobs[:limit])
            out["env_mask"].append(mask[:limit])
        env._close()
        return out

    return rollout


def env_reward(completions: Sequence[Any], env_reward: Sequence[float] | None = None,
               **_: Any) -> list[float | None]:
    """The environment's weighted reward of each rollout (the `rollout_func` path's
    counterpart of ``DriftToolEnv.get_reward``)."""
    if env_reward is None:
        return [None] * len(completions)
    return [float(r) for r in env_reward]
