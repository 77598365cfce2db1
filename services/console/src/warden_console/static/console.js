// Live updates without any external script: poll the console's JSON API and tick countdowns.
"use strict";
(function () {
  const POLL_MS = 2000;

  function fmt(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function tick() {
    document.querySelectorAll(".countdown[data-seconds]").forEach(function (el) {
      const left = Math.max(0, Number(el.dataset.seconds) - 1);
      el.dataset.seconds = String(left);
      el.textContent = left > 0 ? fmt(left) : "expired";
      el.classList.toggle("urgent", left < 120);
    });
  }

  function cell(text, href) {
    const td = document.createElement("td");
    if (href) {
      const a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      td.appendChild(a);
    } else {
      td.textContent = text;
    }
    return td;
  }

  function renderPending(items) {
    const body = document.querySelector("#pending tbody");
    const rows = items.map(function (a) {
      const tr = document.createElement("tr");
      tr.dataset.approval = a.approval_id;
      const when = cell(fmt(a.seconds_left));
      when.className = "countdown";
      when.dataset.seconds = String(a.seconds_left);
      const tier = a.tier + (a.approvals_required > 1 ? " · " + a.approvals_required + " approvals" : "");
      [when, cell(a.kind, a.url), cell(a.target), cell(a.environment), cell(tier), cell(a.summary)].forEach(
        function (td) { tr.appendChild(td); });
      return tr;
    });
    body.replaceChildren.apply(body, rows);
    document.getElementById("empty").hidden = items.length > 0;
  }

  async function poll(url, render) {
    try {
      const resp = await fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } });
      if (resp.status === 401) { window.location.assign("/login"); return; }
      if (resp.ok) { render(await resp.json()); }
      document.body.classList.remove("offline");
    } catch (err) {
      document.body.classList.add("offline");
    }
  }

  function renderIncident(data) {
    const status = document.getElementById("incident-status");
    if (status) { status.textContent = data.status; }
    data.approvals.forEach(function (a) {
      const badge = document.querySelector("#approval-" + CSS.escape(a.approval_id) + " [data-role=approval-state]");
      if (badge && badge.textContent !== a.state) {
        badge.textContent = a.state;
        badge.className = "badge state-" + a.state;
      }
    });
    const list = document.getElementById("timeline");
    if (list && data.entries.length !== list.querySelectorAll("li[data-seq]").length) {
      list.replaceChildren.apply(list, data.entries.map(function (e) {
        const li = document.createElement("li");
        li.dataset.seq = String(e.seq);
        li.textContent = "#" + e.seq + " " + e.at.slice(11, 19) + " " + e.actor + " " + e.text;
        return li;
      }));
    }
  }

  setInterval(tick, 1000);
  if (document.getElementById("pending")) {
    setInterval(function () { poll("/api/approvals", function (d) { renderPending(d.pending); }); }, POLL_MS);
  }
  const incident = document.getElementById("incident-status");
  if (incident) {
    const url = "/api" + window.location.pathname;
    setInterval(function () { poll(url, renderIncident); }, POLL_MS);
  }
})();
