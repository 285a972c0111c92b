/*
 * qa chat widget. One tag on any page:
 *   <script src="http://HOST/widget.js" data-title="Ask the documents" data-lang="zh"></script>
 * adds a floating button that opens the app's compact chat (/embed) in an iframe.
 * Everything comes from the app that served this file; nothing from a CDN.
 * Optional attributes: data-position="left" (default right), data-color="#2563eb".
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__qaWidgetLoaded) return;
  window.__qaWidgetLoaded = true;

  var origin = new URL(script.src, document.baseURI).origin;
  var lang = script.getAttribute("data-lang") === "en" ? "en" : "zh";
  var title = script.getAttribute("data-title") || (lang === "en" ? "Ask the documents" : "文档问答");
  var side = script.getAttribute("data-position") === "left" ? "left" : "right";
  var color = script.getAttribute("data-color") || "#2563eb";
  var labels = lang === "en"
    ? { open: "Open chat", close: "Close chat" }
    : { open: "打开问答", close: "关闭问答" };

  var style = document.createElement("style");
  style.textContent = [
    "#qa-widget-button{position:fixed;bottom:20px;" + side + ":20px;z-index:2147483000;",
    "width:56px;height:56px;border-radius:50%;border:none;cursor:pointer;color:#fff;",
    "box-shadow:0 4px 14px rgba(0,0,0,.25);font:600 24px/56px system-ui,sans-serif;padding:0}",
    "#qa-widget-button:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}",
    "#qa-widget-panel{position:fixed;bottom:88px;" + side + ":20px;z-index:2147483000;",
    "width:380px;height:600px;max-width:calc(100vw - 24px);max-height:calc(100vh - 110px);",
    "background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);overflow:hidden;",
    "display:none;flex-direction:column}",
    "#qa-widget-panel.qa-open{display:flex}",
    "#qa-widget-header{display:flex;align-items:center;justify-content:space-between;",
    "padding:8px 12px;color:#fff;font:600 15px system-ui,sans-serif}",
    "#qa-widget-close{background:none;border:none;color:#fff;font-size:22px;cursor:pointer;line-height:1}",
    "#qa-widget-frame{flex:1;border:0;width:100%}",
    "@media (max-width:480px){#qa-widget-panel{" + side + ":0;bottom:0;width:100vw;max-width:100vw;",
    "height:100%;max-height:100%;border-radius:0}}"
  ].join("");
  document.head.appendChild(style);

  var button = document.createElement("button");
  button.id = "qa-widget-button";
  button.type = "button";
  button.style.background = color;
  button.textContent = "?";
  button.setAttribute("aria-label", labels.open);
  button.setAttribute("aria-expanded", "false");

  var panel = document.createElement("div");
  panel.id = "qa-widget-panel";
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", title);

  var header = document.createElement("div");
  header.id = "qa-widget-header";
  header.style.background = color;
  var heading = document.createElement("span");
  heading.textContent = title; // text, never HTML
  var close = document.createElement("button");
  close.id = "qa-widget-close";
  close.type = "button";
  close.textContent = "×";
  close.setAttribute("aria-label", labels.close);
  header.appendChild(heading);
  header.appendChild(close);
  panel.appendChild(header);

  var frame = null; // created on first open, so a closed widget costs the host page nothing

  function toggle(open) {
    if (open && !frame) {
      frame = document.createElement("iframe");
      frame.id = "qa-widget-frame";
      frame.title = title;
      frame.src = origin + "/embed/?lang=" + lang;
      panel.appendChild(frame);
    }
    panel.classList.toggle("qa-open", open);
    button.setAttribute("aria-expanded", String(open));
    button.setAttribute("aria-label", open ? labels.close : labels.open);
    button.textContent = open ? "×" : "?";
  }

  button.addEventListener("click", function () {
    toggle(!panel.classList.contains("qa-open"));
  });
  close.addEventListener("click", function () {
    toggle(false);
    button.focus();
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && panel.classList.contains("qa-open")) toggle(false);
  });

  function mount() {
    document.body.appendChild(panel);
    document.body.appendChild(button);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
