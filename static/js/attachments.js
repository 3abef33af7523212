/* Attachments: the composer's files (button, drag and drop, paste) uploaded at once, and their look in the thread. */
(function () {
  "use strict";
  const P = window.Parley;
  const { el, icon } = P;

  const KB = 1024;
  P.fmtBytes = (n) => (n < KB ? n + " B" : n < KB * KB ? Math.round(n / KB) + " KB" : (n / KB / KB).toFixed(1) + " MB");
  const contentUrl = (id) => `/api/v1/uploads/${id}/content/`;

  async function uploadFile(file) {
    const body = new FormData();
    body.append("file", file, file.name || "pasted-image.png");
    const res = await fetch("/api/v1/uploads/", {
      method: "POST", body, credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": P.csrfToken() },
    });
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (!res.ok) throw new P.ApiError(res.status, data && data.detail, data && data.code);
    return data;
  }

  // ---------- the full-size view ----------
  function openImage(url, name) {
    const dialog = document.getElementById("lightbox");
    if (!dialog) return window.open(url, "_blank", "noopener");
    const img = document.getElementById("lightbox-img");
    img.src = url;
    img.alt = name || "";
    document.getElementById("lightbox-open").href = url;
    dialog.showModal();
  }
  document.addEventListener("click", (e) => {
    const thumb = e.target.closest("[data-full-image]");
    if (!thumb) return;
    e.preventDefault();
    openImage(thumb.dataset.fullImage, thumb.dataset.name);
  });
  const lightbox = document.getElementById("lightbox");
  if (lightbox) lightbox.addEventListener("click", (e) => e.target === lightbox && lightbox.close());

  /** A message's attachments as shown in the thread: image thumbnails (open full size) and file chips. */
  P.attachmentList = function (attachments) {
    if (!attachments || !attachments.length) return null;
    const list = el("div", { class: "msg-files" });
    for (const a of attachments) {
      const url = a.url || contentUrl(a.id);
      if (a.kind === "image") {
        list.append(el("a", { href: url, class: "file-thumb", "data-full-image": url, "data-name": a.name, title: a.name },
          el("img", { src: a.preview || url, alt: a.name, loading: "lazy" })));
      } else {
        list.append(el("a", { href: url, class: "file-chip", title: a.name, download: a.name },
          icon("file"), el("span", { class: "file-name", text: a.name }), el("span", { class: "faint", text: P.fmtBytes(a.size || 0) })));
      }
    }
    return list;
  };

  /** The composer's pending files. `ids()` are the uploaded ones to send; `pending()` counts those still uploading. */
  P.composerFiles = function ({ form, input, maxBytes }) {
    const box = document.getElementById("composer-files");
    const picker = document.getElementById("attach-input");
    const button = document.getElementById("attach-btn");
    let items = []; // {key, file, name, size, kind, preview, state: uploading|ready|error, error, upload}
    let counter = 0;

    function draw() {
      box.hidden = !items.length;
      box.replaceChildren(...items.map(chip));
    }
    function chip(item) {
      const remove = el("button", { type: "button", class: "file-remove", "aria-label": "Remove " + item.name, title: "Remove",
        onclick: () => removeItem(item) }, icon("x"));
      const classes = "composer-file " + item.state + (item.preview ? " has-thumb" : "");
      const label = item.state === "error" ? item.error : item.state === "uploading" ? "Uploading…" : P.fmtBytes(item.size);
      const visual = item.preview
        ? el("img", { src: item.preview, alt: "", class: "composer-thumb" })
        : icon(item.state === "error" ? "x" : "file");
      return el("div", { class: classes, "data-file-key": item.key, title: item.name, role: item.state === "error" ? "alert" : null },
        visual, el("span", { class: "file-text" }, el("span", { class: "file-name", text: item.name }), el("span", { class: "file-status", text: label })), remove);
    }
    function removeItem(item) {
      items = items.filter((i) => i !== item);
      // Uploaded but never sent: tell the server now rather than at expiry.
      if (item.upload && !item.sent) P.api("DELETE", `/api/v1/uploads/${item.upload.id}/`).catch(() => {});
      draw();
      input.focus();
    }
    function preview(item) {
      if (!/^image\/(png|jpeg|webp|gif)$/.test(item.file.type)) return;
      const reader = new FileReader();
      reader.onload = () => {
        item.preview = reader.result;
        draw();
      };
      reader.readAsDataURL(item.file);
    }
    function add(fileList) {
      for (const file of fileList) {
        const item = { key: "f" + ++counter, file, name: file.name || "pasted-image.png", size: file.size, state: "uploading" };
        items.push(item);
        preview(item);
        if (file.size > maxBytes) {
          item.state = "error";
          item.error = `Too large: ${P.fmtBytes(file.size)} (the limit is ${P.fmtBytes(maxBytes)})`;
          continue;
        }
        if (!file.size) {
          item.state = "error";
          item.error = "The file is empty";
          continue;
        }
        uploadFile(file).then((upload) => {
          item.upload = upload;
          item.kind = upload.kind;
          item.state = "ready";
          draw();
        }, (err) => {
          item.state = "error";
          item.error = err.message;
          draw();
        });
      }
      draw();
    }

    button.addEventListener("click", () => picker.click());
    picker.addEventListener("change", () => {
      add(picker.files);
      picker.value = "";
    });
    input.addEventListener("paste", (e) => {
      const files = [...((e.clipboardData && e.clipboardData.files) || [])];
      if (!files.length) return;
      e.preventDefault();
      add(files);
    });
    const zone = form.closest(".chat") || form;
    let depth = 0;
    const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
    zone.addEventListener("dragenter", (e) => {
      if (!hasFiles(e)) return;
      depth++;
      form.classList.add("dropping");
    });
    zone.addEventListener("dragleave", () => {
      if (--depth <= 0) {
        depth = 0;
        form.classList.remove("dropping");
      }
    });
    zone.addEventListener("dragover", (e) => hasFiles(e) && e.preventDefault());
    zone.addEventListener("drop", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      form.classList.remove("dropping");
      add(e.dataTransfer.files);
    });

    return {
      pending: () => items.filter((i) => i.state === "uploading").length,
      failed: () => items.filter((i) => i.state === "error").length,
      /** The files to send, as the thread shows them; they leave the composer (restore() puts them back). */
      take() {
        const ready = items.filter((i) => i.state === "ready");
        ready.forEach((i) => (i.sent = true));
        items = items.filter((i) => i.state !== "ready");
        draw();
        return ready;
      },
      restore(taken) {
        taken.forEach((i) => (i.sent = false));
        items = taken.concat(items);
        draw();
      },
      ids: (taken) => taken.map((i) => i.upload.id),
      shown: (taken) => taken.map((i) => Object.assign({}, i.upload, { url: contentUrl(i.upload.id), preview: i.preview })),
    };
  };
})();
