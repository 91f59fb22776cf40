// tvbridge pages: the journal's live updates and the copy buttons. Everything else is plain HTML.
"use strict";

// Journal: the server names the alerts that changed (server-sent events); fetch their rows with the
// page's filters and put them in place, keeping a row open if the trader opened it.
function followJournal() {
  const list = document.getElementById("alerts");
  if (!list || list.dataset.live !== "on" || !window.EventSource) return;
  const dot = document.getElementById("live-dot");
  const text = document.getElementById("live-text");
  const source = new EventSource("/journal/stream");
  source.onopen = () => { dot.classList.add("on"); text.textContent = "live"; };
  source.onerror = () => { dot.classList.remove("on"); text.textContent = "reconnecting…"; };
  source.addEventListener("alerts", async (event) => {
    const ids = JSON.parse(event.data);
    const query = list.dataset.query;
    const response = await fetch(`/journal/rows?ids=${ids.join(",")}${query ? "&" + query : ""}`,
                                 { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const holder = document.createElement("div");
    holder.innerHTML = await response.text();
    for (const row of Array.from(holder.children).reverse()) {  // oldest first, so newest ends on top
      const old = document.getElementById(row.id);
      if (old) {
        row.open = old.open;
        row.querySelectorAll("details").forEach((inner, i) => {
          const before = old.querySelectorAll("details")[i];
          if (before) inner.open = before.open;
        });
        old.replaceWith(row);
      } else {
        row.classList.add("fresh");
        insertById(list, row);
      }
    }
    const empty = document.getElementById("empty");
    if (empty && list.children.length) empty.remove();
  });
}

// The strip (day P&L, positions, last alert, health): the server sends its new HTML when the
// journal commits or the health changes; put it in place, kept open if the trader opened it.
function followStrip() {
  const strip = document.getElementById("strip");
  if (!strip || !window.EventSource) return;
  const source = new EventSource("/strip/stream");
  source.addEventListener("strip", (event) => {
    const current = document.getElementById("strip");
    const holder = document.createElement("div");
    holder.innerHTML = JSON.parse(event.data).html;  // rendered and escaped by the server
    const fresh = holder.querySelector("#strip");
    if (!current || !fresh) return;
    fresh.open = current.open;
    current.replaceWith(fresh);
  });
}

function insertById(list, row) {
  const id = Number(row.dataset.alertId);
  for (const other of list.children) {
    if (Number(other.dataset.alertId) < id) { list.insertBefore(row, other); return; }
  }
  list.appendChild(row);
}

// Copy buttons: <button data-copy="element-id">; the text of an input/textarea or element.
function copyButtons() {
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const value = "value" in source ? source.value : source.textContent;
      try {
        await navigator.clipboard.writeText(value);
      } catch (err) {  // no clipboard permission: select it so Ctrl+C works
        source.select ? source.select() : window.getSelection().selectAllChildren(source);
        document.execCommand("copy");
      }
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = label; }, 1500);
    });
  });
}

// Forms that change something for real ask first: <form data-confirm="…">.
function confirmForms() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  followJournal();
  followStrip();
  copyButtons();
  confirmForms();
});
