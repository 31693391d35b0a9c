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
from .trl_agent import DriftToolEnv, row_of


@dataclass
class Turn:
    """One policy turn: its tokens, their sampling log-probabilities and their loss mask."""

    ids: list[int]
    logprobs: list[float]
    mask: list[int]


class TurnPolicy(Protocol):
    def __call__(self, model: Any, tokenizer: Any, context_ids: list[int],
                 env: DriftToolEnv, budget: int) -> Turn:
        """At most `budget` new tokens (what is left of the completion length)."""
        ...


def sample_turn(max_new_tokens: int = 256, temperature: float = 1.0) -> TurnPolicy:
    """Free sampling until the end-of-turn token (all tokens trained)."""

    def policy(model: Any, tokenizer: Any, context_ids: list[int], env: DriftToolEnv,
               budget: int) -> Turn:
        import torch

        inputs = torch.tensor([context_ids], device=model.device)
        with torch.no_grad():
            out = model.generate(inputs, attention_mask=torch.ones_like(inputs),
                                 max_new_tokens=max(1, min(max_new_tokens, budget)),
                                 do_sample=True,
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


def strip_row(prompt: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if k != "drift_gym_row" and v is not None}
            for m in prompt]


def render_chat(tokenizer: Any, messages: list[dict[str, Any]], *, generation: bool) -> str:
    return tokenizer.apply_chat_template(messages, tools=tool_schemas(), tokenize=False,
                                         add_generation_prompt=generation)


def feedback_ids(tokenizer: Any, messages: list[dict[str, Any]], reply: str,
                 observation: str) -> list[int]:
    """The tokens the chat template puts between the end of the policy's reply and its next
    turn when the environment answers with `observation` — the template's own framing, cut
    at the end-of-turn token just before the observation (templates may re-render the reply
    itself, e.g. Qwen3's think blocks, so the reply text is never searched for)."""
    eos = tokenizer.eos_token or ""
    rendered = render_chat(tokenizer, [*messages, {"role": "assistant", "content": reply},
                                   {"role": "tool", "content": observation}], generation=True)
    at = rendered.rfind(observation)
    end = rendered.rfind(eos, 0, at) if eos and at >= 0 else -1
    if end < 0:
        raise ValueError("the chat template does not close the assistant turn with the "
                         "tokenizer's eos token before the tool result: injected tokens cannot "
                         "be separated from the policy's")
    return tokenizer(rendered[end + len(eos):], add_special_tokens=False)["input_ids"]


def reply_text(tokenizer: Any, ids: list[int]) -> str:
    """A turn's text as the environment should read it: special tool-call markers kept
    (some tokenizers mark `<tool_call>` special), end-of-turn and padding dropped."""
    drop = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    return tokenizer.decode([t for t in ids if t not in drop], skip_special_tokens=False)


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
            messages = strip_row(prompt)
            prompt_ids = tokenizer(render_chat(tokenizer, messages, generation=True),
                                   add_special_tokens=False)["input_ids"]
            ids: list[int] = []
            logprobs: list[float] = []
            mask: list[int] = []
            for turn_index in range(max_turns):
                budget = limit - len(ids)
                if budget <= 0:
                    break
                turn = turn_policy(model, tokenizer, prompt_ids + ids, env, budget)
                closed = bool(turn.ids) and turn.ids[-1] == tokenizer.eos_token_id
                if not closed and len(turn.ids) >= budget:
                    # cut by the completion length: its tokens are trained as they stand,
                    # but a cut action is not carried out
                    ids, logprobs, mask = ids + turn.ids, logprobs + turn.logprobs, \
                        mask + turn.mask
                    break
                if not closed:  # stopped by max_new_tokens: close the turn (not trained)
                    turn = Turn(turn.ids + [tokenizer.eos_token_id], turn.logprobs + [0.0],
                                turn.mask + [0])
                ids, logprobs, mask = ids + turn.ids, logprobs + turn.logprobs, mask + turn.mask
                reply = reply_text(tokenizer, turn.ids)
                observation, done = env._act(reply)
                if done or turn_index == max_turns - 1:
                    break  # no feedback after the last turn: the completion ends on EOS
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


def env_reward(completions: Sequence[Any],
               env_reward: Sequence[float | None] | None = None, **_: Any) -> list[float | None]:
    """The environment's weighted reward of each rollout (the `rollout_func` path's
    counterpart of ``DriftToolEnv.get_reward``; None for an infrastructure error)."""
    if env_reward is None:
        return [None] * len(completions)
    return [None if r is None else float(r) for r in env_reward]
