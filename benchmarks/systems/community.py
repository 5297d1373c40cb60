"""The usual LangChain histories, used the way ``RunnableWithMessageHistory`` uses them.

``InMemoryChatMessageHistory`` (langchain-core), ``RedisChatMessageHistory`` and
``SQLChatMessageHistory`` (langchain-community) on SQLite and PostgreSQL: a turn reads the whole
history and slices the last 20 messages, then makes one ``add_messages`` call. History objects
are made once per session and reused (RWMH makes one per turn, so these numbers are favourable).
"""

from __future__ import annotations

import uuid
from typing import Any

from langchain_core.messages import BaseMessage

from .turns import OTHER, TAIL, AsyncChatSystem, ChatSystem

HISTORIES = "langchain_community.chat_message_histories"
SQL_NEEDS = (HISTORIES, "sqlalchemy", "greenlet")  # SQLAlchemy 2.1's asyncio module needs greenlet


class InMemory(ChatSystem):
    key, label = "memory", "InMemoryChatMessageHistory"
    tags = frozenset({"memory", "langchain", "community"})
    supports_other = False

    def new_session(self, n: int) -> Any:
        from langchain_core.chat_history import InMemoryChatMessageHistory

        return InMemoryChatMessageHistory(messages=list(self.corpus.messages[:n]))

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        handle.messages[-TAIL:]
        handle.add_messages([h, a])

    def drop(self, handle: Any) -> None:
        handle.clear()


class CommunityRedis(ChatSystem):
    key, label, tags = (
        "community-redis",
        "RedisChatMessageHistory",
        frozenset({"community", "redis"}),
    )
    needs = ("redis", HISTORIES)

    def open(self, other_rows: int) -> None:
        import redis

        self.ws.redis_used = True
        self.prefix = self.ws.name("community") + ":"
        self.admin = redis.Redis.from_url(self.ws.services.redis_url)
        if other_rows:
            self.fill(self.prefix + OTHER, other_rows)

    def fill(self, key: str, n: int) -> None:
        # LPUSH in chronological order leaves the newest at the head, as add_message does.
        for i in range(0, n, 1000):
            self.admin.lpush(key, *self.corpus.dumped[i : min(n, i + 1000)])

    def history(self) -> Any:
        from langchain_community.chat_message_histories import RedisChatMessageHistory

        return RedisChatMessageHistory(
            uuid.uuid4().hex, url=self.ws.services.redis_url, key_prefix=self.prefix
        )

    def new_session(self, n: int) -> Any:
        history = self.history()
        if n:
            self.fill(history.key, n)
        return history

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        handle.messages[-TAIL:]
        handle.add_messages([h, a])

    def drop(self, handle: Any) -> None:
        handle.clear()
        handle.redis_client.close()

    def close(self) -> None:
        self.admin.close()
        self.ws.forget_keys(self.prefix)


class CommunitySql(ChatSystem):
    key, label = "community-sql", "SQLChatMessageHistory sqlite"
    tags = frozenset({"community", "sqlite"})
    needs = SQL_NEEDS

    def url(self) -> str:
        return f"sqlite:///{self.ws.db_path('community')}"

    def open(self, other_rows: int) -> None:
        import sqlalchemy

        self.engine = sqlalchemy.create_engine(self.url())
        self.table = self.ws.name("sql").replace("-", "_")
        self.model = self.history(OTHER).sql_model_class  # creates the table
        if other_rows:
            self.fill(OTHER, other_rows)

    def history(self, session_id: str) -> Any:
        from langchain_community.chat_message_histories import SQLChatMessageHistory

        return SQLChatMessageHistory(
            session_id=session_id, table_name=self.table, connection=self.engine
        )

    def fill(self, session_id: str, n: int) -> None:
        rows = [{"session_id": session_id, "message": d} for d in self.corpus.dumped[:n]]
        with self.engine.begin() as conn:
            conn.execute(self.model.__table__.insert(), rows)

    def new_session(self, n: int) -> Any:
        session_id = uuid.uuid4().hex
        history = self.history(session_id)
        if n:
            self.fill(session_id, n)
        return history

    def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        handle.messages[-TAIL:]
        handle.add_messages([h, a])

    def drop(self, handle: Any) -> None:
        handle.clear()
        handle.session_maker.remove()

    def close(self) -> None:
        self.engine.dispose()


class CommunityPostgres(CommunitySql):
    key, label = "community-pg", "SQLChatMessageHistory postgres"
    tags = frozenset({"community", "postgres"})
    needs = ("postgres", *SQL_NEEDS)

    def url(self) -> str:
        return self.ws.sqlalchemy_postgres()

    def close(self) -> None:
        super().close()
        self.ws.drop_tables(self.table)


class AsyncCommunitySql(AsyncChatSystem):
    key, label = "community-sql", "SQLChatMessageHistory aiosqlite"
    tags = frozenset({"community", "sqlite"})
    needs = (*SQL_NEEDS, "aiosqlite")
    note = "sqlite+aiosqlite, one shared AsyncEngine"

    async def open(self) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        self.engine = create_async_engine(f"sqlite+aiosqlite:///{self.ws.db_path('community')}")
        self.table = self.ws.name("sql").replace("-", "_")
        first = CommunitySql.history(self, OTHER)  # type: ignore[arg-type]
        await first._acreate_table_if_not_exists()  # what its first async call would do
        self.model = first.sql_model_class

    async def new_session(self, n: int) -> Any:
        session_id = uuid.uuid4().hex
        rows = [{"session_id": session_id, "message": d} for d in self.corpus.dumped[:n]]
        async with self.engine.begin() as conn:
            await conn.execute(self.model.__table__.insert(), rows)
        return CommunitySql.history(self, session_id)  # type: ignore[arg-type]

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        (await handle.aget_messages())[-TAIL:]
        await handle.aadd_messages([h, a])

    async def close(self) -> None:
        await self.engine.dispose()


class AsyncCommunityRedis(AsyncChatSystem):
    key, label = "community-redis", "RedisChatMessageHistory"
    tags = frozenset({"community", "redis"})
    needs = ("redis", HISTORIES)
    note = "no native async: default executor hop"

    async def open(self) -> None:
        CommunityRedis.open(self, 0)  # type: ignore[arg-type]
        self.histories: list[Any] = []

    async def new_session(self, n: int) -> Any:
        history = CommunityRedis.history(self)  # type: ignore[arg-type]
        self.admin.lpush(history.key, *self.corpus.dumped[:n])
        self.histories.append(history)
        return history

    async def turn(self, handle: Any, h: BaseMessage, a: BaseMessage) -> None:
        (await handle.aget_messages())[-TAIL:]
        await handle.aadd_messages([h, a])

    async def close(self) -> None:
        for history in self.histories:
            history.redis_client.close()
        CommunityRedis.close(self)  # type: ignore[arg-type]


SYNC = [InMemory, CommunityRedis, CommunitySql, CommunityPostgres]
ASYNC = [AsyncCommunitySql, AsyncCommunityRedis]
