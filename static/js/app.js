/* Parley UI core: API calls, safe markdown, SSE reading, sidebar actions, model picker. */
(function () {
  "use strict";

  const Parley = (window.Parley = {});

  // ---------- small DOM helpers ----------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }
  function icon(name) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "svg-icon");
    const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", "#i-" + name);
    svg.append(use);
    return svg;
  }
  Parley.el = el;
  Parley.icon = icon;
  Parley.readJSON = (id) => {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  };

  let toastTimer = null;
  Parley.toast = function (message) {
    let t = document.querySelector(".toast");
    if (!t) document.body.append((t = el("div", { class: "toast", role: "status" })));
    t.textContent = message;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (t.hidden = true), 3500);
  };

  // ---------- API ----------
  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }
  Parley.csrfToken = csrfToken;

  class ApiError extends Error {
    constructor(status, detail, code) {
      super(detail || "Request failed (" + status + ")");
      this.status = status;
      this.code = code || "";
    }
  }
  Parley.ApiError = ApiError;

  Parley.api = async function (method, url, body) {
    const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") opts.headers["X-CSRFToken"] = csrfToken();
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(url, opts);
    if (res.status === 204) return null;
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (!res.ok) {
      let detail = data && data.detail;
      if (!detail && data && typeof data === "object") {
        detail = Object.entries(data).map(([k, v]) => k + ": " + (Array.isArray(v) ? v.join(" ") : v)).join("; ");
      }
      throw new ApiError(res.status, detail, data && data.code);
    }
    return data;
  };
  // Lists are paginated ({results}) or plain arrays depending on the endpoint.
  Parley.results = (data) => (Array.isArray(data) ? data : (data && (data.results || data.models)) || []);

  // ---------- SSE over fetch (POST bodies and session cookies, which EventSource cannot send) ----------
  Parley.streamSSE = async function (url, { method = "GET", body, signal, onEvent, onResponse }) {
    // "*/*" too: some streaming views sit behind DRF content negotiation, which refuses a bare event-stream.
    const headers = { Accept: "text/event-stream, */*;q=0.1" };
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    if (!res.ok) {
      let data = null;
      try {
        data = await res.json();
      } catch (e) {
        data = null;
      }
      throw new ApiError(res.status, data && data.detail, data && data.code);
    }
    if (onResponse) onResponse(res);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let frame = { id: null, event: null, data: [] };
    const flush = () => {
      if (frame.data.length) {
        let payload;
        try {
          payload = JSON.parse(frame.data.join("\n"));
        } catch (e) {
          payload = { content: frame.data.join("\n") };
        }
        if (payload && typeof payload === "object") {
          if (!payload.type && frame.event) payload.type = frame.event;
          if (payload.seq === undefined && frame.id !== null && /^\d+$/.test(frame.id)) payload.seq = Number(frame.id);
        }
        onEvent(payload);
      }
      frame = { id: null, event: null, data: [] };
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let idx;
      while ((idx = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, idx);
        buffer = buffer.slice(idx + (buffer.startsWith("\r\n", idx) ? 2 : 1));
        if (line === "") flush();
        else if (line.startsWith(":")) continue;
        else {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? "" : line.slice(colon + 1);
          if (val.startsWith(" ")) val = val.slice(1);
          if (field === "data") frame.data.push(val);
          else if (field === "event") frame.event = val;
          else if (field === "id") frame.id = val;
        }
      }
    }
    flush();
  };

  // ---------- safe markdown ----------
  const SAFE_LINK = /^(?:https?:|mailto:)/i;
  const SAFE_IMG = /^https?:/i;
  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  Parley.escapeHtml = escapeHtml;

  if (window.marked) {
    // Raw HTML inside model or user text is shown as text, never parsed; DOMPurify below is the second wall.
    window.marked.use({
      gfm: true,
      breaks: true,
      renderer: {
        html(token) {
          const raw = typeof token === "string" ? token : token.raw || token.text || "";
          return escapeHtml(raw);
        },
      },
    });
  }
  if (window.DOMPurify) {
    window.DOMPurify.addHook("afterSanitizeAttributes", (node) => {
      if (node.hasAttribute("href")) {
        const href = node.getAttribute("href").trim();
        if (!SAFE_LINK.test(href)) node.removeAttribute("href");
        else {
          node.setAttribute("target", "_blank");
          node.setAttribute("rel", "noopener noreferrer nofollow");
        }
      }
      if (node.tagName === "IMG") {
        const src = (node.getAttribute("src") || "").trim();
        node.removeAttribute("src");
        // An image of another host never gets a src here: the CSP would block it, and the URL could carry
        // conversation text to that host. renderMarkdown puts a "Show image" placeholder in its place.
        if (SAFE_IMG.test(src)) {
          const url = new URL(src, location.href);
          if (url.origin === location.origin) node.setAttribute("src", url.href);
          else node.setAttribute("data-remote-src", url.href);
        }
      }
    });
  }
  const PURIFY = {
    ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i,
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "object", "embed", "svg", "math", "link", "meta", "base"],
    FORBID_ATTR: ["style", "srcset", "action", "formaction"],
  };
  if (window.hljs) window.hljs.configure({ ignoreUnescapedHTML: true });

  Parley.markdownToSafeHtml = function (text) {
    if (!text) return "";
    if (!window.marked || !window.DOMPurify) return escapeHtml(text).replace(/\n/g, "<br>");
    return window.DOMPurify.sanitize(window.marked.parse(String(text)), PURIFY);
  };
  // Remote images the user chose to show on this page; a re-render (streaming) keeps them shown.
  const shownImages = new Set();
  function remoteImageFrame(url, alt) {
    // The page's img-src allows our own origin only; a sandboxed frame (no script, no referrer) shows the one
    // image the user asked for.
    return el("iframe", { class: "remote-image-frame", src: url, title: alt || "Image from " + url.host, sandbox: "",
      referrerpolicy: "no-referrer", loading: "lazy" });
  }
  function remoteImagePlaceholder(img) {
    const url = new URL(img.getAttribute("data-remote-src"));
    const alt = img.getAttribute("alt") || "";
    if (shownImages.has(url.href)) return remoteImageFrame(url, alt);
    const holder = el("span", { class: "remote-image", "data-src": url.href },
      el("span", { class: "remote-image-text" }, "Image from ", el("strong", { text: url.host }), alt ? ": " + alt : ""));
    holder.append(el("button", { type: "button", class: "btn remote-image-show", text: "Show image",
      onclick: (event) => {
        event.preventDefault();
        event.stopPropagation();
        shownImages.add(url.href);
        holder.replaceWith(remoteImageFrame(url, alt));
      } }));
    return holder;
  }
  Parley.renderMarkdown = function (node, text) {
    node.innerHTML = Parley.markdownToSafeHtml(text);
    node.querySelectorAll("img[data-remote-src]").forEach((img) => img.replaceWith(remoteImagePlaceholder(img)));
    node.querySelectorAll("pre code").forEach((code) => {
      if (window.hljs) {
        try {
          window.hljs.highlightElement(code);
        } catch (e) {
          /* an unknown language stays plain */
        }
      }
      const pre = code.parentElement;
      pre.append(
        el("button", {
          class: "copy-btn",
          type: "button",
          text: "Copy",
          onclick: () => navigator.clipboard && navigator.clipboard.writeText(code.textContent).then(() => Parley.toast("Copied")),
        })
      );
    });
  };

  // ---------- formatting ----------
  Parley.fmtMs = (ms) => (ms === null || ms === undefined ? "" : ms < 1000 ? Math.round(ms) + " ms" : (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s");
  Parley.fmtCost = (c) => {
    if (c === null || c === undefined || c === "") return "";
    const n = Number(c);
    if (!isFinite(n)) return "";
    return "$" + (n === 0 ? "0" : n < 0.01 ? n.toFixed(5) : n.toFixed(4));
  };

  // Forms that ask before they post (inline handlers are barred by the page's CSP).
  document.addEventListener("submit", (e) => {
    const form = e.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) e.preventDefault();
  });

  // ---------- sidebar: mobile toggle, rename, delete ----------
  document.addEventListener("click", (e) => {
    const app = document.getElementById("app");
    if (!app) return;
    if (e.target.closest("[data-open-nav]")) app.classList.add("nav-open");
    else if (e.target.closest("[data-close-nav]")) app.classList.remove("nav-open");
  });
  const phone = () => window.matchMedia("(max-width: 800px)").matches;
  document.addEventListener("keydown", (e) => {
    const app = document.getElementById("app");
    if (e.key !== "Escape" || !app || !app.classList.contains("nav-open") || document.querySelector("dialog[open]")) return;
    app.classList.remove("nav-open");
    const toggle = document.querySelector("[data-open-nav]");
    if (toggle) toggle.focus();
    e.stopImmediatePropagation();
  }, true);
  document.addEventListener("DOMContentLoaded", () => {
    const app = document.getElementById("app");
    // A search reloads the page with ?q=: on a phone, show its results in the drawer rather than hide them.
    if (app && phone() && new URLSearchParams(location.search).get("q")) app.classList.add("nav-open");
  });
  // The skip link moves the focus itself (a fragment link only scrolls to a form field).
  document.addEventListener("click", (e) => {
    const skip = e.target.closest(".skip-link");
    const target = skip && document.querySelector(skip.getAttribute("href"));
    if (!target) return;
    e.preventDefault();
    target.focus();
  });
  // One tab stop per conversation: its link. Arrow right reaches rename and delete, F2 renames, Delete deletes.
  document.addEventListener("keydown", (e) => {
    const item = e.target.closest && e.target.closest(".conv-item");
    if (!item) return;
    const stops = [item.querySelector("a"), ...item.querySelectorAll(".conv-tools button")];
    const at = stops.indexOf(e.target);
    if (at < 0) return;
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      e.preventDefault();
      const next = stops[Math.max(0, Math.min(stops.length - 1, at + (e.key === "ArrowRight" ? 1 : -1)))];
      next.focus();
    } else if (e.key === "F2" && at === 0) {
      e.preventDefault();
      item.querySelector("[data-rename]").click();
    } else if (e.key === "Delete" && at === 0) {
      e.preventDefault();
      item.querySelector("[data-delete]").click();
    }
  });

  Parley.renameConversation = async function (id, title) {
    const data = await Parley.api("PATCH", `/api/v1/conversations/${id}/`, { title });
    const newTitle = (data && data.title) || title;
    document.querySelectorAll(`.conv-item[data-conversation-id="${id}"] a`).forEach((a) => {
      a.textContent = newTitle || "New chat";
      a.title = newTitle;
    });
    document.dispatchEvent(new CustomEvent("parley:renamed", { detail: { id, title: newTitle } }));
    return newTitle;
  };

  function startInlineRename(item) {
    const link = item.querySelector("a");
    const id = item.dataset.conversationId;
    const input = el("input", { class: "input", value: link.textContent.trim(), "aria-label": "New title", maxlength: "200" });
    input.style.margin = "2px";
    input.style.minHeight = "30px";
    link.hidden = true;
    item.insertBefore(input, link);
    input.focus();
    input.select();
    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const title = input.value.trim();
      input.remove();
      link.hidden = false;
      if (save && title && title !== link.textContent.trim()) {
        try {
          await Parley.renameConversation(id, title);
        } catch (err) {
          Parley.toast("Rename failed: " + err.message);
        }
      }
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        finish(true);
      } else if (e.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
  }
  Parley.startInlineRename = startInlineRename;

  document.addEventListener("click", async (e) => {
    const item = e.target.closest(".conv-item");
    if (!item) return;
    if (e.target.closest("[data-rename]")) {
      e.preventDefault();
      startInlineRename(item);
    } else if (e.target.closest("[data-delete]")) {
      e.preventDefault();
      const title = item.querySelector("a").textContent.trim();
      if (!window.confirm(`Delete “${title}” and all its messages?`)) return;
      const id = item.dataset.conversationId;
      try {
        await Parley.api("DELETE", `/api/v1/conversations/${id}/`);
      } catch (err) {
        if (err.status !== 404) {
          Parley.toast("Delete failed: " + err.message);
          return;
        }
      }
      if (item.classList.contains("active")) window.location.href = "/";
      else item.remove();
    }
  });

  // ---------- merge jobs ----------
  /** Follows a merge job's stream (status, content, error, merge_complete); falls back to polling its state.
   *  onText gets the whole text so far: `offset` places a delta, a new `round` starts the text over. */
  Parley.followMerge = async function (jobId, { onStatus, onText, onError, onComplete }) {
    let finished = false;
    let text = "";
    let round = null;
    const finish = (evt) => {
      if (finished) return;
      finished = true;
      if (evt.status === "failed") onError(evt.error || evt.message || "The merge failed");
      else onComplete(evt);
    };
    try {
      await Parley.streamSSE(`/api/v1/merges/${jobId}/stream/`, {
        onEvent: (evt) => {
          if (evt.type === "status") onStatus(evt);
          else if (evt.type === "content") {
            if (evt.round !== undefined && evt.round !== round) {
              if (round !== null) text = "";
              round = evt.round;
            }
            const at = typeof evt.offset === "number" ? Math.min(evt.offset, text.length) : text.length;
            text = text.slice(0, at) + (evt.content || "");
            onText(text);
          } else if (evt.type === "error") {
            finished = true;
            onError(evt.message || evt.detail || evt.code || "The merge failed");
          } else if (evt.type === "merge_complete") finish(evt);
        },
      });
    } catch (err) {
      /* the stream is optional: polling below finds the outcome */
    }
    while (!finished) {
      const job = await Parley.api("GET", `/api/v1/merges/${jobId}/`);
      onStatus(job);
      if (job.status === "succeeded") {
        finish({ status: "succeeded", conversation_id: job.result_conversation_id, message_id: job.result_message_id });
      } else if (job.status === "failed") {
        finish({ status: "failed", error: job.error });
      } else await new Promise((r) => setTimeout(r, 1000));
    }
  };

  // ---------- model picker ----------
  let catalogCache = null;
  async function loadCatalog() {
    if (catalogCache) return catalogCache;
    const data = await Parley.api("GET", "/api/v1/models/");
    catalogCache = Parley.results(data);
    return catalogCache;
  }
  Parley.loadCatalog = loadCatalog;

  function perMillion(p) {
    const n = Number(p);
    if (p === null || p === undefined || p === "" || !isFinite(n)) return null;
    const v = n * 1e6;
    return "$" + (v < 1 ? v.toFixed(2) : v.toFixed(v < 10 ? 2 : 0));
  }

  /** Opens the picker; resolves with the chosen model ids, or null when cancelled. */
  Parley.pickModels = function ({ multi = false, selected = [] } = {}) {
    const dialog = document.getElementById("model-picker");
    if (!dialog) return Promise.resolve(null);
    const q = dialog.querySelector("#picker-q");
    const provider = dialog.querySelector("#picker-provider");
    const list = dialog.querySelector("#picker-list");
    const status = dialog.querySelector("#picker-status");
    const chosen = new Set(selected);
    let models = [];

    function draw() {
      const term = q.value.trim().toLowerCase();
      const prov = provider.value;
      const shown = models.filter(
        (m) =>
          (!prov || m.provider === prov) &&
          (!term || m.id.toLowerCase().includes(term) || (m.name || "").toLowerCase().includes(term))
      );
      list.replaceChildren();
      const typed = q.value.trim();
      if (typed.includes("/") && !models.some((m) => m.id === typed)) {
        shown.unshift({ id: typed, name: "Use “" + typed + "”", provider: typed.split("/")[0], custom: true });
      }
      for (const m of shown.slice(0, 300)) {
        const on = chosen.has(m.id);
        const price = m.pricing ? perMillion(m.pricing.prompt) : null;
        const side = [m.context_length ? Math.round(m.context_length / 1000) + "k ctx" : null, price ? price + "/M in" : null]
          .filter(Boolean)
          .join(" · ");
        const opt = el(
          "button",
          { type: "button", class: "model-option" + (on ? " on" : ""), role: "option", "aria-selected": on ? "true" : "false", "data-model-id": m.id },
          multi ? el("input", { type: "checkbox", tabindex: "-1", checked: on }) : null,
          el("div", { class: "mo-main" },
            el("div", { class: "mo-name", text: m.name || m.id },
              ...(m.capabilities || []).filter((c) => c !== "text" && c !== "chat").slice(0, 3).map((c) => el("span", { class: "badge badge-accent mo-cap", text: c }))),
            el("div", { class: "mo-id", text: m.id })),
          el("div", { class: "mo-side" }, el("span", { class: "badge", text: m.provider || "" }), side ? el("div", { text: side }) : null)
        );
        opt.addEventListener("click", () => {
          if (multi) {
            if (chosen.has(m.id)) chosen.delete(m.id);
            else chosen.add(m.id);
            draw();
          } else {
            chosen.clear();
            chosen.add(m.id);
            dialog.close("ok");
          }
        });
        list.append(opt);
      }
      status.textContent = shown.length ? (multi ? chosen.size + " selected" : "") : "No model matches. Type a full id such as openai/gpt-4o to use it anyway.";
    }

    return new Promise((resolve) => {
      q.value = "";
      provider.value = "";
      status.textContent = "Loading the catalog…";
      list.replaceChildren();
      const onInput = () => draw();
      q.addEventListener("input", onInput);
      provider.addEventListener("change", onInput);
      // Enter picks the first match; pressed before the catalog has loaded, it waits for it (never the model
      // that was chosen before). Arrow keys walk the list.
      let loaded = false;
      let pendingEnter = false;
      const pickFirst = () => {
        const first = list.querySelector(".model-option");
        if (first) first.click();
      };
      q.onkeydown = (e) => {
        if (e.key === "Enter") {
          e.preventDefault();
          const typed = q.value.trim();
          if (loaded || typed.includes("/")) pickFirst();
          else {
            pendingEnter = true;
            status.textContent = "Loading the catalog… Enter picks the first match once it is here.";
          }
        } else if (e.key === "ArrowDown") {
          e.preventDefault();
          const first = list.querySelector(".model-option");
          if (first) first.focus();
        }
      };
      list.onkeydown = (e) => {
        const options = Array.from(list.querySelectorAll(".model-option"));
        const at = options.indexOf(document.activeElement);
        if (at < 0) return;
        const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: options.length - 1 }[e.key];
        if (to === undefined) return;
        e.preventDefault();
        if (to < 0) q.focus();
        else if (options[Math.min(to, options.length - 1)]) options[Math.min(to, options.length - 1)].focus();
      };
      dialog.addEventListener(
        "close",
        () => {
          q.removeEventListener("input", onInput);
          provider.removeEventListener("change", onInput);
          resolve(dialog.returnValue === "ok" && chosen.size ? Array.from(chosen) : null);
        },
        { once: true }
      );
      dialog.returnValue = "";
      dialog.showModal();
      q.focus();
      loadCatalog()
        .then((m) => {
          models = m;
          // Offer the providers the catalog actually has (custom endpoints included).
          const slugs = Array.from(new Set(m.map((x) => x.provider).filter(Boolean))).sort();
          if (slugs.length) {
            provider.replaceChildren(el("option", { value: "", text: "All providers" }), ...slugs.map((p) => el("option", { value: p, text: p })));
          }
          loaded = true;
          draw();
          if (pendingEnter) {
            pendingEnter = false;
            pickFirst();
          }
        })
        .catch((err) => {
          loaded = true;
          pendingEnter = false;
          status.textContent = "The catalog could not be loaded (" + err.message + "). Type a model id such as openai/gpt-4o.";
        });
    });
  };
})();
