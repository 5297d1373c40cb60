"""The one guarded import of langchain-core's deprecated ``BaseChatMessageHistory``.

While langchain-core has it, our history subclasses it (so ``RunnableWithMessageHistory`` and
type checks accept it); once it is removed, :class:`ChatHistoryBase` is a plain class of ours with
the same convenience methods, and nothing else in the package changes.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langchain_core.chat_history import BaseChatMessageHistory as ChatHistoryBase

    HAS_LANGCHAIN_CHAT_HISTORY = True
except ImportError:  # langchain-core 2.x
    HAS_LANGCHAIN_CHAT_HISTORY = False

    class ChatHistoryBase:  # type: ignore[no-redef]
        """Stand-in with the methods ``BaseChatMessageHistory`` used to provide."""

        def add_user_message(self, message: HumanMessage | str) -> None:
            self.add_messages(
                [message if isinstance(message, HumanMessage) else HumanMessage(content=message)]
            )

        def add_ai_message(self, message: AIMessage | str) -> None:
            self.add_messages(
                [message if isinstance(message, AIMessage) else AIMessage(content=message)]
            )

        def add_message(self, message: BaseMessage) -> None:
            self.add_messages([message])

        def add_messages(self, messages: Sequence[BaseMessage]) -> None:
            raise NotImplementedError

        def clear(self) -> None:
            raise NotImplementedError
