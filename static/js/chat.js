/* The chat page: renders the thread, streams replies over WebSocket (SSE fallback), resumes after reload. */
(function () {
  "use strict";
  const P = window.Parley;
  const { el, icon } = P;

  const chat = document.getElementById("chat");
  if (!chat) return;
  const config = P.readJSON("ui-config") || {};
  const page = P.readJSON("page-data");
  const mode = chat.dataset.mode;
  const conversationId = chat.dataset.conversationId || null;
  const messagesEl = document.getElementById("messages");
  const scroller = document.getElementById("scroller");
  const form = document.getElementById("composer");
  const input = document.getElementById("composer-input");
  const sendBtn = document.getElementById("send-btn");
  const stopBtn = document.getElementById("stop-btn");
  const chipLabel = document.getElementById("model-chip-label");

  // ---------- model and settings ----------
  let model = (page && page.default_model) || localStorage.getItem("parley:model") || config.default_model || "";
  let settings = { system_prompt: (page && page.system_prompt) || "", params: (page && page.params) || {} };
  function showModel() {
    chipLabel.textContent = model || "Choose a model";
  }
  showModel();

  document.addEventListener("click", async (e) => {
    if (e.target.closest("[data-open-picker]")) {
      const picked = await P.pickModels({ multi: false, selected: model ? [model] : [] });
      if (!picked) return;
      model = picked[0];
      localStorage.setItem("parley:model", model);
      showModel();
      if (conversationId) P.api("PATCH", `/api/v1/conversations/${conversationId}/`, { default_model: model }).catch(() => {});
      input.focus();
    }
    if (e.target.closest("[data-open-settings]")) openSettings();
    const suggestion = e.target.closest("[data-suggest]");
    if (suggestion) {
      input.value = suggestion.dataset.suggest;
      autosize();
      input.focus();
    }
  });

  const settingsDialog = document.getElementById("settings-dialog");
  const f = (id) => document.getElementById(id);
  function paramsFromForm() {
    const params = Object.assign({}, settings.params);
    const num = (id, key, parse) => {
      const v = f(id).value.trim();
      if (v === "") delete params[key];
      else params[key] = parse(v);
    };
    num("set-temperature", "temperature", parseFloat);
    num("set-max-tokens", "max_tokens", (v) => parseInt(v, 10));
    num("set-top-p", "top_p", parseFloat);
    const effort = f("set-reasoning").value;
    if (effort) params.reasoning_effort = effort;
    else delete params.reasoning_effort;
    return params;
  }
  function fillSettings(systemPrompt, params) {
    f("set-system").value = systemPrompt || "";
    f("set-temperature").value = params.temperature ?? "";
    f("set-max-tokens").value = params.max_tokens ?? "";
    f("set-top-p").value = params.top_p ?? "";
    f("set-reasoning").value = params.reasoning_effort || "";
  }
  function openSettings() {
    fillSettings(settings.system_prompt, settings.params);
    f("settings-status").textContent = "";
    const presetSel = f("preset-apply");
    if (presetSel) presetSel.value = "";
    settingsDialog.showModal();
  }
  const presetSel = f("preset-apply");
  if (presetSel) {
    presetSel.addEventListener("change", () => {
      const preset = (config.presets || []).find((p) => String(p.id) === presetSel.value);
      if (!preset) return;
      fillSettings(preset.system_prompt, preset.params || {});
      if (preset.model) {
        model = preset.model;
        showModel();
      }
      f("settings-status").textContent = `Preset “${preset.name}” applied: save to keep it.`;
    });
  }
  if (settingsDialog) {
    f("settings-save").addEventListener("click", async () => {
      const next = { system_prompt: f("set-system").value, params: paramsFromForm() };
      if (conversationId) {
        try {
          await P.api("PATCH", `/api/v1/conversations/${conversationId}/`, Object.assign({ default_model: model }, next));
        } catch (err) {
          f("settings-status").textContent = "Not saved: " + err.message;
          return;
        }
      }
      settings = next;
      const badge = document.getElementById("system-badge");
      if (badge) {
        badge.hidden = !next.system_prompt.trim();
        badge.title = next.system_prompt.slice(0, 200);
      }
      settingsDialog.close();
      P.toast("Settings saved");
    });
    f("save-as-preset").addEventListener("click", async () => {
      const name = window.prompt("Name of the new preset");
      if (!name) return;
      try {
        await P.api("POST", "/api/v1/presets/", { name, model, system_prompt: f("set-system").value, params: paramsFromForm() });
        f("settings-status").textContent = `Saved as preset “${name}”.`;
      } catch (err) {
        f("settings-status").textContent = "Preset not saved: " + err.message;
      }
    });
  }

  // ---------- composer ----------
  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 240) + "px";
  }
  input.addEventListener("input", autosize);
  const files = P.composerFiles({ form, input, maxBytes: config.upload_max_bytes || 20 * 1024 * 1024 });
  const micBtn = document.getElementById("mic-btn");
  if (micBtn && config.stt) P.voiceInput({ button: micBtn, input, liveUrl: config.stt.live_url, onChange: autosize });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const content = input.value.trim();
    if (busy) return;
    if (files.pending()) {
      P.toast("Wait a moment: the files are still uploading");
      return;
    }
    if (!content) {
      if (document.querySelector(".composer-file.ready")) P.toast("Add a message to send with the files");
      return;
    }
    if (!model) {
      P.toast("Choose a model first");
      return;
    }
    const taken = files.take();
    input.value = "";
    autosize();
    if (mode === "new") startConversation(content, taken);
    else sendMessage(content, taken);
  });
  stopBtn.addEventListener("click", () => stream && stream.cancel());
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && busy && stream && !document.querySelector("dialog[open]")) stream.cancel();
  });

  let busy = false;
  function setBusy(on) {
    busy = on;
    sendBtn.hidden = on;
    stopBtn.hidden = !on;
  }

  // A new chat exists only once it has a first message: create it, then hand the message to its page.
  async function startConversation(content, taken) {
    setBusy(true);
    try {
      const title = content.replace(/\s+/g, " ").slice(0, 80);
      const conv = await P.api("POST", "/api/v1/conversations/", {
        title,
        default_model: model,
        system_prompt: settings.system_prompt,
        params: settings.params,
      });
      sessionStorage.setItem("parley:pending:" + conv.id, JSON.stringify({ content, model, attachments: files.shown(taken) }));
      window.location.href = `/c/${conv.id}/`;
    } catch (err) {
      setBusy(false);
      input.value = content;
      files.restore(taken);
      P.toast("Could not start the conversation: " + err.message);
    }
  }
  if (mode === "new") return;

  // ---------- thread rendering ----------
  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  const toBottom = () => (scroller.scrollTop = scroller.scrollHeight);

  const when = (iso) => (iso ? new Date(iso).toLocaleString() : null);
  function userBubble(content, createdAt, attachments) {
    return el("div", { class: "msg msg-user", title: when(createdAt) }, P.attachmentList(attachments),
      el("div", { class: "msg-body", text: content }));
  }

  /** One assistant reply on screen; `update*` methods are called as events arrive. */
  class Reply {
    constructor(data) {
      this.data = Object.assign({ content: "", reasoning: "", usage: {}, status: "streaming", citations: [], tool_calls: [] }, data);
      this.node = el("div", { class: "msg msg-assistant", "data-message-id": this.data.id || "", title: when(this.data.created_at) });
      this.head = el("div", { class: "msg-head" });
      this.modelName = el("span", { class: "model-name" });
      this.badge = el("span", { class: "badge", hidden: true });
      this.head.append(icon("cpu"), this.modelName, this.badge);
      this.reasoning = el("details", { class: "reasoning", hidden: true });
      this.reasoningSummary = el("summary", { text: "Reasoning" });
      this.reasoningBody = el("div", { class: "reasoning-body md" });
      this.reasoning.append(this.reasoningSummary, this.reasoningBody);
      this.body = el("div", { class: "msg-body md" });
      this.tools = el("div", { class: "tool-calls", hidden: true });
      this.sources = el("div", { class: "citations", hidden: true });
      this.errorBox = el("div", { class: "msg-error", hidden: true });
      this.meta = el("div", { class: "msg-meta" });
      this.node.append(this.head, this.reasoning, this.tools, this.body, this.sources, this.errorBox, this.meta);
      this.pending = false;
      this.render();
    }
    setId(id) {
      this.data.id = id;
      this.node.dataset.messageId = id;
    }
    schedule() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => {
        this.pending = false;
        const stick = nearBottom();
        this.render();
        if (stick) toBottom();
      });
    }
    render() {
      const d = this.data;
      this.modelName.textContent = d.model || model || "assistant";
      const streaming = d.status === "streaming";
      if (d.content) P.renderMarkdown(this.body, d.content);
      else if (streaming) this.body.replaceChildren(el("span", { class: "typing", "aria-label": "Waiting for the reply" }, el("i"), el("i"), el("i")));
      else this.body.replaceChildren();
      this.body.classList.toggle("cursor", streaming && !!d.content);
      if (d.reasoning) {
        this.reasoning.hidden = false;
        this.reasoningSummary.textContent = streaming && !d.content ? "Thinking…" : "Reasoning";
        P.renderMarkdown(this.reasoningBody, d.reasoning);
      } else this.reasoning.hidden = true;
      const labels = { cancelled: ["Stopped", "badge-warn"], failed: ["Failed", "badge-danger"], interrupted: ["Interrupted", "badge-warn"] };
      const label = labels[d.status];
      this.badge.hidden = !label;
      if (label) {
        this.badge.textContent = label[0];
        this.badge.className = "badge " + label[1];
      }
      this.renderTools();
      this.renderCitations();
      this.renderError();
      this.renderMeta();
    }
    renderTools() {
      const calls = this.data.tool_calls || [];
      this.tools.hidden = !calls.length;
      this.tools.replaceChildren(
        ...calls.map((c) => {
          const args = typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments || {});
          return el("div", { class: "tool-call" }, icon("sliders"), el("code", { text: c.name || "tool" }), el("span", { class: "faint", text: args }));
        })
      );
    }
    renderCitations() {
      const cites = this.data.citations || [];
      this.sources.hidden = !cites.length;
      if (!cites.length) return;
      const list = el("ol");
      for (const c of cites) {
        const url = typeof c === "string" ? c : c && c.url;
        const title = (c && c.title) || url || "";
        const safe = typeof url === "string" && /^https?:\/\//i.test(url);
        list.append(el("li", {}, safe ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow", text: title }) : el("span", { text: title })));
      }
      this.sources.replaceChildren(el("div", { class: "faint", text: "Sources" }), list);
    }
    renderError() {
      const d = this.data;
      if (!d.error || d.status === "streaming") {
        this.errorBox.hidden = true;
        return;
      }
      this.errorBox.hidden = false;
      const text = el("span", { class: "grow", text: d.error });
      const children = [icon("x"), text];
      if (d.status === "failed" || d.status === "interrupted") {
        children.push(el("button", { type: "button", class: "btn btn-sm", "data-retry": "" }, icon("retry"), "Retry"));
      }
      this.errorBox.replaceChildren(...children);
    }
    renderMeta() {
      const d = this.data;
      const u = d.usage || {};
      const parts = [];
      if (u.prompt_tokens != null || u.completion_tokens != null) {
        parts.push(`${u.prompt_tokens ?? 0} in · ${u.completion_tokens ?? 0} out tokens`);
      }
      if (u.reasoning_tokens) parts.push(`${u.reasoning_tokens} reasoning`);
      const cost = P.fmtCost(d.cost ?? u.cost);
      if (cost) parts.push(cost);
      if (d.ttft_ms != null) parts.push("first token " + P.fmtMs(d.ttft_ms));
      if (d.latency_ms != null) parts.push("total " + P.fmtMs(d.latency_ms));
      const items = parts.map((p) => el("span", { text: p }));
      if (d.status !== "streaming" && d.content) {
        items.push(
          el("span", { class: "msg-actions" },
            el("button", { type: "button", class: "btn btn-ghost btn-sm", "data-copy": "", title: "Copy the answer" }, "Copy"),
            el("button", { type: "button", class: "btn btn-ghost btn-sm", "data-regenerate": "", title: "Ask again for another answer" }, icon("retry"), "Regenerate"))
        );
      }
      this.meta.replaceChildren(...items);
      this.meta.hidden = !items.length;
    }
  }

  const replies = new Map(); // message id -> Reply
  const messageList = (page && page.messages) || [];

  function drawThread() {
    messagesEl.replaceChildren();
    replies.clear();
    // Compare siblings (replies to the same user message): show the selected one with a switcher.
    const siblings = new Map();
    for (const m of messageList) {
      if (m.role === "assistant" && m.reply_to) {
        if (!siblings.has(m.reply_to)) siblings.set(m.reply_to, []);
        siblings.get(m.reply_to).push(m);
      }
    }
    for (const m of messageList) {
      if (m.role === "user") messagesEl.append(userBubble(m.content, m.created_at, m.attachments));
      else if (m.role === "assistant") {
        const group = m.reply_to ? siblings.get(m.reply_to) : null;
        if (group && group.length > 1) {
          const shown = group.find((s) => s.selected) || group[0];
          if (m !== shown) continue;
          const reply = new Reply(m);
          replies.set(m.id, reply);
          reply.node.prepend(siblingSwitcher(group, m));
          messagesEl.append(reply.node);
        } else {
          const reply = new Reply(m);
          replies.set(m.id, reply);
          messagesEl.append(reply.node);
        }
      } else if (m.role === "system" && m.content) {
        messagesEl.append(el("div", { class: "notice" }, el("div", { class: "faint", text: "System: " + m.content })));
      }
    }
  }

  function siblingSwitcher(group, current) {
    const bar = el("div", { class: "siblings", role: "tablist", "aria-label": "Answers from different models" },
      el("span", { class: "faint", text: group.length + " answers:" }));
    for (const s of group) {
      bar.append(
        el("button", {
          type: "button",
          class: s === current ? "on" : "",
          role: "tab",
          "aria-selected": s === current ? "true" : "false",
          text: s.model || "answer",
          onclick: async () => {
            if (s === current) return;
            try {
              await selectSibling(s.id);
            } catch (err) {
              P.toast("Could not switch answers: " + err.message);
              return;
            }
            group.forEach((g) => (g.selected = g === s));
            drawThread();
          },
        })
      );
    }
    return bar;
  }

  async function selectSibling(messageId) {
    return P.api("POST", `/api/v1/messages/${messageId}/select/`, {});
  }

  // ---------- streaming transport ----------
  /** Streams one conversation's replies: WebSocket first, SSE when the socket cannot be used. */
  class ConversationStream {
    constructor(id, onEvent) {
      this.id = id;
      this.onEvent = onEvent;
      this.ws = null;
      this.wsReady = null;
      this.wsFailed = false;
      this.generation = null; // {id, lastSeq}
      this.abort = null;
      this.retries = 0;
    }
    connect() {
      if (this.wsFailed || !("WebSocket" in window)) return Promise.resolve(false);
      if (this.ws && this.ws.readyState === WebSocket.OPEN) return Promise.resolve(true);
      if (this.wsReady) return this.wsReady;
      const proto = location.protocol === "https:" ? "wss" : "ws";
      this.wsReady = new Promise((resolve) => {
        let opened = false;
        const ws = new WebSocket(`${proto}://${location.host}/ws/conversations/${this.id}/`);
        const timer = setTimeout(() => !opened && ws.close(), 5000);
        ws.onopen = () => {
          opened = true;
          clearTimeout(timer);
          this.ws = ws;
          this.retries = 0;
          resolve(true);
        };
        ws.onmessage = (msg) => {
          let evt;
          try {
            evt = JSON.parse(msg.data);
          } catch (e) {
            return;
          }
          this.handle(evt);
        };
        ws.onclose = () => {
          clearTimeout(timer);
          this.ws = null;
          this.wsReady = null;
          if (!opened) {
            this.wsFailed = true;
            resolve(false);
            return;
          }
          // The generation goes on without us: reconnect and resume from the last event we saw;
          // after a few failed tries, follow it over SSE instead.
          if (this.retries >= 4) this.wsFailed = true;
          if (this.generation && !this.generation.done) {
            const delay = Math.min(4000, 300 * 2 ** this.retries++);
            setTimeout(() => this.resume(this.generation.id, this.generation.lastSeq), delay);
          }
        };
      });
      return this.wsReady;
    }
    handle(evt) {
      if (!evt || typeof evt !== "object") return;
      if (evt.type === "error" && evt.seq === undefined && !evt.local) {
        // A refused frame (bad model, another reply running…): the reply it asked for never starts.
        if (this.awaitingStart) {
          this.awaitingStart = false;
          this.onEvent(evt);
          this.onEvent({ type: "done", status: "failed", local: true });
        } else P.toast(evt.message || evt.code);
        return;
      }
      if (typeof evt.seq === "number") this.awaitingStart = false;
      if (evt.type === "start" && evt.generation_id) {
        this.generation = { id: evt.generation_id, lastSeq: evt.seq || 0, done: false };
      } else if (this.generation && typeof evt.seq === "number") {
        if (evt.generation_id && evt.generation_id !== this.generation.id) return this.onEvent(evt);
        if (evt.seq <= this.generation.lastSeq) return; // a replayed event we already have
        this.generation.lastSeq = evt.seq;
      }
      if (evt.type === "done" && this.generation) this.generation.done = true;
      this.onEvent(evt);
    }
    async send(content, chosenModel, attachments) {
      this.generation = null;
      this.awaitingStart = true;
      const frame = { content, model: chosenModel, attachments: attachments || [] };
      if (await this.connect()) {
        this.ws.send(JSON.stringify(Object.assign({ type: "send" }, frame)));
        return;
      }
      await this.sse(`/api/v1/conversations/${this.id}/completions/`, "POST", frame);
    }
    async resume(generationId, after) {
      this.generation = { id: generationId, lastSeq: after || 0, done: false };
      this.awaitingStart = true;
      if (await this.connect()) {
        this.ws.send(JSON.stringify({ type: "resume", generation_id: generationId, after: after || 0 }));
        return;
      }
      await this.sse(`/api/v1/generations/${generationId}/stream/?after=${after || 0}`, "GET");
    }
    async retry(chosenModel) {
      this.generation = null;
      const q = chosenModel ? "?model=" + encodeURIComponent(chosenModel) : "";
      await this.sse(`/api/v1/conversations/${this.id}/stream/${q}`, "GET");
    }
    async sse(url, method, body) {
      this.abort = new AbortController();
      try {
        await P.streamSSE(url, { method, body, signal: this.abort.signal, onEvent: (e) => this.handle(e) });
      } catch (err) {
        if (err.name === "AbortError") return;
        this.onEvent({ type: "error", code: err.code || "request_failed", message: err.message, retryable: true, local: true });
        this.onEvent({ type: "done", status: "failed", local: true });
      }
    }
    async cancel() {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send(JSON.stringify({ type: "cancel" }));
        return;
      }
      if (this.generation) {
        try {
          await P.api("POST", `/api/v1/generations/${this.generation.id}/cancel/`, {});
        } catch (err) {
          P.toast("Could not stop: " + err.message);
        }
      }
    }
  }

  let current = null; // the Reply being streamed
  let replaceOnReplay = false;
  // A send the server has not accepted yet: refused for its attachments, it goes back into the composer.
  let unconfirmed = null;
  const ATTACHMENT_REFUSALS = new Set(["unsupported_attachment", "invalid_attachment", "attachment_in_use"]);
  const stream = new ConversationStream(conversationId, (evt) => {
    if (unconfirmed && evt.type === "error" && ATTACHMENT_REFUSALS.has(evt.code)) {
      const refused = unconfirmed;
      unconfirmed = null;
      refused.bubble.remove();
      if (current) current.node.remove();
      current = null;
      setBusy(false);
      if (!input.value.trim()) input.value = refused.content;
      autosize();
      files.restore(refused.taken);
      P.toast(evt.message || evt.code);
      input.focus();
      return;
    }
    if (evt.type === "start") unconfirmed = null;
    if (!current) {
      if (evt.type !== "start") return;
      current = new Reply({ status: "streaming", model: evt.model });
      messagesEl.append(current.node);
    }
    const d = current.data;
    switch (evt.type) {
      case "start":
        if (evt.message_id) {
          current.setId(evt.message_id);
          replies.set(evt.message_id, current);
        }
        if (evt.model) d.model = evt.model;
        d.status = "streaming";
        setBusy(true);
        break;
      case "content":
        if (replaceOnReplay) {
          d.content = "";
          replaceOnReplay = false;
        }
        d.content += evt.content || "";
        break;
      case "reasoning":
        if (replaceOnReplay) {
          d.content = "";
          d.reasoning = "";
          replaceOnReplay = false;
        }
        d.reasoning += evt.reasoning || "";
        break;
      case "citations":
        d.citations = evt.citations || [];
        break;
      case "tool_call":
        d.tool_calls = (d.tool_calls || []).filter((c) => c.id !== evt.id).concat([{ id: evt.id, name: evt.name, arguments: evt.arguments }]);
        break;
      case "usage":
        d.usage = Object.assign({}, d.usage, evt);
        if (evt.cost != null) d.cost = evt.cost;
        break;
      case "error":
        d.error = evt.message || evt.code || "The provider failed";
        d.error_code = evt.code;
        break;
      case "done":
        d.status = evt.status || "complete";
        if (evt.latency_ms != null) d.latency_ms = evt.latency_ms;
        if (evt.ttft_ms != null) d.ttft_ms = evt.ttft_ms;
        if (evt.message_id && !d.id) current.setId(evt.message_id);
        if (d.status === "cancelled" && !d.error) d.error = "";
        current.render();
        if (nearBottom()) toBottom();
        current = null;
        replaceOnReplay = false;
        setBusy(false);
        input.focus();
        return;
      default:
        return;
    }
    current.schedule();
  });

  function sendMessage(content, taken, shownAttachments) {
    taken = taken || [];
    const bubble = userBubble(content, null, shownAttachments || files.shown(taken));
    messagesEl.append(bubble);
    unconfirmed = { content, taken, bubble };
    current = new Reply({ status: "streaming", model });
    messagesEl.append(current.node);
    toBottom();
    setBusy(true);
    const ids = shownAttachments ? shownAttachments.map((a) => a.id) : files.ids(taken);
    stream.send(content, model, ids).catch((err) => {
      stream.onEvent({ type: "error", message: err.message });
      stream.onEvent({ type: "done", status: "failed" });
    });
  }

  messagesEl.addEventListener("click", (e) => {
    const copy = e.target.closest("[data-copy]");
    if (copy) {
      const reply = replies.get(copy.closest(".msg-assistant").dataset.messageId);
      if (reply && navigator.clipboard) navigator.clipboard.writeText(reply.data.content).then(() => P.toast("Copied"));
      return;
    }
    const btn = e.target.closest("[data-retry], [data-regenerate]");
    if (!btn || busy) return;
    const node = btn.closest(".msg-assistant");
    const failed = node && replies.get(node.dataset.messageId);
    const retryModel = (failed && failed.data.model) || model;
    current = new Reply({ status: "streaming", model: retryModel });
    messagesEl.append(current.node);
    toBottom();
    setBusy(true);
    stream.retry(retryModel);
  });

  document.addEventListener("parley:renamed", (e) => {
    if (e.detail.id === conversationId) {
      document.getElementById("conv-title").textContent = e.detail.title || "New chat";
      document.title = (e.detail.title || "Conversation") + " · Parley";
    }
  });
  const renameBtn = document.getElementById("rename-current");
  if (renameBtn) {
    renameBtn.addEventListener("click", async () => {
      const title = window.prompt("Rename conversation", document.getElementById("conv-title").textContent.trim());
      if (title && title.trim()) {
        try {
          await P.renameConversation(conversationId, title.trim());
        } catch (err) {
          P.toast("Rename failed: " + err.message);
        }
      }
    });
  }

  // ---------- start-up: draw, resume a running reply, or send the message handed over by "New chat" ----------
  drawThread();
  toBottom();
  const running = messageList.filter((m) => m.role === "assistant" && m.status === "streaming" && m.generation_id);
  const last = running[running.length - 1];
  if (last) {
    current = replies.get(last.id);
    // Replay the generation from its first event: the stored text may lag behind the live stream.
    replaceOnReplay = true;
    setBusy(true);
    stream.resume(last.generation_id, 0);
  } else {
    const key = "parley:pending:" + conversationId;
    const pending = sessionStorage.getItem(key);
    if (pending) {
      sessionStorage.removeItem(key);
      const { content, model: pendingModel, attachments } = JSON.parse(pending);
      if (pendingModel) {
        model = pendingModel;
        showModel();
      }
      sendMessage(content, [], attachments || []);
    } else {
      stream.connect();
    }
  }
  input.focus();
})();
