// The sessionmem chat page: sign in with a token, one session per tab, replies streamed (SSE).
"use strict";

const TOKEN_KEY = "sessionmem.token";      // localStorage: every tab of this browser signs in once
const SESSION_KEY = "sessionmem.session";  // sessionStorage: each tab keeps its own session

const $ = (id) => document.getElementById(id);
let token = localStorage.getItem(TOKEN_KEY);
let sessionId = null;
let busy = false;

function newSessionId() {
  const random = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2));
  return "chat-" + random.replaceAll("-", "").slice(0, 12);
}

async function api(path, options = {}) {
  const headers = { Authorization: "Bearer " + token, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) { signOut("Your token was refused: sign in again."); throw new Error("unauthorized"); }
  return response;
}

async function problemText(response) {
  try { const p = await response.json(); return p.detail || p.title || response.statusText; }
  catch { return response.status + " " + response.statusText; }
}

function textOf(chunk) {
  if (typeof chunk === "string") return chunk;
  const content = chunk && chunk.data ? chunk.data.content : chunk && chunk.content;
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((b) => (typeof b === "string" ? b : b.text || "")).join("");
  return "";
}

function addMessage(kind, text) {
  const item = document.createElement("li");
  item.className = "msg " + kind;
  const role = document.createElement("span");
  role.className = "role";
  role.textContent = kind === "human" ? "you" : kind === "ai" ? "assistant" : kind;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  item.append(role, body);
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
  return body;
}

function showError(text) { $("chat-error").textContent = text || ""; }

async function loadSessions() {
  const response = await api("sessions");
  if (!response.ok) { showError(await problemText(response)); return; }
  const list = $("sessions");
  list.replaceChildren();
  for (const s of await response.json()) {
    const item = document.createElement("li");
    item.dataset.session = s.session_id;
    if (s.session_id === sessionId) item.classList.add("current");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = s.session_id;
    const meta = document.createElement("small");
    meta.textContent = s.message_count + " messages · " + new Date(s.updated_at).toLocaleString();
    button.append(meta);
    button.addEventListener("click", () => openSession(s.session_id));
    item.append(button);
    list.append(item);
  }
}

async function openSession(id) {
  sessionId = id;
  sessionStorage.setItem(SESSION_KEY, id);
  $("session-id").textContent = id;
  $("messages").replaceChildren();
  showError("");
  const response = await api("sessions/" + encodeURIComponent(id) + "/messages?last=200");
  if (response.ok) {
    for (const m of await response.json()) addMessage(m.type === "human" ? "human" : "ai", textOf(m));
  } else if (response.status !== 404) {  // 404: a new session, nothing stored yet
    showError(await problemText(response));
  }
  for (const item of $("sessions").children) item.classList.toggle("current", item.dataset.session === id);
}

function parseEvent(raw) {
  let name = "message", data = "";
  for (const line of raw.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  return { name, data: data ? JSON.parse(data) : null };
}

async function send(text) {
  busy = true;
  $("send").disabled = true;
  showError("");
  addMessage("human", text);
  const reply = addMessage("ai", "");
  reply.parentElement.classList.add("streaming");
  try {
    const response = await api("sessions/" + encodeURIComponent(sessionId) + "/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ input: text }),
    });
    if (!response.ok) { showError(await problemText(response)); reply.parentElement.remove(); return; }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (event.name === "data") { reply.textContent += textOf(event.data); reply.scrollIntoView({ block: "end" }); }
        else if (event.name === "error") showError(event.data.detail || "the reply failed");
      }
    }
  } catch (error) {
    if (error.message !== "unauthorized") showError("the connection failed: " + error.message);
  } finally {
    reply.parentElement.classList.remove("streaming");
    busy = false;
    $("send").disabled = false;
    if (token) loadSessions();
  }
}

function signOut(message) {
  token = null;
  localStorage.removeItem(TOKEN_KEY);
  $("chat-view").hidden = true;
  $("signin-view").hidden = false;
  $("signin-error").textContent = message || "";
}

async function start() {
  const response = await fetch("me", { headers: { Authorization: "Bearer " + token } });
  if (!response.ok) { signOut("That token was not accepted."); return; }
  localStorage.setItem(TOKEN_KEY, token);
  $("user").textContent = (await response.json()).user_id;
  $("signin-view").hidden = true;
  $("chat-view").hidden = false;
  await loadSessions();
  await openSession(sessionStorage.getItem(SESSION_KEY) || newSessionId());
  $("input").focus();
}

$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("token").value.trim();
  $("token").value = "";
  start();
});
$("signout").addEventListener("click", () => signOut(""));
$("new-chat").addEventListener("click", () => { openSession(newSessionId()); $("input").focus(); });
$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("input").value.trim();
  if (!text || busy) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
});

if (token) start(); else signOut("");
