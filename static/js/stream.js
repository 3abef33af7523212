/* Stream handling shared by the chat and compare pages: the event reducer, per-generation replay bookkeeping,
   and the conversation transport (WebSocket first, SSE when the socket cannot be used, reconnect and resume). */
(function () {
  "use strict";
  const P = window.Parley;

  /** A reply's state as events arrive: the one reducer of SPEC §4 events (start, content, reasoning, tool_call,
      tool_approval, tool_result, citations, usage, snapshot, error, done). Returns true when the event changed
      something to draw. */
  P.replyState = function (data) {
    return Object.assign({ content: "", reasoning: "", usage: {}, status: "streaming", citations: [], tool_calls: [] }, data);
  };
  P.reduceReply = function (d, evt) {
    switch (evt.type) {
      case "start":
        if (evt.message_id) d.id = evt.message_id;
        if (evt.generation_id) d.generation_id = evt.generation_id;
        if (evt.model) d.model = evt.model;
        d.status = "streaming";
        d.error = "";
        return true;
      case "content":
        if (d.status === "waiting") d.status = "streaming";
        d.content += evt.content || "";
        return true;
      case "reasoning":
        d.reasoning += evt.reasoning || "";
        return true;
      case "citations":
        d.citations = evt.citations || [];
        return true;
      case "tool_call":
      case "tool_approval":
      case "tool_result": {
        // One entry per call id, placed where the text was when it was made; approval and result join it.
        d.tool_calls = (d.tool_calls || []).slice();
        let call = d.tool_calls.find((c) => c.id === evt.id);
        if (!call) d.tool_calls.push((call = { id: evt.id, offset: d.content.length }));
        if (evt.name) call.name = evt.name;
        if (evt.arguments !== undefined) call.arguments = evt.arguments;
        if (evt.type === "tool_approval" && !call.result && !call.approval) call.approval = "pending";
        if (evt.type === "tool_result") {
          call.result = { content: evt.content, is_error: !!evt.is_error };
          if (call.approval === "pending") call.approval = null; // answered elsewhere, or it timed out
        }
        return true;
      }
      case "usage":
        d.usage = Object.assign({}, d.usage, evt);
        if (evt.cost != null) d.cost = evt.cost;
        return true;
      case "snapshot":
        // Resumed past the stored log (the server that streamed it crashed): the stored text replaces ours.
        d.content = evt.content || "";
        d.reasoning = evt.reasoning || "";
        return true;
      case "error":
        d.error = evt.message || evt.code || "The provider failed";
        d.error_code = evt.code;
        return true;
      case "done":
        d.status = evt.status || (d.error ? "failed" : "complete");
        if (evt.latency_ms != null) d.latency_ms = evt.latency_ms;
        if (evt.ttft_ms != null) d.ttft_ms = evt.ttft_ms;
        if (evt.finish_reason != null) d.finish_reason = evt.finish_reason;
        if (evt.message_id && !d.id) d.id = evt.message_id;
        return true;
      default:
        return false;
    }
  };

  /** Which events of which generations were seen: drops replayed duplicates (the same generation followed twice,
      or replayed after a reconnect) and knows where to resume each unfinished one. */
  P.GenerationTracker = class {
    constructor() {
      this.seen = new Map(); // generation id -> {lastSeq, done}
    }
    accept(evt) {
      const id = evt.generation_id || this.lastId;
      if (evt.type === "start" && evt.generation_id) this.lastId = evt.generation_id;
      if (!id || typeof evt.seq !== "number") return true;
      const state = this.seen.get(id) || { lastSeq: 0, done: false };
      this.seen.set(id, state);
      if (evt.seq <= state.lastSeq) return false;
      state.lastSeq = evt.seq;
      if (evt.type === "done") state.done = true;
      return true;
    }
    unfinished() {
      return Array.from(this.seen.entries()).filter(([, s]) => !s.done).map(([id, s]) => ({ id, after: s.lastSeq }));
    }
    /** Follow every unfinished generation again over SSE from its last seen event (after a dropped stream). */
    async resumeAll(onEvent) {
      await Promise.all(this.unfinished().map(({ id, after }) =>
        P.streamSSE(`/api/v1/generations/${id}/stream/?after=${after}`, {
          onEvent: (evt) => {
            const tagged = Object.assign({ generation_id: id }, evt);
            if (this.accept(tagged)) onEvent(tagged);
          },
        }).catch(() => {})));
    }
  };

  /** One conversation's live stream: its WebSocket carries the replies it starts and every new message of the
      conversation (SPEC §8 `message` frames); SSE takes over when the socket cannot be used. */
  P.ConversationStream = class {
    constructor(id, onEvent) {
      this.id = id;
      this.onEvent = onEvent;
      this.ws = null;
      this.wsReady = null;
      this.wsFailed = false;
      this.generation = null; // {id, lastSeq, done}
      this.abort = null;
      this.retries = 0;
      this.awaitingStart = false;
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
          // The generation goes on without us: reconnect and resume from the last event we saw; after a few
          // failed tries, follow it over SSE instead. Without a reply running, reconnect to keep hearing news.
          if (this.retries >= 4) this.wsFailed = true;
          const delay = Math.min(4000, 300 * 2 ** this.retries++);
          if (this.generation && !this.generation.done) {
            setTimeout(() => this.resume(this.generation.id, this.generation.lastSeq), delay);
          } else if (!this.wsFailed) setTimeout(() => this.connect(), delay);
        };
      });
      return this.wsReady;
    }
    handle(evt) {
      if (!evt || typeof evt !== "object") return;
      if (evt.type === "message") return this.onEvent(evt);
      if (evt.type === "error" && evt.seq === undefined && !evt.local) {
        // A refused frame (bad model, provider not configured, another reply running…): the reply never starts.
        if (this.awaitingStart) {
          this.awaitingStart = false;
          this.onEvent(Object.assign({ refused: true }, evt));
          this.onEvent({ type: "done", status: "failed", local: true, refused: true });
        } else P.toast(evt.message || evt.code);
        return;
      }
      if (typeof evt.seq === "number") this.awaitingStart = false;
      if (evt.type === "start" && evt.generation_id) {
        if (this.generation && this.generation.id === evt.generation_id) return; // the same reply, heard twice
        this.generation = { id: evt.generation_id, lastSeq: evt.seq || 0, done: false };
      } else if (this.generation && typeof evt.seq === "number") {
        if (evt.generation_id && evt.generation_id !== this.generation.id) return this.onEvent(evt);
        if (evt.seq <= this.generation.lastSeq) return; // a replayed event we already have
        this.generation.lastSeq = evt.seq;
      }
      if (evt.type === "done" && this.generation) this.generation.done = true;
      this.onEvent(evt);
    }
    async send(content, chosenModel, attachments, parentId) {
      this.generation = null;
      this.awaitingStart = true;
      const frame = { content, model: chosenModel, attachments: attachments || [] };
      if (parentId !== undefined) frame.parent_id = parentId;
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
    /** Start a reply over a REST streaming endpoint (regenerate, continue); the socket hears it too. */
    async post(url, body) {
      this.generation = null;
      this.awaitingStart = true;
      await this.sse(url, "POST", body);
    }
    async sse(url, method, body) {
      this.abort = new AbortController();
      try {
        await P.streamSSE(url, { method, body, signal: this.abort.signal, onEvent: (e) => this.handle(e) });
      } catch (err) {
        if (err.name === "AbortError") return;
        const refused = this.awaitingStart;
        this.awaitingStart = false;
        this.onEvent({ type: "error", code: err.code || "request_failed", message: err.message, retryable: true, local: true, refused });
        this.onEvent({ type: "done", status: "failed", local: true, refused });
      }
    }
    async cancel() {
      if (this.ws && this.ws.readyState === WebSocket.OPEN && this.generation) {
        this.ws.send(JSON.stringify({ type: "cancel", generation_id: this.generation.id }));
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
  };
})();
