"""Ours: ``SessionStore`` chat histories on memory, SQLite, Redis and PostgreSQL (public API only).

A turn is ``history.tail(20)`` + ``history.add_messages([h, a])`` (async: ``atail`` / ``aadd_messages``).
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.messages import BaseMessage

from langchain_sessionmem import SessionStore

from .turns import OTHER, TAIL, AsyncChatSystem, ChatSystem

USER = "bench-user"  # every session of a run belongs to one user, as in one signed-in app


class OursSqlite(ChatSystem):
    key, label, tags = "ours-sqlite", "ours: SessionStore sqlite", frozenset({"ours", "sqlite"})

    def make_store(self) -> SessionStore:
        return SessionStore.from_url(f"sqlite:///{self.ws.db_path('ours')}")

    def open(self, other_rows: int) -> None:
        self.store = self.make_store()
        if other_rows:
            self.store.history(OTHER, user_id=USER).add_messages(self.corpus.messages[:other_rows])

    def new_session(self, n: int) -> Any:
        history = self.store.history(uuid.uuid4().hex, user_id=USER)
        if n:
            history.add_messages(self.corpus.messages[:n])
        return history

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        handle.tail(TAIL)
        handle.add_messages([h, a])

    def drop(self, handle: Any) -> None:
        handle.clear()

    def close(self) -> None:
        self.store.close()


class OursMemory(OursSqlite):
    key, label, tags = "ours-memory", "ours: SessionStore memory", frozenset({"ours", "memory"})

    def make_store(self) -> SessionStore:
        return SessionStore.from_url("memory://")


class OursRedis(OursSqlite):
    key, label, tags = "ours-redis", "ours: SessionStore redis", frozenset({"ours", "redis"})
    needs = ("redis",)

    def make_store(self) -> SessionStore:
        self.ws.redis_used = True
        self.namespace = self.ws.name("ours")
        return SessionStore.from_url(self.ws.services.redis_url, namespace=self.namespace)

    def close(self) -> None:
        self.store.close()
        self.ws.forget_keys(self.namespace)


class OursPostgres(OursSqlite):
    key, label, tags = "ours-pg", "ours: SessionStore postgres", frozenset({"ours", "postgres"})
    needs = ("postgres",)

    def make_store(self) -> SessionStore:
        self.namespace = self.ws.name("ours")
        return SessionStore.from_url(self.ws.postgres(), namespace=self.namespace)

    def close(self) -> None:
        self.store.close()
        self.ws.drop_tables(self.namespace)


class AsyncOursSqlite(AsyncChatSystem):
    key, label, tags = "ours-sqlite", "ours: SessionStore sqlite", frozenset({"ours", "sqlite"})
    make_store = OursSqlite.make_store

    async def open(self) -> None:
        self.store = self.make_store()

    async def new_session(self, n: int) -> Any:
        history = self.store.history(uuid.uuid4().hex, user_id=USER)
        await history.aadd_messages(self.corpus.messages[:n])
        return history

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        await handle.atail(TAIL)
        await handle.aadd_messages([h, a])

    async def close(self) -> None:
        await self.store.aclose()


class AsyncOursRedis(AsyncOursSqlite):
    key, label, tags = "ours-redis", "ours: SessionStore redis", frozenset({"ours", "redis"})
    needs = ("redis",)
    make_store = OursRedis.make_store

    async def close(self) -> None:
        await self.store.aclose()
        self.ws.forget_keys(self.namespace)


class AsyncOursPostgres(AsyncOursSqlite):
    key, label, tags = "ours-pg", "ours: SessionStore postgres", frozenset({"ours", "postgres"})
    needs = ("postgres",)
    note = "asyncio pool, max_size=10"
    make_store = OursPostgres.make_store

    async def close(self) -> None:
        await self.store.aclose()
        self.ws.drop_tables(self.namespace)


SYNC = [OursSqlite, OursRedis, OursPostgres, OursMemory]
ASYNC = [AsyncOursSqlite, AsyncOursRedis, AsyncOursPostgres]
