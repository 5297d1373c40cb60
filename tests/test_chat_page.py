"""The chat page in a real headless Chromium (Debian's, driven by playwright): two users sign in
in two browser contexts, chat with streamed replies, reload, open a second tab, and neither ever
sees the other's sessions.

Set SESSIONMEM_SCREENSHOT=docs/chat-page.png to refresh the screenshot in the docs.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fakes import ScriptedChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from services import free_port, missing

from langchain_sessionmem import SessionStore, with_session_memory

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def chromium_path() -> str:
    for candidate in (os.environ.get("SESSIONMEM_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (path := shutil.which(candidate)):
            return path
    missing("Chromium is not installed (Debian: apt-get install -y chromium)")
    raise AssertionError("unreachable")


class SlowWords(ScriptedChatModel):
    """Streams its reply word by word with a pause, so the page must render chunks as they come."""

    def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any):
        words = self._next(messages).text.split(" ")
        for i, word in enumerate(words):
            time.sleep(0.15)
            yield ChatGenerationChunk(
                message=AIMessageChunk(content=word if i == 0 else " " + word)
            )


def reply_to(messages) -> str:
    question = messages[-1].text
    earlier = [m.text for m in messages[:-1] if m.type == "human"]
    return f"You said {question!r}; before that: {earlier or 'nothing'} in this session."


@pytest.fixture
def app_url(tmp_path) -> Iterator[str]:
    uvicorn = pytest.importorskip("uvicorn", reason="the server extra is not installed")
    from langchain_sessionmem.server import bearer_tokens, create_app

    store = SessionStore.from_url(f"sqlite:///{tmp_path / 'page.db'}")
    prompt = ChatPromptTemplate.from_messages(
        [MessagesPlaceholder("history"), ("human", "{input}")]
    )
    chain = with_session_memory(
        prompt | SlowWords(script=reply_to),
        store,
        input_messages_key="input",
        history_messages_key="history",
    )
    app = create_app(
        chain,
        store,
        authenticate=bearer_tokens({"token-alice": "alice", "token-bob": "bob"}),
        metrics=False,
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed: pip install playwright (Chromium comes from Debian)")
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page, url: str, token: str, user: str) -> None:
    page.goto(url)
    page.fill("#token", token)
    page.click("#signin")
    page.wait_for_selector(f"#user:text-is('{user}')")


def chat(page, text: str) -> str:
    """Send ``text``; check the reply shows up while it streams; return the finished reply."""
    before = page.locator(".msg.ai").count()
    page.fill("#input", text)
    page.press("#input", "Enter")
    streaming = page.locator(".msg.ai.streaming .text")
    streaming.wait_for()
    page.wait_for_function(
        "() => { const s = document.querySelector('.msg.ai.streaming .text');"
        " return s && s.textContent.length > 0; }"
    )
    partial = streaming.text_content() or ""
    page.wait_for_selector(".msg.ai.streaming", state="detached", timeout=20_000)
    final = page.locator(".msg.ai .text").nth(before).text_content() or ""
    assert partial and len(partial) < len(final), "the reply did not arrive chunk by chunk"
    assert page.locator("#chat-error").text_content() == ""
    return final


def sessions_listed(page) -> list[str]:
    page.wait_for_function("() => document.querySelectorAll('#sessions li').length > 0")
    return page.eval_on_selector_all("#sessions li", "items => items.map(i => i.dataset.session)")


def test_two_users_chat_reload_and_never_see_each_other(app_url, browser, tmp_path):
    alice_context = browser.new_context(viewport={"width": 1100, "height": 640})
    bob_context = browser.new_context(viewport={"width": 1100, "height": 640})
    alice, bob = alice_context.new_page(), bob_context.new_page()

    sign_in(alice, app_url, "token-alice", "alice")
    assert "My VPN is not working" in chat(alice, "My VPN is not working")
    assert "My VPN is not working" in chat(alice, "What did I report?")
    alice_session = alice.text_content("#session-id")

    sign_in(bob, app_url, "token-bob", "bob")
    bob_reply = chat(bob, "Hello, I am bob")
    assert "VPN" not in bob_reply and "nothing" in bob_reply
    bob_session = bob.text_content("#session-id")
    assert sessions_listed(bob) == [bob_session]

    alice.reload()  # the token and this tab's session survive a reload; history is restored
    alice.wait_for_selector("#user:text-is('alice')")
    alice.wait_for_function("() => document.querySelectorAll('.msg').length === 4")
    assert alice.text_content("#session-id") == alice_session
    texts = alice.eval_on_selector_all(".msg .text", "ms => ms.map(m => m.textContent)")
    assert texts[0] == "My VPN is not working" and texts[2] == "What did I report?"
    assert sessions_listed(alice) == [alice_session]

    second_tab = alice_context.new_page()  # signed in already, but a session of its own
    second_tab.goto(app_url)
    second_tab.wait_for_selector("#user:text-is('alice')")
    assert second_tab.text_content("#session-id") not in ("", alice_session)
    assert second_tab.locator(".msg").count() == 0
    chat(second_tab, "A second question")
    second_tab.reload()
    second_tab.wait_for_function("() => document.querySelectorAll('#sessions li').length === 2")
    assert bob_session not in sessions_listed(second_tab)

    bob.reload()
    bob.wait_for_selector("#user:text-is('bob')")
    assert sessions_listed(bob) == [bob_session]
    assert "VPN" not in (bob.text_content("#messages") or "")

    bob.click("#signout")  # a refused or removed token sends the page back to sign-in
    bob.wait_for_selector("#signin-view:not([hidden])")
    bob.fill("#token", "not-a-token")
    bob.click("#signin")
    bob.wait_for_selector("#signin-error:text('not accepted')")

    alice.reload()
    alice.wait_for_function("() => document.querySelectorAll('#sessions li').length === 2")
    alice.wait_for_function("() => document.querySelectorAll('.msg').length === 4")
    shot = os.environ.get("SESSIONMEM_SCREENSHOT") or str(tmp_path / "chat-page.png")
    alice.screenshot(path=shot)
    assert os.path.getsize(shot) > 10_000
    alice_context.close()
    bob_context.close()
