"""Text analysis for recall: normalise, split, drop stop words, Porter-stem, digest terms.

One function (:func:`analyze`) builds the index and analyses the query, so both always agree.
The stemmer is M. Porter's reference C version (the one SQLite FTS5 ships), so the terms equal
FTS5's ``porter unicode61`` tokens. With encryption at rest each term is stored as a keyed
digest (:func:`term_digest`): the index then holds no plaintext words and BM25 is unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache

# A compact English stop list (close to NLTK's): question words and function words only, so a
# query like "When did Ana go to the sailing club?" keeps {ana, go, sail, club}.
_STOP_TEXT = """
    a about above after again against all am an and any are aren as at be because been before
    being below between both but by can couldn d did didn do does doesn doing don down during each
    few for from further had hadn has hasn have haven having he her here hers herself him himself
    his how i if in into is isn it its itself just ll m ma me mightn more most mustn my myself
    needn no nor not now o of off on once only or other our ours ourselves out over own re s same
    shan she should shouldn so some such t than that the their theirs them themselves then there
    these they this those through to too under until up ve very was wasn we were weren what when
    where which while who whom why will with won wouldn y you your yours yourself yourselves
    would could also
"""
STOPWORDS = frozenset(_STOP_TEXT.split())

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


class _Porter:
    """M.F. Porter's 1980 stemmer as in his reference C code (the one SQLite FTS5 ships)."""

    __slots__ = ("b", "k", "j")

    def __init__(self, word: str) -> None:
        self.b = word
        self.k = len(word) - 1
        self.j = 0

    def cons(self, i: int) -> bool:
        ch = self.b[i]
        if ch in "aeiou":
            return False
        if ch == "y":
            return True if i == 0 else not self.cons(i - 1)
        return True

    def m(self) -> int:
        n = 0
        i = 0
        j = self.j
        while True:
            if i > j:
                return n
            if not self.cons(i):
                break
            i += 1
        i += 1
        while True:
            while True:
                if i > j:
                    return n
                if self.cons(i):
                    break
                i += 1
            i += 1
            n += 1
            while True:
                if i > j:
                    return n
                if not self.cons(i):
                    break
                i += 1
            i += 1

    def vowel_in_stem(self) -> bool:
        return any(not self.cons(i) for i in range(self.j + 1))

    def doublec(self, j: int) -> bool:
        return j >= 1 and self.b[j] == self.b[j - 1] and self.cons(j)

    def cvc(self, i: int) -> bool:
        if i < 2 or not self.cons(i) or self.cons(i - 1) or not self.cons(i - 2):
            return False
        return self.b[i] not in "wxy"

    def ends(self, s: str) -> bool:
        n = len(s)
        if n > self.k + 1 or self.b[self.k - n + 1 : self.k + 1] != s:
            return False
        self.j = self.k - n
        return True

    def setto(self, s: str) -> None:
        self.b = self.b[: self.j + 1] + s + self.b[self.j + 1 + len(s) :]
        self.k = self.j + len(s)

    def r(self, s: str) -> None:
        if self.m() > 0:
            self.setto(s)

    def step1ab(self) -> None:
        if self.b[self.k] == "s":
            if self.ends("sses"):
                self.k -= 2
            elif self.ends("ies"):
                self.setto("i")
            elif self.b[self.k - 1] != "s":
                self.k -= 1
        if self.ends("eed"):
            if self.m() > 0:
                self.k -= 1
        elif (self.ends("ed") or self.ends("ing")) and self.vowel_in_stem():
            self.k = self.j
            if self.ends("at"):
                self.setto("ate")
            elif self.ends("bl"):
                self.setto("ble")
            elif self.ends("iz"):
                self.setto("ize")
            elif self.doublec(self.k):
                if self.b[self.k] not in "lsz":
                    self.k -= 1
            elif self.m() == 1 and self.cvc(self.k):
                self.setto("e")

    def step1c(self) -> None:
        if self.ends("y") and self.vowel_in_stem():
            self.b = self.b[: self.k] + "i" + self.b[self.k + 1 :]

    _STEP2 = {
        "a": (("ational", "ate"), ("tional", "tion")),
        "c": (("enci", "ence"), ("anci", "ance")),
        "e": (("izer", "ize"),),
        "l": (("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")),
        "o": (("ization", "ize"), ("ation", "ate"), ("ator", "ate")),
        "s": (("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")),
        "t": (("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")),
        "g": (("logi", "log"),),
    }
    _STEP3 = {
        "e": (("icate", "ic"), ("ative", ""), ("alize", "al")),
        "i": (("iciti", "ic"),),
        "l": (("ical", "ic"), ("ful", "")),
        "s": (("ness", ""),),
    }
    _STEP4 = {
        "a": ("al",),
        "c": ("ance", "ence"),
        "e": ("er",),
        "i": ("ic",),
        "l": ("able", "ible"),
        "n": ("ant", "ement", "ment", "ent"),
        "o": ("ion", "ou"),
        "s": ("ism",),
        "t": ("ate", "iti"),
        "u": ("ous",),
        "v": ("ive",),
        "z": ("ize",),
    }

    def _rules(self, table: dict, ch: str) -> None:
        for suffix, repl in table.get(ch, ()):
            if self.ends(suffix):
                self.r(repl)
                return

    def step4(self) -> None:
        for suffix in self._STEP4.get(self.b[self.k - 1], ()):
            if self.ends(suffix):
                if suffix == "ion" and (self.j < 0 or self.b[self.j] not in "st"):
                    continue
                if self.m() > 1:
                    self.k = self.j
                return

    def step5(self) -> None:
        self.j = self.k
        if self.b[self.k] == "e":
            a = self.m()
            if a > 1 or (a == 1 and not self.cvc(self.k - 1)):
                self.k -= 1
        if self.b[self.k] == "l" and self.doublec(self.k) and self.m() > 1:
            self.k -= 1

    def stem(self) -> str:
        if self.k <= 1:
            return self.b
        self.step1ab()
        if self.k > 0:
            self.step1c()
            self._rules(self._STEP2, self.b[self.k - 1])
            self._rules(self._STEP3, self.b[self.k])
            self.step4()
            self.step5()
        return self.b[: self.k + 1]


