/* Merge flow: choose conversations and a model, follow the job, open the merged conversation. */
(function () {
  "use strict";
  const P = window.Parley;
  const $ = (id) => document.getElementById(id);
  const config = P.readJSON("ui-config") || {};
  const form = $("merge-form");
  let model = localStorage.getItem("parley:model") || config.default_model || "";
  $("merge-model-label").textContent = model || "Choose a model";
  $("merge-model").addEventListener("click", async () => {
    const picked = await P.pickModels({ multi: false, selected: model ? [model] : [] });
    if (picked) $("merge-model-label").textContent = model = picked[0];
  });
  const chosen = () => Array.from(form.querySelectorAll("input[name=conversation]:checked"), (i) => i.value);
  form.addEventListener("change", () => {
    const n = chosen().length;
    $("merge-count").textContent = n < 2 ? "Select at least two." : n + " conversations selected";
    $("merge-run").disabled = n < 2;
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const ids = chosen();
    if (ids.length < 2 || !model) return;
    $("merge-run").disabled = true;
    $("merge-job").hidden = false;
    $("merge-job").scrollIntoView({ behavior: "smooth", block: "start" });
    $("merge-error").hidden = true;
    $("merge-open").hidden = true;
    const out = $("merge-output");
    out.replaceChildren();
    const state = $("merge-state");
    const body = { conversation_ids: ids, model };
    const instructions = $("merge-instructions").value.trim();
    if (instructions) body.instructions = instructions;
    const fail = (msg) => {
      $("merge-error").hidden = false;
      $("merge-error").textContent = msg;
      state.textContent = "failed";
      state.className = "badge badge-danger";
      $("merge-run").disabled = false;
    };
    try {
      const job = await P.api("POST", "/api/v1/merges/", body);
      state.textContent = job.status || "queued";
      await P.followMerge(job.id, {
        onStatus: (s) => {
          if (s.status) {
            state.textContent = s.status;
            state.className = "badge " + (s.status === "failed" ? "badge-danger" : s.status === "succeeded" ? "badge-ok" : "badge-accent");
          }
          if (s.progress != null) $("merge-progress").style.width = Math.min(100, s.progress) + "%";
        },
        onText: (text) => {
          P.renderMarkdown(out, text);
          out.scrollTop = out.scrollHeight;
        },
        onError: fail,
        onComplete: (done) => {
          state.textContent = "succeeded";
          state.className = "badge badge-ok";
          $("merge-progress").style.width = "100%";
          if (!out.textContent.trim()) out.textContent = "The merged conversation is ready.";
          if (done.conversation_id) {
            $("merge-open").href = `/c/${done.conversation_id}/`;
            $("merge-open").hidden = false;
          }
          $("merge-run").disabled = false;
        },
      });
    } catch (err) {
      fail(err.message);
    }
  });
})();
