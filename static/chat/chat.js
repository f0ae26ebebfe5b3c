/*
 * The chat page: the seed's Session Resume Flow on the public API and WebSocket.
 *
 *   log in (POST /auth/login) -> unresolved sessions (GET /api/users/{id}/sessions)
 *   -> resume one with its history (POST /api/sessions/{id}/resume) or start one (POST
 *   /api/sessions) -> chat live over /ws/chat/ (frames {"event", "data"}).
 *
 * Security choices:
 * - Tokens live in sessionStorage: they survive a reload of this tab (so a reload does not
 *   log the user out) but not the tab itself, and other tabs and later visits never see them.
 *   localStorage would keep a bank token on disk until someone logs out. Script on the page
 *   could read either; the strict CSP this page is built for is the defence against that.
 * - The WebSocket token goes in the first frame ({"event": "auth"}), never in the URL, so no
 *   proxy or server access log can record it.
 * - Text from users, staff and the bot is only ever set with textContent.
 */
(function () {
  "use strict";

  const AUTH_KEY = "chat.auth";
  const $ = (id) => document.getElementById(id);

  // --- auth state (sessionStorage) -----------------------------------------------------------
  const auth = {
    load() {
      try {
        return JSON.parse(sessionStorage.getItem(AUTH_KEY)) || null;
      } catch (err) {
        return null;
      }
    },
    save(value) {
      sessionStorage.setItem(AUTH_KEY, JSON.stringify(value));
    },
    clear() {
      sessionStorage.removeItem(AUTH_KEY);
    },
  };

  const state = {
    user: null, // {userId, token, refreshToken}
    session: null, // the session JSON being shown
    rendered: new Map(), // message_id -> <li>
    pending: new Map(), // clientMessageId -> {li, sessionId, content, type}
    lastSeq: 0,
  };

  // --- HTTP ----------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && body.error) || {};
      super(error.message || `Request failed (${status})`);
      this.status = status;
      this.code = error.code || "error";
    }
  }

  let refreshing = null;

  async function refreshTokens() {
    // One refresh at a time: the refresh token rotates, so a second parallel call would fail.
    if (!refreshing) {
      refreshing = (async () => {
        const current = state.user;
        if (!current || !current.refreshToken) return false;
        const res = await fetch("/auth/refresh", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refreshToken: current.refreshToken }),
          credentials: "omit",
        });
        if (!res.ok) return false;
        const body = await res.json();
        setUser({ userId: current.userId, token: body.token, refreshToken: body.refreshToken });
        return true;
      })().finally(() => {
        refreshing = null;
      });
    }
    return refreshing;
  }

  async function api(method, path, body, retried) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.user) headers.Authorization = `Bearer ${state.user.token}`;
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
    });
    if (res.status === 401 && state.user && !retried) {
      if (await refreshTokens()) return api(method, path, body, true);
      logout("Your session has ended. Please log in again.");
      throw new ApiError(401, null);
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (err) {
      // A proxy's HTML error page, say: report the status, not a parser message.
      if (res.ok) throw new ApiError(res.status, null);
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  // --- small DOM helpers ---------------------------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function show(id, message) {
    const node = $(id);
    if (message !== undefined) node.textContent = message;
    node.hidden = false;
  }

  function hide(id) {
    $(id).hidden = true;
  }

  function showView(name) {
    for (const view of ["login-view", "sessions-view", "chat-view"]) {
      $(view).hidden = view !== name;
    }
    hide("loading");
  }

  function when(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    const sameDay = date.toDateString() === new Date().toDateString();
    return sameDay
      ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return `c-${Date.now()}-${Math.random().toString(16).slice(2)}`;
  }

  // --- login / logout ------------------------------------------------------------------------
  function setUser(user) {
    state.user = user;
    if (user) {
      auth.save(user);
      $("user-name").textContent = user.userId;
      $("account").hidden = false;
    } else {
      auth.clear();
      $("account").hidden = true;
    }
  }

  async function login(event) {
    event.preventDefault();
    hide("login-error");
    const button = $("login-button");
    button.disabled = true;
    try {
      const body = await api("POST", "/auth/login", {
        username: $("username").value.trim(),
        password: $("password").value,
      });
      $("password").value = "";
      setUser({ userId: body.user.userId, token: body.token, refreshToken: body.refreshToken });
      socket.start();
      await showSessions();
    } catch (err) {
      show(
        "login-error",
        err.status === 401 ? "Wrong username or password." : err.message || "Could not log in."
      );
    } finally {
      button.disabled = false;
    }
  }

  function logout(message) {
    const user = state.user;
    if (user && user.refreshToken) {
      // Revoke the refresh token; nothing to wait for, the page forgets it either way.
      fetch("/auth/logout", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${user.token}` },
        body: JSON.stringify({ refreshToken: user.refreshToken }),
        credentials: "omit",
      }).catch(() => {});
    }
    setUser(null);
    socket.stop();
    state.session = null;
    showView("login-view");
    if (message) show("login-error", message);
    $("username").focus();
  }

  // --- unresolved sessions -------------------------------------------------------------------
  async function showSessions() {
    state.session = null;
    hide("sessions-error");
    showView("sessions-view");
    const list = $("session-list");
    list.replaceChildren();
    try {
      const userId = encodeURIComponent(state.user.userId);
      const body = await api("GET", `/api/users/${userId}/sessions?type=unresolved&limit=10`);
      $("sessions-empty").hidden = body.sessions.length > 0;
      $("sessions-intro").hidden = body.sessions.length === 0;
      for (const session of body.sessions) list.append(sessionItem(session));
    } catch (err) {
      if (err.status !== 401) show("sessions-error", err.message);
    }
  }

  function sessionItem(session) {
    const item = el("li");
    item.dataset.sessionId = session.sessionId;
    const summary = el("div", "summary");
    const title = el("div");
    title.append(el("span", `status ${session.status}`, session.status), " ");
    title.append(el("span", "when", `${when(session.lastActivity)} · ${session.messageCount} messages`));
    const last = (session.recentMessages || []).slice(-1)[0];
    summary.append(title, el("div", "preview", last ? last.content : "No messages yet"));
    const resume = el("button", "secondary resume", "Resume");
    resume.type = "button";
    resume.addEventListener("click", () => resumeSession(session.sessionId, resume));
    item.append(summary, resume);
    return item;
  }

  async function resumeSession(sessionId, button) {
    button.disabled = true;
    try {
      const body = await api("POST", `/api/sessions/${encodeURIComponent(sessionId)}/resume`);
      openChat(body.session, body.history);
    } catch (err) {
      if (err.status !== 401) show("sessions-error", err.message);
      button.disabled = false;
    }
  }

  async function newSession() {
    const button = $("new-session");
    button.disabled = true;
    try {
      const session = await api("POST", "/api/sessions", { metadata: { channel: "web" } });
      openChat(session, []);
    } catch (err) {
      if (err.status !== 401) show("sessions-error", err.message);
    } finally {
      button.disabled = false;
    }
  }

  // --- the conversation ----------------------------------------------------------------------
  function openChat(session, history) {
    state.session = session;
    state.rendered.clear();
    state.pending.clear();
    state.lastSeq = 0;
    $("messages").replaceChildren();
    $("quick-replies").replaceChildren();
    hide("chat-error");
    hide("typing");
    showView("chat-view");
    $("session-label").textContent = `Conversation ${session.sessionId.slice(0, 8)}`;
    updateSession(session);
    for (const message of history) renderMessage(message);
    const last = history[history.length - 1];
    if (last && last.direction === "outgoing") showQuickReplies(last);
    socket.join(session.sessionId);
    $("message-input").focus();
  }

  function updateSession(session) {
    if (!state.session || session.sessionId !== state.session.sessionId) return;
    state.session = session;
    const badge = $("session-status");
    badge.className = `status ${session.status}`;
    badge.textContent = session.status;
    $("handoff-banner").hidden = session.status !== "pending";
    const closed = session.status === "resolved" || session.status === "terminated";
    $("closed-banner").hidden = !closed;
    $("message-input").disabled = closed;
    $("send").disabled = closed;
    if (closed) $("quick-replies").replaceChildren();
  }

  function senderOf(message) {
    if (message.direction === "incoming") return "You";
    const info = message.agent_info || {};
    if (info.primary === "human") return `${info.staff || "Support"} (support team)`;
    return "Assistant";
  }

  function messageItem(message) {
    const staff = message.agent_info && message.agent_info.primary === "human";
    const item = el("li", `message ${message.direction}${staff ? " staff" : ""}`);
    item.append(el("div", "bubble", message.content));
    item.append(el("div", "meta", `${senderOf(message)} · ${when(message.created_at)}`));
    return item;
  }

  // Insert in sequence order; messages still being sent (no number yet) stay at the end.
  function place(item, seq) {
    const list = $("messages");
    item.dataset.seq = String(seq);
    let before = null;
    for (const child of list.children) {
      const childSeq = Number(child.dataset.seq || Infinity);
      if (childSeq > seq) {
        before = child;
        break;
      }
    }
    list.insertBefore(item, before);
  }

  function renderMessage(message) {
    if (!state.session || message.session_id !== state.session.sessionId) return;
    if (state.rendered.has(message.message_id)) return;
    const mine = message.client_message_id && state.pending.get(message.client_message_id);
    let item;
    if (mine) {
      item = mine.li;
      item.classList.remove("sending", "failed");
      item.querySelector(".meta").textContent = `You · ${when(message.created_at)}`;
      state.pending.delete(message.client_message_id);
    } else {
      item = messageItem(message);
    }
    state.rendered.set(message.message_id, item);
    state.lastSeq = Math.max(state.lastSeq, message.sequence_number);
    place(item, message.sequence_number);
    scrollDown();
  }

  function scrollDown() {
    const list = $("messages");
    list.scrollTop = list.scrollHeight;
  }

  function showQuickReplies(reply) {
    const box = $("quick-replies");
    box.replaceChildren();
    const replies = (reply && reply.metadata && reply.metadata.quickReplies) || [];
    for (const text of replies.slice(0, 6)) {
      if (typeof text !== "string" || !text) continue;
      const button = el("button", "secondary quick-reply", text);
      button.type = "button";
      button.addEventListener("click", () => send(text, "quick_reply"));
      box.append(button);
    }
  }

  function send(content, type) {
    const text = content.trim();
    if (!text || !state.session) return;
    hide("chat-error");
    const clientMessageId = newId();
    const item = messageItem({
      direction: "incoming",
      content: text,
      created_at: new Date().toISOString(),
    });
    item.classList.add("sending");
    item.querySelector(".meta").textContent = "You · sending…";
    $("messages").append(item);
    scrollDown();
    state.pending.set(clientMessageId, {
      li: item,
      sessionId: state.session.sessionId,
      content: text,
      type: type || "text",
    });
    $("quick-replies").replaceChildren();
    typing.stop();
    socket.sendMessage(clientMessageId);
    if (state.session.status !== "pending") showTyping("Assistant is typing…");
  }

  function onSubmit(event) {
    event.preventDefault();
    const input = $("message-input");
    const text = input.value;
    if (!text.trim()) return;
    input.value = "";
    send(text, "text");
    input.focus();
  }

  function markFailed(clientMessageId, message, retryable) {
    const pending = state.pending.get(clientMessageId);
    hide("typing");
    show("chat-error", message);
    if (!pending) return;
    pending.li.classList.remove("sending");
    pending.li.classList.add("failed");
    pending.li.querySelector(".meta").textContent = "Not sent";
    if (pending.li.querySelector(".retry")) return;
    if (!retryable) {
      state.pending.delete(clientMessageId);
      return;
    }
    const retry = el("button", "link retry", "Try again");
    retry.type = "button";
    retry.addEventListener("click", () => {
      retry.remove();
      pending.li.classList.remove("failed");
      pending.li.classList.add("sending");
      // The same clientMessageId: if the first try was stored after all, nothing doubles.
      socket.sendMessage(clientMessageId);
    });
    pending.li.append(retry);
  }

  function showTyping(text) {
    show("typing", text);
  }

  // --- typing indicator (ours, to the server) ------------------------------------------------
  const typing = {
    active: false,
    timer: null,
    poke() {
      if (!state.session || !socket.ready) return;
      if (!this.active) {
        this.active = true;
        socket.frame("chat:typing", { sessionId: state.session.sessionId, isTyping: true });
      }
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.stop(), 2500);
    },
    stop() {
      clearTimeout(this.timer);
      if (this.active && state.session && socket.ready) {
        socket.frame("chat:typing", { sessionId: state.session.sessionId, isTyping: false });
      }
      this.active = false;
    },
  };

  // --- the WebSocket -------------------------------------------------------------------------
  const socket = {
    ws: null,
    ready: false,
    wanted: false,
    retries: 0,
    joined: null,

    start() {
      this.wanted = true;
      if (!this.ws) this.connect();
    },

    stop() {
      this.wanted = false;
      this.ready = false;
      this.joined = null;
      if (this.ws) this.ws.close(1000);
      this.ws = null;
      setConnection("");
    },

    connect() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${scheme}//${location.host}/ws/chat/`);
      this.ws = ws;
      this.ready = false;
      setConnection("connecting…");
      ws.addEventListener("open", () => {
        ws.send(JSON.stringify({ event: "auth", data: { token: state.user.token } }));
      });
      ws.addEventListener("message", (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (err) {
          return;
        }
        if (frame && typeof frame.event === "string") onEvent(frame.event, frame.data || {});
      });
      ws.addEventListener("close", (event) => this.closed(ws, event.code));
    },

    async closed(ws, code) {
      if (ws !== this.ws) return;
      this.ws = null;
      this.ready = false;
      if (!this.wanted || !state.user) return;
      setConnection("reconnecting…", false);
      if (code === 4001 && !(await refreshTokens())) {
        logout("Your session has ended. Please log in again.");
        return;
      }
      // Back off 1, 2, 4 ... 15 s so a restarting server is not hammered.
      const delay = Math.min(15000, 1000 * 2 ** this.retries);
      this.retries += 1;
      setTimeout(() => {
        if (this.wanted && !this.ws) this.connect();
      }, delay);
    },

    authenticated() {
      this.ready = true;
      this.retries = 0;
      this.joined = null;
      setConnection("connected", true);
      if (state.session) this.join(state.session.sessionId);
      // Anything not acknowledged before the connection dropped is sent again (same ids).
      for (const clientMessageId of state.pending.keys()) this.sendMessage(clientMessageId);
    },

    frame(event, data) {
      if (this.ready && this.ws) this.ws.send(JSON.stringify({ event, data }));
    },

    join(sessionId) {
      if (!this.ready) return; // authenticated() joins once the socket is up
      this.joined = sessionId;
      this.frame("session:join", { sessionId });
      // Whatever arrived between the history we have and the join (or while disconnected).
      this.frame("chat:history", { sessionId, afterSeq: state.lastSeq, limit: 100 });
    },

    sendMessage(clientMessageId) {
      const pending = state.pending.get(clientMessageId);
      if (!pending || !this.ready) return; // sent on reconnect
      this.frame("chat:message", {
        sessionId: pending.sessionId,
        content: pending.content,
        type: pending.type,
        clientMessageId,
      });
    },
  };

  function setConnection(text, online) {
    const node = $("connection");
    node.textContent = text;
    node.className = `connection${online === true ? " online" : online === false ? " offline" : ""}`;
  }

  function onEvent(event, data) {
    switch (event) {
      case "auth:ok":
        socket.authenticated();
        break;
      case "chat:ack":
        // Stored: the message has its number now; chat:response carries the full rows.
        break;
      case "chat:response":
        hide("typing");
        renderMessage(data.message);
        if (data.response) {
          renderMessage(data.response);
          showQuickReplies(data.response);
        }
        break;
      case "chat:message":
        if (data.message) {
          renderMessage(data.message);
          if (data.message.direction === "outgoing") {
            hide("typing");
            showQuickReplies(data.message);
          }
        }
        break;
      case "chat:history":
        for (const message of data.messages || []) renderMessage(message);
        if (data.hasMore && state.session && data.sessionId === state.session.sessionId) {
          socket.frame("chat:history", {
            sessionId: data.sessionId,
            afterSeq: state.lastSeq,
            limit: 100,
          });
        }
        break;
      case "chat:typing":
        if (state.session && data.sessionId === state.session.sessionId) {
          if (data.isTyping && state.user && data.userId !== state.user.userId) {
            showTyping(`${data.userId} is typing…`);
          } else {
            hide("typing");
          }
        }
        break;
      case "session:updated":
        if (data.session) updateSession(data.session);
        break;
      case "error":
        if (data.clientMessageId) {
          markFailed(data.clientMessageId, data.message || "Not sent", data.retryable);
        } else if (data.code !== "not_joined") {
          show("chat-error", data.message || "Something went wrong");
        }
        break;
      default:
        break;
    }
  }

  // --- start ---------------------------------------------------------------------------------
  function start() {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", () => logout());
    $("new-session").addEventListener("click", newSession);
    $("back").addEventListener("click", () => {
      typing.stop();
      showSessions();
    });
    $("composer").addEventListener("submit", onSubmit);
    $("message-input").addEventListener("input", () => typing.poke());
    $("message-input").addEventListener("keydown", (event) => {
      // Enter sends, Shift+Enter starts a new line.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) onSubmit(event);
    });

    const saved = auth.load();
    if (saved && saved.token && saved.userId) {
      setUser(saved);
      socket.start();
      showSessions();
    } else {
      showView("login-view");
      $("username").focus();
    }
  }

  start();
})();
