/* Tool calls inside a reply (SPEC §7), shared by the chat and compare pages: one collapsible block per call with
   its name, status, arguments and result (formatted JSON when it parses, else text), and Approve / Deny in `ask`
   mode. Tool names, arguments and results are untrusted: everything goes in through textContent. */
(function () {
  "use strict";
  const P = window.Parley;
  const { el, icon } = P;

  /** JSON pretty-printed when the text is a JSON object or array; any other text as it is. */
  P.prettyToolText = function (value) {
    if (value === undefined || value === null) return "";
    if (typeof value !== "string") {
      try {
        return JSON.stringify(value, null, 2);
      } catch (e) {
        return String(value);
      }
    }
    const text = value.trim();
    if (text.startsWith("{") || text.startsWith("[")) {
      try {
        return JSON.stringify(JSON.parse(text), null, 2);
      } catch (e) {
        /* not JSON after all: shown as text */
      }
    }
    return value;
  };

  /** [label, badge class] of a call: waiting for approval, running, done, error, denied (or "not run" once the
      reply is over without a result). */
  P.toolStatus = function (call, streaming) {
    if (call.approval === "denied") return ["denied", "badge-danger"];
    if (call.result) return call.result.is_error ? ["error", "badge-danger"] : ["done", "badge-ok"];
    if (call.approval === "pending") return ["waiting for approval", "badge-warn"];
    return streaming ? ["running", "badge-accent"] : ["not run", ""];
  };

  /** Merge stored `metadata.tool_results` into `metadata.tool_calls` (by id) as the reducer keeps them live. */
  P.storedToolCalls = function (calls, results) {
    const byId = new Map((results || []).map((r) => [r.id, r]));
    return (calls || []).map((c) => {
      const r = byId.get(c.id);
      return Object.assign({}, c, r ? { result: { content: r.content, is_error: !!r.is_error } } : {});
    });
  };

  /** Approve or deny a call that generation `generationId` waits on (`ask` mode), through the REST endpoint. The
      buttons go at once (`redraw`); a refused answer (already answered, timed out) brings them back. */
  P.answerToolCall = async function (generationId, call, approve, redraw) {
    if (!generationId || call.approval !== "pending") return;
    const answer = approve ? "approved" : "denied";
    call.approval = answer;
    redraw();
    try {
      await P.api("POST", `/api/v1/generations/${generationId}/tool-approval/`, { id: call.id, approve });
    } catch (err) {
      if (call.approval === answer && !call.result) call.approval = "pending";
      redraw();
      P.toast("Could not answer: " + err.message);
    }
  };

  /** One call on screen; `update(call, streaming)` redraws it in place, so its open state and focus survive the
      redraws of a streaming reply. `onAnswer(call, approve)` is called by Approve / Deny. */
  P.ToolCallBlock = class {
    constructor(onAnswer) {
      this.onAnswer = onAnswer;
      this.node = el("details", { class: "tool-call" });
      this.name = el("code", { class: "tool-name" });
      this.status = el("span", { class: "badge tool-status" });
      this.node.append(el("summary", {}, icon("tool"), this.name, this.status));
      this.args = el("pre", { class: "tool-json tool-args" });
      this.resultLabel = el("div", { class: "tool-label", text: "Result" });
      this.result = el("pre", { class: "tool-json tool-result" });
      this.note = el("p", { class: "tool-note", hidden: true });
      this.approval = el("div", { class: "tool-approval", role: "group", hidden: true });
      this.node.append(el("div", { class: "tool-body" }, el("div", { class: "tool-label", text: "Arguments" }), this.args,
        this.resultLabel, this.result, this.note, this.approval));
      this.key = "";
      this.asked = false;
    }
    update(call, streaming) {
      const [label, badge] = P.toolStatus(call, streaming);
      const key = JSON.stringify([call.name, call.arguments, call.result, call.approval, label]);
      if (key === this.key) return;
      this.key = key;
      const name = call.name || "tool";
      this.node.dataset.toolCallId = call.id || "";
      this.node.dataset.status = label;
      this.name.textContent = name;
      this.status.textContent = label;
      this.status.className = "badge tool-status " + badge;
      this.args.textContent = P.prettyToolText(call.arguments) || "{}";
      const result = call.result;
      this.resultLabel.hidden = this.result.hidden = !result;
      this.result.textContent = result ? P.prettyToolText(result.content) : "";
      this.node.classList.toggle("tool-error", !!(result && result.is_error) || call.approval === "denied");
      this.result.classList.toggle("tool-result-error", !!(result && result.is_error));
      const decided = call.approval === "approved" || call.approval === "denied";
      this.note.hidden = !decided;
      this.note.textContent = call.approval === "approved" ? "You approved this call." : call.approval === "denied" ? "You denied this call." : "";
      const pending = call.approval === "pending";
      this.approval.hidden = !pending;
      if (pending) {
        this.approval.setAttribute("aria-label", `Run the tool ${name}?`);
        const approve = el("button", { type: "button", class: "btn btn-primary btn-sm", "data-approve": "", onclick: () => this.onAnswer(call, true) }, "Approve");
        const deny = el("button", { type: "button", class: "btn btn-sm btn-danger", "data-deny": "", onclick: () => this.onAnswer(call, false) }, "Deny");
        this.approval.replaceChildren(el("span", { class: "grow", text: "The model wants to run this tool." }), deny, approve);
        if (!this.asked) {
          this.asked = true;
          this.node.open = true; // the question is inside: show it
        }
      } else this.approval.replaceChildren();
    }
  };

  /** Place text segments and tool blocks of a reply in order: each call sits where the text was when it was made
      (`offset`, the length of the content then). Keeps nodes between redraws; returns nothing. */
  P.ToolThread = class {
    constructor(container, onAnswer) {
      this.container = container;
      this.onAnswer = onAnswer;
      this.blocks = new Map(); // call id -> ToolCallBlock
      this.segments = [];
    }
    segment(index, text) {
      const seg = this.segments[index] || (this.segments[index] = el("div", { class: "md-seg" }));
      if (seg.shownText !== text) {
        seg.shownText = text;
        if (text) P.renderMarkdown(seg, text);
        else seg.replaceChildren();
      }
      seg.hidden = !text;
      return seg;
    }
    render(content, calls, streaming) {
      const text = content || "";
      const ordered = calls.map((c, i) => [c, i])
        .sort((a, b) => (a[0].offset ?? 0) - (b[0].offset ?? 0) || a[1] - b[1]).map((pair) => pair[0]);
      const children = [];
      let at = 0;
      ordered.forEach((call, index) => {
        const cut = Math.min(Math.max(Number(call.offset) || 0, at), text.length);
        children.push(this.segment(index, text.slice(at, cut)));
        at = cut;
        const key = call.id || "call-" + index;
        let block = this.blocks.get(key);
        if (!block) this.blocks.set(key, (block = new P.ToolCallBlock(this.onAnswer)));
        block.update(call, streaming);
        children.push(block.node);
      });
      children.push(this.segment(ordered.length, text.slice(at)));
      const now = Array.from(this.container.children);
      if (now.length !== children.length || now.some((node, i) => node !== children[i])) this.container.replaceChildren(...children);
    }
  };
})();
