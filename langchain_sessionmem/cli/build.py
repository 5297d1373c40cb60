"""The chat chain of `sessionmem chat` and `serve`: system prompt, session window, the model."""

from __future__ import annotations

from typing import Any

SYSTEM_PROMPT = "You are a helpful assistant. Use the conversation so far."


def build_chain(store: Any, max_messages: int) -> Any:
    """``ChatOpenAI`` when ``OPENAI_*`` is set, else the labelled offline model, with memory."""
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    from ..offline import chat_model
    from ..runnable import with_session_memory

    prompt = ChatPromptTemplate.from_messages(
        [("system", SYSTEM_PROMPT), MessagesPlaceholder("history"), ("human", "{input}")]
    )
    return with_session_memory(
        prompt | chat_model(),
        store,
        input_messages_key="input",
        history_messages_key="history",
        max_messages=max_messages,
    )
