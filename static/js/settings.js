/* Keys, custom endpoints and presets pages: writes go through the JSON API, then the page redraws. */
(function () {
  "use strict";
  const P = window.Parley;
  const { el } = P;
  const $ = (id) => document.getElementById(id);

  // ---------- a new API token, shown once ----------
  const copyToken = $("copy-token");
  if (copyToken) {
    copyToken.addEventListener("click", () => {
      navigator.clipboard.writeText($("new-token-value").textContent).then(() => P.toast("Token copied"));
    });
  }

  // ---------- providers overview ----------
  const providerList = $("provider-list");
  if (providerList) {
    P.api("GET", "/api/v1/providers/")
      .then((data) => {
        const rows = Array.isArray(data) ? data : (data && (data.providers || data.results)) || [];
        providerList.replaceChildren();
        const sources = { user: "your key", shared: "shared key", env: "server" };
        for (const p of rows) {
          const slug = p.slug || p.provider || p.id || p.name;
          const ok = !!p.configured;
          const where = sources[p.source || p.key_source] || "";
          providerList.append(
            el("span", { class: "badge " + (ok ? "badge-ok" : ""), title: ok ? "configured" : "not configured", "data-provider": slug },
              (ok ? "✓ " : "") + slug + (ok && where ? " · " + where : ""))
          );
        }
        if (!rows.length) providerList.append(el("span", { class: "faint", text: "No providers reported." }));
        $("providers-status").textContent = rows.filter((p) => p.configured).length + " of " + rows.length + " ready";
      })
      .catch((err) => {
        providerList.replaceChildren(el("span", { class: "faint", text: "Provider status unavailable (" + err.message + ")." }));
      });
  }

  // ---------- keys ----------
  const keyForm = $("key-form");
  if (keyForm) {
    keyForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { provider: $("key-provider").value, api_key: $("key-value").value.trim() };
      const label = $("key-label").value.trim();
      if (label) body.label = label;
      if (!body.api_key) return;
      $("key-status").textContent = "Saving…";
      try {
        await P.api("POST", "/api/v1/keys/", body);
        $("key-value").value = "";
        window.location.reload();
      } catch (err) {
        $("key-status").textContent = "Not saved: " + err.message;
      }
    });
    $("key-table").addEventListener("click", async (e) => {
      const row = e.target.closest("tr[data-key-id]");
      if (!row) return;
      const id = row.dataset.keyId;
      if (e.target.closest("[data-validate]")) {
        const cell = row.querySelector("[data-valid]");
        cell.replaceChildren(el("span", { class: "badge", text: "checking…" }));
        try {
          const res = await P.api("POST", `/api/v1/keys/${id}/validate/`, {});
          cell.replaceChildren(
            el("span", { class: "badge " + (res.valid ? "badge-ok" : "badge-danger"), title: res.detail || "", text: res.valid ? "valid" : "invalid" })
          );
          if (!res.valid && res.detail) P.toast(res.detail);
        } catch (err) {
          cell.replaceChildren(el("span", { class: "badge badge-warn", title: err.message, text: "check failed" }));
        }
      } else if (e.target.closest("[data-delete-key]")) {
        if (!window.confirm("Delete this key?")) return;
        try {
          await P.api("DELETE", `/api/v1/keys/${id}/`);
        } catch (err) {
          if (err.status !== 404) return P.toast("Delete failed: " + err.message);
        }
        window.location.reload();
      }
    });
  }

  // ---------- custom endpoints ----------
  const endpointForm = $("endpoint-form");
  if (endpointForm) {
    endpointForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { name: $("ep-name").value.trim(), slug: $("ep-slug").value.trim(), base_url: $("ep-url").value.trim() };
      const key = $("ep-key").value.trim();
      if (key) body.api_key = key;
      if ($("ep-shared") && $("ep-shared").checked) body.shared = true;
      $("endpoint-status").textContent = "Saving…";
      try {
        await P.api("POST", "/api/v1/endpoints/", body);
        window.location.reload();
      } catch (err) {
        $("endpoint-status").textContent = "Not saved: " + err.message;
      }
    });
    $("endpoint-table").addEventListener("click", async (e) => {
      const row = e.target.closest("tr[data-endpoint-id]");
      if (!row || !e.target.closest("[data-delete-endpoint]")) return;
      if (!window.confirm("Delete this endpoint?")) return;
      try {
        await P.api("DELETE", `/api/v1/endpoints/${row.dataset.endpointId}/`);
      } catch (err) {
        if (err.status !== 404) return P.toast("Delete failed: " + err.message);
      }
      window.location.reload();
    });
  }

  // ---------- presets ----------
  const presetForm = $("preset-form");
  if (presetForm) {
    const modelInput = $("preset-model");
    $("preset-pick-model").addEventListener("click", async () => {
      const picked = await P.pickModels({ multi: false, selected: modelInput.value ? [modelInput.value] : [] });
      if (picked) modelInput.value = picked[0];
    });
    const numOrNull = (id, parse) => {
      const v = $(id).value.trim();
      return v === "" ? null : parse(v);
    };
    presetForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const params = {};
      const t = numOrNull("preset-temperature", parseFloat);
      const m = numOrNull("preset-max-tokens", (v) => parseInt(v, 10));
      if (t !== null) params.temperature = t;
      if (m !== null) params.max_tokens = m;
      const body = { name: $("preset-name").value.trim(), model: modelInput.value.trim(), system_prompt: $("preset-system").value, params };
      const id = presetForm.dataset.editing;
      $("preset-status").textContent = "Saving…";
      try {
        if (id) await P.api("PATCH", `/api/v1/presets/${id}/`, body);
        else await P.api("POST", "/api/v1/presets/", body);
        window.location.reload();
      } catch (err) {
        $("preset-status").textContent = "Not saved: " + err.message;
      }
    });
    const presets = P.readJSON("presets-data") || [];
    document.addEventListener("click", async (e) => {
      const row = e.target.closest("[data-preset-id]");
      if (!row) return;
      const preset = presets.find((p) => String(p.id) === row.dataset.presetId);
      if (e.target.closest("[data-edit-preset]") && preset) {
        presetForm.dataset.editing = preset.id;
        $("preset-name").value = preset.name;
        modelInput.value = preset.model || "";
        $("preset-system").value = preset.system_prompt || "";
        $("preset-temperature").value = (preset.params || {}).temperature ?? "";
        $("preset-max-tokens").value = (preset.params || {}).max_tokens ?? "";
        $("preset-form-title").textContent = "Edit “" + preset.name + "”";
        $("preset-submit").textContent = "Save changes";
        presetForm.scrollIntoView({ behavior: "smooth" });
      } else if (e.target.closest("[data-delete-preset]")) {
        if (!window.confirm("Delete this preset?")) return;
        try {
          await P.api("DELETE", `/api/v1/presets/${row.dataset.presetId}/`);
        } catch (err) {
          if (err.status !== 404) return P.toast("Delete failed: " + err.message);
        }
        window.location.reload();
      } else if (e.target.closest("[data-use-preset]") && preset) {
        try {
          const conv = await P.api("POST", "/api/v1/conversations/", {
            title: preset.name,
            default_model: preset.model || undefined,
            system_prompt: preset.system_prompt,
            params: preset.params || {},
          });
          window.location.href = `/c/${conv.id}/`;
        } catch (err) {
          P.toast("Could not start a chat: " + err.message);
        }
      }
    });
  }
})();
