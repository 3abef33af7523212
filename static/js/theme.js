/* Loaded in <head> before the page draws: resolves the user's theme (light, dark, or the system's) into
   <html data-resolved-theme>, which the stylesheet and the code-highlighting sheets follow, and keeps following
   the system while the user's choice is "system". */
(function () {
  "use strict";
  const root = document.documentElement;
  const query = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  function apply() {
    const choice = root.dataset.theme || "system";
    const dark = choice === "dark" || (choice === "system" && !!query && query.matches);
    root.dataset.resolvedTheme = dark ? "dark" : "light";
    for (const link of document.querySelectorAll("link[data-hljs]")) {
      link.media = link.dataset.hljs === root.dataset.resolvedTheme ? "all" : "not all";
    }
  }
  apply();
  if (query && query.addEventListener) query.addEventListener("change", apply);
  document.addEventListener("DOMContentLoaded", apply);
})();
