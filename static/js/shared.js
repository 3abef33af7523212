/* The share page (/s/<token>/): each answer's markdown rendered with the chat page's safe renderer (app.js); the
   questions stay plain text, as in the thread. */
(function () {
  "use strict";
  const data = document.getElementById("shared-snapshot");
  if (!data || !window.Parley) return;
  const messages = JSON.parse(data.textContent);
  document.querySelectorAll("#shared-messages .msg-body[data-message]").forEach((body) => {
    const message = messages[Number(body.dataset.message)];
    if (message && typeof message.content === "string") window.Parley.renderMarkdown(body, message.content);
  });
})();
