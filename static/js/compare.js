/* Compare view: one prompt, one streaming column per model, pick an answer or fuse them. */
(function () {
  "use strict";
  const P = window.Parley;
  const { el, icon } = P;
  const $ = (id) => document.getElementById(id);
  const config = P.readJSON("ui-config") || {};

  let models = (config.compare_models && config.compare_models.length ? config.compare_models : []).slice();
  let fuseModel = config.default_model || "";
  let columns = new Map(); // model -> column state
  let conversationId = null;
  let running = false;

  function drawChips() {
    const wrap = $("compare-models");
    const add = $("add-models");
    wrap.replaceChildren();
    for (const m of models) {
      wrap.append(
        el("span", { class: "chip", "data-model": m }, m,
          el("button", { type: "button", "aria-label": "Remove " + m, onclick: () => { models = models.filter((x) => x !== m); drawChips(); } }, icon("x")))
      );
    }
    wrap.append(add);
    $("compare-status").textContent = models.length ? models.length + " models" : "Add at least two models";
  }
  $("add-models").addEventListener("click", async () => {
    const picked = await P.pickModels({ multi: true, selected: models });
    if (picked) {
      models = picked;
      drawChips();
    }
  });
  drawChips();
  $("fuse-model-label").textContent = fuseModel || "Choose a model";
  $("fuse-model").addEventListener("click", async () => {
    const picked = await P.pickModels({ multi: false, selected: fuseModel ? [fuseModel] : [] });
    if (picked) $("fuse-model-label").textContent = fuseModel = picked[0];
  });

  function makeColumn(model) {
    // The column's reply state is the shared reducer's (static/js/stream.js), plus its elements.
    const col = P.replyState({ model, status: "waiting", messageId: null, pending: false });
    col.badge = el("span", { class: "badge", text: "waiting" });
    col.body = el("div", { class: "answer md" }, el("span", { class: "typing" }, el("i"), el("i"), el("i")));
    col.reasoningBox = el("details", { class: "reasoning", hidden: true }, el("summary", { text: "Reasoning" }));
    col.reasoningBody = el("div", { class: "reasoning-body md" });
    col.reasoningBox.append(col.reasoningBody);
    col.errorBox = el("div", { class: "msg-error", hidden: true });
    col.toolThread = new P.ToolThread(col.body, (call, approve) => P.answerToolCall(col.generation_id, call, approve, () => renderColumn(col)));
    col.stats = el("div", { class: "grow" });
    col.pick = el("button", { type: "button", class: "btn btn-sm", disabled: true, text: "Continue with this" });
    col.pick.addEventListener("click", () => pickAnswer(col));
    col.node = el("section", { class: "column", "data-model": model, "aria-label": model },
      el("header", { class: "column-head" }, icon("cpu"), el("span", { class: "model-name", text: model, title: model }), col.badge),
      el("div", { class: "column-body" }, col.reasoningBox, col.body, col.errorBox),
      el("footer", { class: "column-foot" }, col.stats, col.pick));
    return col;
  }
  function setBadge(col, text, cls) {
    col.badge.textContent = text;
    col.badge.className = "badge " + (cls || "");
  }
  function renderColumn(col) {
    if (col.tool_calls.length) col.toolThread.render(col.content, col.tool_calls, col.status === "streaming" || col.status === "waiting");
    else if (col.content) P.renderMarkdown(col.body, col.content);
    else if (col.status !== "streaming" && col.status !== "waiting") col.body.replaceChildren();
    col.body.classList.toggle("cursor", col.status === "streaming" && !!col.content);
    if (col.reasoning) {
      col.reasoningBox.hidden = false;
      P.renderMarkdown(col.reasoningBody, col.reasoning);
    }
    const u = col.usage || {};
    const stats = [];
    if (col.ttft_ms != null) stats.push("TTFT " + P.fmtMs(col.ttft_ms));
    if (col.latency_ms != null) stats.push("latency " + P.fmtMs(col.latency_ms));
    if (u.completion_tokens != null) stats.push(u.completion_tokens + " tokens");
    const cost = P.fmtCost(u.cost);
    if (cost) stats.push(cost);
    col.stats.replaceChildren(...stats.map((s) => el("span", { text: s })));
  }
  function schedule(col) {
    if (col.pending) return;
    col.pending = true;
    requestAnimationFrame(() => {
      col.pending = false;
      renderColumn(col);
    });
  }

  // Replayed or repeated events are dropped, and a dropped stream is resumed per generation (stream.js).
  let tracker = new P.GenerationTracker();
  const byGeneration = new Map(); // generation id -> column
  function onEvent(evt) {
    if (evt.conversation_id) conversationId = evt.conversation_id;
    const col = evt.model ? columns.get(evt.model) : byGeneration.get(evt.generation_id);
    if (!col || !tracker.accept(evt)) return;
    if (evt.message_id) col.messageId = evt.message_id;
    if (evt.generation_id) byGeneration.set(evt.generation_id, col);
    const wasWaiting = col.status === "waiting";
    if (!P.reduceReply(col, evt)) return;
    if (evt.type === "start" || (evt.type === "content" && wasWaiting)) setBadge(col, "streaming", "badge-accent");
    if (evt.type === "error") {
      col.errorBox.hidden = false;
      col.errorBox.replaceChildren(icon("x"), el("span", { class: "grow", text: col.error }));
    }
    if (evt.type === "done") {
      const ok = col.status === "complete";
      setBadge(col, ok ? "done" : col.status, ok ? "badge-ok" : "badge-danger");
      col.pick.disabled = !(ok && col.messageId);
      renderColumn(col);
      return;
    }
    schedule(col);
  }

  $("compare-prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("compare-form").requestSubmit();
    }
  });
  $("compare-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const prompt = $("compare-prompt").value.trim();
    if (!prompt || running) return;
    if (models.length < 1) {
      P.toast("Add the models to compare");
      return;
    }
    running = true;
    $("compare-run").disabled = true;
    $("fuse-bar").hidden = true;
    $("fuse-output").hidden = true;
    $("fuse-status").textContent = "";
    columns = new Map(models.map((m) => [m, makeColumn(m)]));
    tracker = new P.GenerationTracker();
    byGeneration.clear();
    $("columns").replaceChildren(...Array.from(columns.values(), (c) => c.node));
    $("compare-status").textContent = "Asking " + models.length + " models…";
    const body = { prompt, models, stream: true };
    if (conversationId) body.conversation_id = conversationId;
    try {
      await P.streamSSE("/api/v1/compare/", {
        method: "POST",
        body,
        onEvent,
        onResponse: (res) => (conversationId = res.headers.get("X-Conversation-ID") || conversationId),
      });
    } catch (err) {
      if (!tracker.unfinished().length) P.toast("Compare failed: " + err.message);
    }
    // The stream dropped before every model finished: follow the unfinished ones from where they were.
    await tracker.resumeAll(onEvent);
    for (const col of columns.values()) {
      if (col.status === "waiting" || col.status === "streaming") onEvent({ type: "done", model: col.model, status: col.error ? "failed" : "interrupted" });
    }
    running = false;
    $("compare-run").disabled = false;
    const good = Array.from(columns.values()).filter((c) => c.status === "complete" && c.messageId);
    $("compare-status").textContent = `${good.length} of ${columns.size} answered`;
    $("fuse-bar").hidden = good.length < 2;
    if (conversationId) {
      // Follow-up prompts go to the same conversation, asking every model again with the chosen answer as context.
      $("compare-open").href = `/c/${conversationId}/`;
      $("compare-open").hidden = false;
      $("compare-new").hidden = false;
      $("compare-prompt").placeholder = "Ask a follow-up to every model…";
    }
  });
  $("compare-new").addEventListener("click", () => {
    conversationId = null;
    columns = new Map();
    $("columns").replaceChildren();
    $("fuse-bar").hidden = true;
    $("compare-open").hidden = true;
    $("compare-new").hidden = true;
    $("compare-prompt").value = "";
    $("compare-prompt").placeholder = "Ask every selected model the same question…";
    drawChips();
    $("compare-prompt").focus();
  });

  async function pickAnswer(col) {
    try {
      await P.api("POST", `/api/v1/messages/${col.messageId}/select/`, {});
    } catch (err) {
      P.toast("Could not select this answer: " + err.message);
      return;
    }
    columns.forEach((c) => c.node.classList.toggle("picked", c === col));
    window.location.href = `/c/${conversationId}/`;
  }

  $("fuse-run").addEventListener("click", async () => {
    const ids = Array.from(columns.values()).filter((c) => c.status === "complete" && c.messageId).map((c) => c.messageId);
    if (ids.length < 2 || !fuseModel) return;
    $("fuse-run").disabled = true;
    const out = $("fuse-output");
    const bar = $("fuse-progress");
    out.hidden = false;
    bar.hidden = false;
    out.replaceChildren();
    $("fuse-status").textContent = "Fusing…";
    try {
      const job = await P.api("POST", "/api/v1/merges/", { message_ids: ids, model: fuseModel });
      await P.followMerge(job.id, {
        onStatus: (s) => {
          if (s.progress != null) bar.firstElementChild.style.width = Math.min(100, s.progress) + "%";
          if (s.status) $("fuse-status").textContent = "Status: " + s.status;
        },
        onText: (text) => P.renderMarkdown(out, text),
        onError: (m) => ($("fuse-status").textContent = "Fusion failed: " + m),
        onComplete: async (done) => {
          bar.firstElementChild.style.width = "100%";
          if (!out.textContent.trim() && done.message_id) {
            // The job ended before we subscribed: show the stored answer instead of its stream.
            try {
              const page = await P.api("GET", `/api/v1/conversations/${conversationId}/messages/?page_size=100`);
              const fused = P.results(page).find((m) => m.id === done.message_id);
              if (fused) P.renderMarkdown(out, fused.content);
            } catch (err) {
              /* the link below still opens it */
            }
          }
          $("fuse-status").replaceChildren("Fused answer saved as the selected answer. ",
            el("a", { href: `/c/${conversationId}/`, id: "fuse-open", text: "Open the conversation →" }));
        },
      });
    } catch (err) {
      $("fuse-status").textContent = "Fusion failed: " + err.message;
    }
    $("fuse-run").disabled = false;
  });
})();
