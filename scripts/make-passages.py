#!/usr/bin/env python3
"""Writes the batch example's data: examples/passages.jsonl (300 short passages with the topic each was
written for) and examples/classify.jsonl (the OpenAI batch file that asks a model for each topic).

The passages are assembled from the phrase lists below with a fixed seed: the same files on every run,
nothing downloaded. Used by docs/batch.md and benchmarks/batch.py.

    python3 scripts/make-passages.py [--out examples] [--count 300]
    python3 scripts/make-passages.py --score results.jsonl   # the model's topics against the passages'
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

TOPICS = {
    "sports": (["The home team", "A young striker", "The veteran goalkeeper", "The coach", "The relay squad", "Our captain"],
               ["won the final", "scored twice in the second half", "broke the league record", "lost on penalties",
                "trained through the rain", "signed a new contract"],
               ["before a crowd of forty thousand.", "after a tense overtime.", "in the championship match.",
                "despite an early injury.", "at the national stadium.", "to the delight of the fans."]),
    "weather": (["A cold front", "Heavy rain", "The afternoon sun", "A thick fog", "Strong winds", "Fresh snow"],
                ["is expected along the coast", "swept across the valley", "will clear by midday",
                 "closed the mountain pass", "raised temperatures to thirty degrees", "brought flooding to low roads"],
                ["according to the morning forecast.", "for the third day in a row.", "with more showers tonight.",
                 "as a storm moves north.", "before a dry weekend.", "under a grey sky."]),
    "food": (["The new bakery", "My grandmother's soup", "This pasta recipe", "The street vendor", "A ripe mango",
              "The chef's curry"],
             ["uses fresh garlic and basil", "tastes best with warm bread", "needs an hour in the oven",
              "sells dumplings for two euros", "pairs well with rice", "was seasoned with cumin and lime"],
             ["served hot at dinner.", "every Sunday morning.", "with a glass of lemonade.", "for the whole family.",
              "at the night market.", "and a spoon of yoghurt."]),
    "technology": (["The new phone", "A software update", "The laptop's processor", "The cloud service",
                    "An open-source library", "The home router"],
                   ["ships with a faster chip", "fixed a security bug", "doubled the battery life",
                    "went down for two hours", "added support for encryption", "now runs on every operating system"],
                   ["according to the release notes.", "after months of testing.", "for millions of users.",
                    "in the latest version.", "said the engineers.", "with a simpler installer."]),
    "finance": (["The central bank", "Share prices", "The company's profits", "Mortgage rates", "The currency",
                 "Quarterly revenue"],
                ["rose by three percent", "fell sharply on Monday", "beat analysts' forecasts",
                 "raised interest rates again", "dropped to a five-year low", "doubled since last year"],
                ["as investors grew nervous.", "on the stock exchange.", "despite rising inflation.",
                 "ahead of the annual report.", "in early trading.", "after the budget announcement."]),
}
SYSTEM = ("Classify the passage into exactly one topic: sports, weather, food, technology or finance. "
          "Answer with the topic word only.")
# One worked example per topic, as earlier turns of the chat: a 135M model follows examples, not
# instructions (on 40 passages: 45% right with these, 5-12% with the instruction alone). Written for
# this file, in none of the passages; the same prefix in every request, so the prefix cache serves it.
SHOTS = [("The goalkeeper saved a penalty in the final minute.", "sports"),
         ("Thunderstorms will bring heavy rain this evening.", "weather"),
         ("Stir the onions until golden, then add the tomatoes.", "food"),
         ("The new chip makes the laptop twice as fast.", "technology"),
         ("The bank cut interest rates by half a percent.", "finance")]


def passages(count: int, seed: int = 25) -> list[dict]:
    rng = random.Random(seed)
    names = sorted(TOPICS)
    out = []
    for i in range(count):
        topic = names[i % len(names)]
        subjects, verbs, tails = TOPICS[topic]
        out.append({"id": f"passage-{i:04d}", "topic": topic,
                    "text": f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(tails)}"})
    rng.shuffle(out)
    return out


def request(passage: dict) -> dict:
    return {"custom_id": passage["id"], "method": "POST", "url": "/v1/chat/completions",
            "body": {"messages": messages(passage["text"]), "temperature": 0, "max_tokens": 4}}


def messages(text: str) -> list[dict]:
    chat = [{"role": "system", "content": SYSTEM}]
    for example, topic in SHOTS:
        chat += [{"role": "user", "content": example}, {"role": "assistant", "content": topic}]
    return chat + [{"role": "user", "content": text}]


def score(results: Path, passages_file: Path) -> str:
    truth = {p["id"]: p["topic"] for p in map(json.loads, passages_file.read_text().splitlines())}
    right = answered = 0
    for record in map(json.loads, results.read_text().splitlines()):
        body = (record.get("response") or {}).get("body") or {}
        try:
            said = body["choices"][0]["message"]["content"].strip().lower()
        except (KeyError, IndexError, TypeError, AttributeError):
            continue
        answered += 1
        named = sorted((said.find(t), t) for t in TOPICS if t in said)  # the topic it names first
        right += bool(named) and named[0][1] == truth.get(record["custom_id"])
    return f"{right} of {answered} answers name the topic the passage was written for ({right / max(answered, 1):.0%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "examples")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--score", type=Path, metavar="RESULTS", help="Compare a batch output with the passages' topics.")
    args = parser.parse_args()
    if args.score:
        print(score(args.score, args.out / "passages.jsonl"))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    items = passages(args.count)
    (args.out / "passages.jsonl").write_text("".join(json.dumps(p) + "\n" for p in items))
    (args.out / "classify.jsonl").write_text("".join(json.dumps(request(p)) + "\n" for p in items))


if __name__ == "__main__":
    main()