@lru_cache(maxsize=65536)
def porter_stem(word: str) -> str:
    """Porter (1980) stem of a lower-case word; words with non a-z letters are kept as they are.

    Matches SQLite FTS5's ``porter`` tokenizer, so our own index and FTS5 agree on terms.
    """
    if len(word) < 3 or not word.isascii():
        return word
    return _Porter(word).stem()


@lru_cache(maxsize=65536)
def analyze(
    text: str,
    *,
    stem: Callable[[str], str] | None = porter_stem,
    stopwords: frozenset[str] = STOPWORDS,
) -> list[str]:
    """Index / query terms of ``text``: case-folded, diacritics removed, split on
    non-alphanumerics, stop words and one-letter words dropped, then stemmed."""
    text = unicodedata.normalize("NFKD", text.casefold())
    if not text.isascii():  # drop diacritics as FTS5's unicode61 does: cafe == café
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    out = []
    for word in _WORD.findall(text):
        if len(word) < 2 or word in stopwords:
            continue
        out.append(stem(word) if stem is not None else word)
    return out


def term_frequencies(terms: Iterable[str]) -> dict[str, int]:
    """Term -> count for one document (what an index stores per term and message)."""
    tf: dict[str, int] = {}
    for term in terms:
        tf[term] = tf.get(term, 0) + 1
    return tf


def term_digest(term: str, secret: bytes | None) -> str:
    """The index spelling of a term: the term itself, or (encryption at rest) an HMAC-SHA256
    of it under ``secret`` cut to 16 hex digits."""
    if secret is None:
        return term
    return hmac.new(secret, term.encode(), hashlib.sha256).hexdigest()[:16]


def index_terms(text: str, secret: bytes | None = None) -> list[str]:
    """:func:`analyze`, each term in its index spelling (:func:`term_digest`)."""
    terms = analyze(text)
    return terms if secret is None else [term_digest(t, secret) for t in terms]
