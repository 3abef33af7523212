/* Usage figures on other pages: a compare's estimated cost before it runs, a conversation's running totals. */
(function () {
  "use strict";
  const P = window.Parley;
  const $ = (id) => document.getElementById(id);

  function money(value) {
    if (value === null || value === undefined) return "unknown";
    if (value === 0) return "$0";
    if (value >= 0.995) return "$" + value.toFixed(2);
    return value >= 0.0001 ? "$" + value.toFixed(4).replace(/0+$/, "").replace(/\.$/, "") : "<$0.0001";
  }

  function debounce(fn, ms) {
    let timer = null;
    return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  // ---- compare: POST /api/v1/compare/estimate/ for the chosen models and the prompt as typed ----
  const estimate = $("compare-estimate");
  if (estimate) {
    const prompt = $("compare-prompt");
    const chosen = () => Array.from(document.querySelectorAll("#compare-models .chip[data-model]")).map((c) => c.dataset.model);
    let asked = 0;
    const refresh = debounce(async () => {
      const models = chosen();
      const text = prompt.value;
      if (!models.length || !text.trim()) { estimate.textContent = ""; estimate.title = ""; return; }
      const mine = ++asked;
      try {
        const data = await P.api("POST", "/api/v1/compare/estimate/", { prompt: text, models });
        if (mine !== asked) return;
        const rows = data.models || [];
        const known = rows.filter((r) => r.prompt_cost !== null);
        const low = known.reduce((sum, r) => sum + r.prompt_cost, 0);
        const high = known.reduce((sum, r) => sum + r.max_cost, 0);
        const unknown = rows.length - known.length;
        estimate.textContent = known.length
          ? "Estimated " + money(low) + " – " + money(high) + (unknown ? " (+" + unknown + " unpriced)" : "")
          : "No prices known for these models";
        estimate.title = rows.map((r) => r.model + ": " + money(r.prompt_cost) + " – " + money(r.max_cost) +
          " (" + r.prompt_tokens + " prompt tokens, up to " + r.max_completion_tokens + " more)").join("\n");
        estimate.classList.remove("usage-over");
      } catch (err) {
        if (mine !== asked) return;
        estimate.textContent = err.code === "budget_exceeded" ? "Monthly budget used up" : "";
        estimate.title = err.code === "budget_exceeded" ? err.message : "";
        estimate.classList.toggle("usage-over", err.code === "budget_exceeded");
      }
    }, 400);
    prompt.addEventListener("input", refresh);
    new MutationObserver(refresh).observe($("compare-models"), { childList: true });
    refresh();
  }

  // ---- a conversation's header: its totals, refreshed when a reply ends (the thread changes) ----
  const totals = $("conv-totals");
  const thread = $("thread");
  if (totals && thread) {
    const id = document.getElementById("chat").dataset.conversationId;
    const draw = (t) => {
      totals.textContent = t.replies ? money(t.cost) + " · " + (t.prompt_tokens + t.completion_tokens) + " tokens" : "";
      totals.title = t.replies ? t.replies + " model calls, " + t.prompt_tokens + " prompt and " +
        t.completion_tokens + " completion tokens" : "";
    };
    const refresh = debounce(async () => {
      try { draw((await P.api("GET", "/api/v1/conversations/" + id + "/")).totals); } catch (err) { /* keep the last */ }
    }, 1500);
    new MutationObserver(refresh).observe(thread, { childList: true, subtree: true });
  }
})();
