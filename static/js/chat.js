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
  let model = (page && page.default_model) || config.user_default_model || localStorage.getItem("parley:model") || config.default_model || "";
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

  // ---------- tools (SPEC §7): which MCP tools this chat offers the model, and whether each call asks first ----------
  const toolsDialog = f("tools-dialog");
  const toolsBtn = f("tools-btn");
  let toolServers = null; // the usable servers, from GET /api/v1/mcp/servers/ once loaded
  const chosenTools = () => (Array.isArray(settings.params.tools) ? settings.params.tools : []);
  async function loadToolServers() {
    const listed = P.results(await P.api("GET", "/api/v1/mcp/servers/"));
    // Disabled servers cannot be offered; a user's own server wins a name it shares with a shared one.
    const byName = new Map();
    for (const server of listed) {
      if (!server.enabled) continue;
      if (!byName.has(server.name) || !server.shared) byName.set(server.name, server);
    }
    toolServers = Array.from(byName.values()).sort((a, b) => a.name.localeCompare(b.name));
    return toolServers;
  }
  function countTools(specs) {
    let count = 0;
    for (const spec of specs) {
      const [serverName, tool] = String(spec).split("/");
      const server = toolServers && toolServers.find((s) => s.name === serverName);
      count += tool === "*" && server ? server.tools.length : 1;
    }
    return count;
  }
  function showToolCount() {
    if (!toolsBtn) return;
    const specs = chosenTools();
    const count = countTools(specs);
    const badge = f("tools-count");
    badge.hidden = !count;
    badge.textContent = count ? String(count) : "";
    const ask = settings.params.tool_approval === "ask" ? ", asks before each call" : "";
    const label = count ? `Tools: ${count} on${ask}` : "Tools: none on";
    toolsBtn.setAttribute("aria-label", label);
    toolsBtn.title = label;
    toolsBtn.classList.toggle("on", !!count);
  }
  function toolCheckbox(value, checked, labelChildren, extra) {
    // The label wraps its checkbox: no ids to build from (untrusted) tool names.
    const box = el("input", Object.assign({ type: "checkbox", value, checked }, extra || {}));
    return el("label", { class: "tool-option" }, box, ...labelChildren);
  }
  function drawToolServers() {
    const list = f("tools-servers");
    const chosen = new Set(chosenTools());
    if (!toolServers.length) {
      list.replaceChildren(el("p", { class: "faint", text: "No MCP servers yet: add one on the Tools page." }));
      return;
    }
    list.replaceChildren(...toolServers.map((server) => {
      const all = chosen.has(server.name + "/*");
      const allBox = toolCheckbox(server.name + "/*", all, [el("strong", { text: "All tools" }),
        el("span", { class: "faint", text: ` (${server.tools.length})` })], { "data-all": "" });
      const tools = el("ul", { class: "tool-options" }, ...server.tools.map((tool) => el("li", {},
        toolCheckbox(`${server.name}/${tool.name}`, all || chosen.has(`${server.name}/${tool.name}`),
          [el("code", { text: tool.name }), tool.description ? el("span", { class: "faint tool-desc", text: tool.description }) : null],
          { disabled: all, "data-tool": "" }))));
      const legend = el("legend", {}, el("span", { text: server.name }),
        server.shared ? el("span", { class: "badge badge-accent", text: "shared" }) : null,
        server.status === "error" ? el("span", { class: "badge badge-danger", title: server.error || "", text: "error" }) : null);
      const set = el("fieldset", { class: "tools-server", "data-tools-server": server.name }, legend);
      if (server.tools.length) set.append(allBox, tools);
      else set.append(el("p", { class: "faint", text: "No tools listed: check the server on the Tools page." }));
      return set;
    }));
  }
  async function openTools() {
    f("tools-status").textContent = "";
    f("tools-approval").value = settings.params.tool_approval === "ask" ? "ask" : "auto";
    toolsDialog.showModal();
    try {
      await loadToolServers();
      drawToolServers();
    } catch (err) {
      f("tools-servers").replaceChildren(el("p", { class: "msg-error", text: "Could not load the tool servers: " + err.message }));
    }
  }
  if (toolsDialog) {
    f("tools-servers").addEventListener("change", (e) => {
      const all = e.target.closest("[data-all]");
      if (!all) return;
      const set = all.closest("fieldset");
      for (const box of set.querySelectorAll("[data-tool]")) {
        box.disabled = all.checked;
        box.checked = all.checked;
      }
    });
    f("tools-save").addEventListener("click", async () => {
      const specs = [];
      for (const set of f("tools-servers").querySelectorAll("fieldset")) {
        const all = set.querySelector("[data-all]");
        if (all && all.checked) specs.push(all.value);
        else for (const box of set.querySelectorAll("[data-tool]:checked")) specs.push(box.value);
      }
      const params = Object.assign({}, settings.params);
      if (specs.length) params.tools = specs;
      else delete params.tools;
      if (f("tools-approval").value === "ask") params.tool_approval = "ask";
      else delete params.tool_approval;
      if (conversationId) {
        try {
          await P.api("PATCH", `/api/v1/conversations/${conversationId}/`, { params });
        } catch (err) {
          f("tools-status").textContent = "Not saved: " + err.message;
          return;
        }
      }
      settings.params = params;
      showToolCount();
      toolsDialog.close();
      P.toast(specs.length ? `Tools saved: ${countTools(specs)} on` : "Tools off for this chat");
      toolsBtn.focus();
    });
    document.addEventListener("click", (e) => {
      if (e.target.closest("[data-open-tools]")) openTools();
    });
    showToolCount();
    if (chosenTools().some((spec) => String(spec).endsWith("/*"))) loadToolServers().then(showToolCount).catch(() => {});
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
  if (mode === "new") {
    input.focus(); // a new chat starts in the composer
    return;
  }

  // ---------- the tree (SPEC §8): every message of the conversation, the branch shown is the selected path ----------
  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  const toBottom = () => (scroller.scrollTop = scroller.scrollHeight);
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : null);
  const shortWhen = (iso) => (iso ? new Date(iso).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "");

  /** Messages as the page and the API give them, normalised: citations and tool calls out of metadata, fused marked. */
  function normalise(m) {
    const meta = m.metadata || {};
    return Object.assign({}, m, {
      parent_id: m.parent_id === undefined ? m.reply_to || null : m.parent_id,
      citations: m.citations || meta.citations || [],
      tool_calls: P.storedToolCalls(m.tool_calls || meta.tool_calls, m.tool_results || meta.tool_results)
        .map((c) => (toolAnswers.has(c.id) ? Object.assign(c, { approval: toolAnswers.get(c.id) }) : c)),
      fused: m.fused !== undefined ? m.fused : !!(meta.merge && meta.merge.fused_from),
    });
  }
  const all = new Map(); // id -> message, creation order
  const toolAnswers = new Map(); // tool call id -> "approved" | "denied", answered on this page
  function load(list) {
    all.clear();
    for (const m of list) all.set(m.id, normalise(m));
  }
  function childrenOf(parentId) {
    const found = [];
    for (const m of all.values()) if ((m.parent_id || null) === (parentId || null)) found.push(m);
    return found;
  }
  /** The current branch: the selected child at each level (the first marked, else the newest), as the server reads it. */
  function branch() {
    const path = [];
    let kids = childrenOf(null);
    while (kids.length) {
      const chosen = kids.find((m) => m.selected) || kids[kids.length - 1];
      path.push(chosen);
      kids = childrenOf(chosen.id);
    }
    return path;
  }
  async function fetchTree() {
    let url = `/api/v1/conversations/${conversationId}/messages/?tree=1&page_size=200`;
    const rows = [];
    while (url) {
      const page = await P.api("GET", url);
      rows.push(...P.results(page));
      url = page.next ? new URL(page.next, location.href).pathname + new URL(page.next, location.href).search : null;
    }
    return rows;
  }
  let reloadWanted = false;
  async function reload() {
    if (current) {
      reloadWanted = true; // after the reply that streams now
      return;
    }
    try {
      load(await fetchTree());
    } catch (err) {
      P.toast("Could not refresh the conversation: " + err.message);
      return;
    }
    const stick = nearBottom();
    drawThread();
    if (stick) toBottom();
  }

  function switcher(m) {
    const siblings = childrenOf(m.parent_id);
    if (siblings.length < 2) return null;
    const index = siblings.indexOf(m);
    const label = (s) => {
      const who = s.role === "assistant" ? s.model || "answer" : "version";
      return `${who} · ${shortWhen(s.created_at)}${s.fused ? " · fused" : ""}`;
    };
    const go = (to) => async () => {
      const target = siblings[to];
      if (!target || busy) return;
      try {
        await P.api("POST", `/api/v1/messages/${target.id}/select/`, {});
      } catch (err) {
        P.toast("Could not switch: " + err.message);
        return;
      }
      siblings.forEach((s) => (s.selected = s === target));
      drawThread();
      const again = messagesEl.querySelector(`[data-message-id="${target.id}"] .switcher [data-next]`);
      if (again) again.focus();
    };
    return el("div", { class: "switcher", role: "group", "aria-label": "Versions of this message" },
      el("button", { type: "button", class: "btn btn-ghost btn-sm", "data-prev": "", "aria-label": "Previous version", disabled: index === 0, onclick: go(index - 1), text: "‹" }),
      el("span", { class: "switcher-count", text: `${index + 1}/${siblings.length}` }),
      el("button", { type: "button", class: "btn btn-ghost btn-sm", "data-next": "", "aria-label": "Next version", disabled: index === siblings.length - 1, onclick: go(index + 1), text: "›" }),
      el("span", { class: "switcher-label faint", text: label(m) }),
      m.fused ? el("span", { class: "badge badge-accent", text: "fused" }) : null);
  }

  function actionButton(name, text, title, iconName) {
    const attrs = { type: "button", class: "btn btn-ghost btn-sm", title };
    attrs["data-" + name] = "";
    return el("button", attrs, iconName ? icon(iconName) : null, text);
  }

  function userBubble(m) {
    const node = el("div", { class: "msg msg-user", "data-message-id": m.id || "", title: when(m.created_at) });
    const body = el("div", { class: "msg-body", text: m.content });
    const shownFiles = P.attachmentList(m.attachments);
    if (shownFiles) node.append(shownFiles);
    node.append(body);
    if (m.id) {
      const tools = el("div", { class: "msg-meta msg-user-meta" });
      const sw = switcher(m);
      if (sw) tools.append(sw);
      tools.append(el("span", { class: "msg-actions" },
        actionButton("edit", "Edit", "Edit and send again"),
        actionButton("copy", "Copy", "Copy the message"),
        actionButton("delete", "Delete", "Delete this message and what follows it")));
      node.append(tools);
    }
    return node;
  }

  /** One assistant reply on screen; `schedule` redraws it as events arrive. */
  class Reply {
    constructor(data) {
      this.data = P.replyState(data);
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
      this.toolThread = new P.ToolThread(this.body, (call, approve) => answerToolCall(this, call, approve));
      this.sources = el("div", { class: "citations", hidden: true });
      this.errorBox = el("div", { class: "msg-error", hidden: true });
      this.meta = el("div", { class: "msg-meta" });
      this.node.append(this.head, this.reasoning, this.body, this.sources, this.errorBox, this.meta);
      this.pending = false;
      this.render();
    }
    setId(id) {
      this.data.id = id;
      this.node.dataset.messageId = id;
      replies.set(id, this);
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
      const calls = d.tool_calls || [];
      if (calls.length) this.toolThread.render(d.content, calls, streaming);
      else if (d.content) P.renderMarkdown(this.body, d.content);
      else if (streaming) this.body.replaceChildren(el("span", { class: "typing", "aria-label": "Waiting for the reply" }, el("i"), el("i"), el("i")));
      else this.body.replaceChildren();
      this.body.classList.toggle("cursor", streaming && !!d.content);
      if (d.reasoning) {
        this.reasoning.hidden = false;
        this.reasoningSummary.textContent = streaming && !d.content ? "Thinking…" : "Reasoning";
        P.renderMarkdown(this.reasoningBody, d.reasoning);
      } else this.reasoning.hidden = true;
      const labels = { cancelled: ["Stopped", "badge-warn"], failed: ["Failed", "badge-danger"], interrupted: ["Interrupted", "badge-warn"] };
      const label = labels[d.status] || (d.finish_reason === "length" && !streaming ? ["Cut off", "badge-warn"] : null);
      this.badge.hidden = !label;
      if (label) {
        this.badge.textContent = label[0];
        this.badge.className = "badge " + label[1];
      }
      this.renderCitations();
      this.renderError();
      this.renderMeta();
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
      const children = [icon("x"), el("span", { class: "grow", text: d.error })];
      if (d.id && (d.status === "failed" || d.status === "interrupted")) {
        children.push(el("button", { type: "button", class: "btn btn-sm", "data-retry": "", title: "Try again with the model chosen below" }, icon("retry"), "Retry"));
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
      const items = [];
      const sw = d.id && all.has(d.id) ? switcher(all.get(d.id)) : null;
      if (sw) items.push(sw);
      items.push(...parts.map((p) => el("span", { text: p })));
      if (d.status !== "streaming" && d.id) {
        const actions = el("span", { class: "msg-actions" });
        if (d.content) actions.append(actionButton("copy", "Copy", "Copy the answer"));
        if (d.status === "cancelled" || d.status === "interrupted" || d.finish_reason === "length") {
          actions.append(actionButton("continue", "Continue", "Let the reply go on from where it stopped"));
        }
        actions.append(actionButton("regenerate", "Regenerate", "Answer again with the same model", "retry"),
          el("button", { type: "button", class: "btn btn-ghost btn-sm", "data-regenerate-with": "", title: "Answer again with another model", "aria-label": "Answer again with another model", "aria-haspopup": "dialog", text: "▾" }),
          actionButton("delete", "Delete", "Delete this reply and what follows it"));
        items.push(actions);
      }
      this.meta.replaceChildren(...items);
      this.meta.hidden = !items.length;
    }
  }

  function answerToolCall(reply, call, approve) {
    const generationId = reply.data.generation_id || (stream.generation && stream.generation.id);
    return P.answerToolCall(generationId, call, approve, () => {
      // Kept for the redraws from the stored thread (which knows the results, not who answered).
      if (call.approval === "approved" || call.approval === "denied") toolAnswers.set(call.id, call.approval);
      else toolAnswers.delete(call.id);
      reply.render();
    });
  }

  const replies = new Map(); // message id -> Reply on screen
  load((page && page.messages) || []);

  function drawThread() {
    messagesEl.replaceChildren();
    replies.clear();
    for (const m of branch()) {
      if (m.role === "user") messagesEl.append(userBubble(m));
      else if (m.role === "assistant") {
        const reply = new Reply(m);
        replies.set(m.id, reply);
        messagesEl.append(reply.node);
      } else if (m.role === "system" && m.content) {
        messagesEl.append(el("div", { class: "notice" }, el("div", { class: "faint", text: "System: " + m.content })));
      }
    }
  }
  /** Remove a message's node and everything after it (a new branch replaces them). */
  function cutFrom(node) {
    while (node && node.nextSibling) node.nextSibling.remove();
    if (node) node.remove();
  }

  // ---------- streaming ----------
  let current = null; // the Reply being streamed
  let answering; // the user message a regenerate answers again, until its reply starts
  let replaceOnReplay = false;
  // A send the server has not accepted yet: if it is refused (provider not configured, bad attachment, busy…),
  // what was typed goes back into the composer; nothing of it was stored.
  let unconfirmed = null;
  function refuse(evt) {
    const refused = unconfirmed;
    unconfirmed = null;
    answering = undefined;
    if (refused.bubble) refused.bubble.remove();
    if (current && current.node && !current.data.id) current.node.remove();
    current = null;
    setBusy(false);
    if (refused.content !== undefined) {
      if (!input.value.trim()) input.value = refused.content;
      autosize();
      files.restore(refused.taken || []);
    }
    if (refused.restore) refused.restore();
    P.toast(evt.message || evt.code || "Not sent");
    input.focus();
  }
  const stream = new P.ConversationStream(conversationId, (evt) => {
    if (evt.type === "message") return onNewMessage(evt.message);
    if (unconfirmed && evt.type === "error" && (evt.refused || evt.seq === undefined)) return refuse(evt);
    if (unconfirmed && evt.type === "done" && evt.refused) return;
    if (evt.type === "start") unconfirmed = null;
    if (evt.type === "start") {
      // The reply may already be on screen: a continued one, or one announced by a `message` frame.
      const shown = evt.message_id && replies.get(evt.message_id);
      if (shown && shown !== current) {
        if (current && !current.data.id) current.node.remove();
        current = shown;
      }
      if (!current) {
        current = new Reply({ status: "streaming", model: evt.model });
        messagesEl.append(current.node);
      }
      if (evt.message_id && current.data.id !== evt.message_id) current.setId(evt.message_id);
      if (evt.message_id && answering !== undefined && !all.has(evt.message_id)) {
        // A regenerated answer joins its siblings at once: the switcher shows while it streams.
        const fresh = normalise({ id: evt.message_id, role: "assistant", parent_id: answering, model: evt.model, selected: true,
          status: "streaming", content: "", created_at: new Date().toISOString() });
        for (const s of childrenOf(answering)) s.selected = false;
        all.set(fresh.id, fresh);
      }
      answering = undefined;
      setBusy(true);
    }
    if (!current) return;
    const d = current.data;
    if (replaceOnReplay && (evt.type === "content" || evt.type === "reasoning")) {
      d.content = "";
      d.reasoning = "";
      replaceOnReplay = false;
    }
    if (!P.reduceReply(d, evt)) return;
    if (evt.type !== "done") {
      current.schedule();
      return;
    }
    if (d.status === "cancelled" && !d.error) d.error = "";
    if (d.id && all.has(d.id)) Object.assign(all.get(d.id), d);
    current.render();
    if (nearBottom()) toBottom();
    current = null;
    replaceOnReplay = false;
    setBusy(false);
    reloadWanted = false;
    reload();
  });

  /** A message announced on the socket (this conversation, from another tab, device or API client). */
  function onNewMessage(m) {
    if (!m || !m.id) return;
    const known = all.has(m.id);
    all.set(m.id, Object.assign(all.get(m.id) || {}, normalise(m)));
    if (m.selected) for (const s of childrenOf(m.parent_id)) s.selected = s.id === m.id;
    if (known || current) return; // shown already, or drawn once the reply that streams now is over
    const stick = nearBottom();
    drawThread();
    if (stick || m.role === "user") toBottom();
  }

  function sendMessage(content, taken, shownAttachments, parentId) {
    taken = taken || [];
    const bubble = userBubble({ content, attachments: shownAttachments || files.shown(taken) });
    messagesEl.append(bubble);
    unconfirmed = { content, taken, bubble };
    current = new Reply({ status: "streaming", model });
    messagesEl.append(current.node);
    toBottom();
    setBusy(true);
    const ids = shownAttachments ? shownAttachments.map((a) => a.id) : files.ids(taken);
    stream.send(content, model, ids, parentId).catch((err) => {
      stream.onEvent({ type: "error", message: err.message, refused: true });
    });
  }

  /** Regenerate a reply (with `chosen` model), or continue a stopped one: both stream over REST, the socket hears too. */
  function restart(reply, kind, chosen) {
    const id = reply.data.id;
    if (kind === "continue") {
      current = reply;
      reply.data.status = "streaming";
      reply.render();
      unconfirmed = { restore: () => reload() };
      setBusy(true);
      stream.post(`/api/v1/messages/${id}/continue/`);
      return;
    }
    answering = all.has(id) ? all.get(id).parent_id : undefined;
    const placeholderAt = reply.node;
    current = new Reply({ status: "streaming", model: chosen || reply.data.model });
    placeholderAt.before(current.node);
    const kept = reply.node;
    cutFrom(kept);
    unconfirmed = { restore: () => reload() };
    setBusy(true);
    toBottom();
    stream.post(`/api/v1/messages/${id}/regenerate/`, chosen ? { model: chosen } : {});
  }

  function editInPlace(node, m) {
    const box = el("textarea", { class: "input edit-input", rows: 3, "aria-label": "Edit your message" });
    box.value = m.content;
    const save = el("button", { type: "submit", class: "btn btn-primary btn-sm", text: "Save & send" });
    const cancel = el("button", { type: "button", class: "btn btn-sm", text: "Cancel" });
    const editor = el("form", { class: "msg msg-user msg-editing", "data-message-id": m.id }, box,
      el("div", { class: "edit-actions" }, cancel, save));
    node.replaceWith(editor);
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
    cancel.addEventListener("click", () => editor.replaceWith(node));
    box.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        editor.replaceWith(node);
      } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        editor.requestSubmit();
      }
    });
    editor.addEventListener("submit", (e) => {
      e.preventDefault();
      const content = box.value.trim();
      if (!content || busy) return;
      if (!model) {
        P.toast("Choose a model first");
        return;
      }
      cutFrom(editor);
      sendMessage(content, [], m.attachments && m.attachments.length ? m.attachments : [], m.parent_id || null);
      unconfirmed.content = undefined; // a refused edit keeps the original; nothing to put back in the composer
      unconfirmed.restore = () => reload();
    });
  }

  messagesEl.addEventListener("click", async (e) => {
    const node = e.target.closest(".msg");
    const id = node && node.dataset.messageId;
    const m = id && all.get(id);
    const reply = id && replies.get(id);
    if (e.target.closest("[data-copy]")) {
      const text = reply ? reply.data.content : m && m.content;
      if (text && navigator.clipboard) navigator.clipboard.writeText(text).then(() => P.toast("Copied"));
      return;
    }
    if (!m || busy) return;
    if (e.target.closest("[data-edit]")) return editInPlace(node, m);
    if (e.target.closest("[data-delete]")) {
      const below = m.role === "user" ? "this message, its replies and everything after them" : "this reply and everything after it";
      if (!window.confirm(`Delete ${below}? This cannot be undone.`)) return;
      try {
        await P.api("DELETE", `/api/v1/messages/${id}/`);
      } catch (err) {
        P.toast("Could not delete: " + err.message);
        return;
      }
      P.toast("Deleted");
      return reload();
    }
    if (!reply) return;
    if (e.target.closest("[data-retry]")) return restart(reply, "regenerate", model || reply.data.model);
    if (e.target.closest("[data-regenerate]")) return restart(reply, "regenerate", reply.data.model || model);
    if (e.target.closest("[data-continue]")) return restart(reply, "continue");
    if (e.target.closest("[data-regenerate-with]")) {
      const picked = await P.pickModels({ multi: false, selected: reply.data.model ? [reply.data.model] : [] });
      if (picked) restart(reply, "regenerate", picked[0]);
    }
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

  // ---------- export and share ----------
  const exportMenu = document.getElementById("conv-export");
  if (exportMenu) {
    exportMenu.addEventListener("click", async (e) => {
      const share = e.target.closest("[data-share]");
      const unshare = e.target.closest("[data-unshare]");
      if (!share && !unshare) return;
      try {
        if (share) {
          const link = await P.api("POST", `/api/v1/conversations/${conversationId}/share/`, {});
          const out = document.getElementById("share-url");
          out.value = link.url;
          out.hidden = false;
          out.select();
          if (navigator.clipboard) navigator.clipboard.writeText(link.url).catch(() => {});
          P.toast("Share link ready: anyone with it sees this branch as it is now");
        } else {
          await P.api("DELETE", `/api/v1/conversations/${conversationId}/share/`);
          document.getElementById("share-url").hidden = true;
          P.toast("Share link revoked");
        }
      } catch (err) {
        P.toast((share ? "Could not share: " : "Could not revoke: ") + err.message);
      }
    });
  }

  // ---------- start-up: draw, resume a running reply, or send the message handed over by "New chat" ----------
  drawThread();
  toBottom();
  const running = branch().filter((m) => m.role === "assistant" && m.status === "streaming" && m.generation_id);
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
