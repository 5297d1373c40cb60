"""LoCoMo for the recall benchmark: turns, dates and counted questions; a tiny made-up stand-in.

Counted questions (docs/recall.md): each evidence string is split on ``;``, ``,`` and
whitespace; an id is kept when it names an existing ``dia_id`` verbatim; a question counts when
at least one id remains (1,981 of 1,986). Turn text = ``text`` plus `` [shares <caption>]`` for
an image. The data file is read where it lies (``--data``); it is never copied.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from dataclasses import dataclass, field

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
_DATE = re.compile(r"(\d{1,2}) (\w+),? (\d{4})")


@dataclass
class TurnRec:
    i: int  # position in the conversation
    dia_id: str
    speaker: str
    text: str
    session: int  # LoCoMo session number
    day: dt.date


@dataclass
class Question:
    question: str
    category: int
    evidence: list[int]  # turn positions


@dataclass
class Conv:
    idx: int
    speakers: tuple[str, str]
    turns: list[TurnRec]
    questions: list[Question] = field(default_factory=list)

    def label(self, t: TurnRec) -> str:
        return f"{t.day.day} {t.day.strftime('%B')} {t.day.year}"


def _day(text: str) -> dt.date:
    m = _DATE.search(text)
    if not m:
        raise ValueError(f"no date in {text!r}")
    return dt.datetime.strptime(f"{m[1]} {m[2]} {m[3]}", "%d %B %Y").date()


def load(path: str) -> list[Conv]:
    with open(path) as f:
        data = json.load(f)
    convs = []
    for ci, c in enumerate(data):
        conv = c["conversation"]
        nums = sorted(
            int(k.split("_")[1])
            for k in conv
            if re.fullmatch(r"session_\d+", k) and isinstance(conv[k], list)
        )
        turns: list[TurnRec] = []
        for n in nums:
            day = _day(conv[f"session_{n}_date_time"])
            for t in conv[f"session_{n}"]:
                text = t["text"]
                if t.get("blip_caption"):
                    text = f"{text} [shares {t['blip_caption']}]"
                turns.append(TurnRec(len(turns), t["dia_id"], t["speaker"], text, n, day))
        pos = {t.dia_id: t.i for t in turns}
        cv = Conv(ci, (conv["speaker_a"], conv["speaker_b"]), turns)
        for q in c["qa"]:
            ids = [e for s in q.get("evidence", []) for e in re.split(r"[;,\s]+", s) if e]
            ev = sorted({pos[e] for e in ids if e in pos})
            if ev:
                cv.questions.append(Question(q["question"], q["category"], ev))
        convs.append(cv)
    return convs


_TOPICS = [
    ("adopted a puppy called {x}", "What is the name of {a}'s puppy?", ["Biscuit", "Rex"]),
    ("started painting {x} landscapes", "What does {a} paint?", ["mountain", "sea"]),
    ("moved to {x} for a new job", "Where did {a} move?", ["Lisbon", "Oslo"]),
    ("ran a marathon in {x}", "Where did {a} run a marathon?", ["Berlin", "Boston"]),
    ("is learning to play the {x}", "Which instrument is {a} learning?", ["cello", "flute"]),
]
_FILLER = [
    "How was your week?",
    "Pretty busy, lots of errands.",
    "Did you watch anything good lately?",
    "Not really, mostly documentaries.",
    "The weather has been strange.",
    "Yes, rain one day and sun the next.",
]


def synthetic(n_convs: int = 2, sessions: int = 3, seed: int = 7) -> list[Conv]:
    """A tiny LoCoMo-shaped data set (for ``--smoke``: no data file needed)."""
    rnd = random.Random(seed)
    convs = []
    for ci in range(n_convs):
        a, b = ("Ann", "Bo") if ci % 2 == 0 else ("Cy", "Di")
        turns: list[TurnRec] = []
        questions = []
        for n in range(1, sessions + 1):
            day = dt.date(2023, 1 + n, 3 + ci)
            facts = rnd.sample(_TOPICS, 2)
            for k in range(10):
                speaker = a if k % 2 == 0 else b
                if k in (2, 6):
                    fact, ask, values = facts[k // 6]
                    text = f"Guess what, I {fact.format(x=rnd.choice(values))}!"
                    questions.append(Question(ask.format(a=speaker), 4, [len(turns)]))
                else:
                    text = rnd.choice(_FILLER)
                turns.append(TurnRec(len(turns), f"D{n}:{k + 1}", speaker, text, n, day))
        convs.append(Conv(ci, (a, b), turns, questions))
    return convs
