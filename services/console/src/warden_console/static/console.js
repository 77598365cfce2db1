// Live updates without any external script: poll the console's JSON API and tick countdowns.
"use strict";
(function () {
  const POLL_MS = 2000;

  function fmt(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // Every <time datetime> shows the viewer's local time and how long ago (or how soon), kept current.
  function relative(ms) {
    const s = Math.round(Math.abs(ms) / 1000);
    const text = s < 45 ? s + " s" : s < 5400 ? Math.round(s / 60) + " min" : s < 129600 ? Math.round(s / 3600) + " h"
      : Math.round(s / 86400) + " d";
    return ms >= 0 ? text + " ago" : "in " + text;
  }

  function localise(root) {
    const now = Date.now();
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      const at = new Date(el.getAttribute("datetime"));
      if (isNaN(at.getTime())) { return; }
      if (!el.title) { el.title = el.getAttribute("datetime"); }
      const sameDay = at.toDateString() === new Date(now).toDateString();
      const local = sameDay ? at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
        : at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
      el.textContent = local + " (" + relative(now - at.getTime()) + ")";
      el.dataset.localised = "1";
    });
  }

  function tick() {
    localise();
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
    const list = document.querySelector("#timeline tbody");
    if (list && data.entries.length !== list.querySelectorAll("tr[data-seq]").length) {
      list.replaceChildren.apply(list, data.entries.map(function (e) {
        const tr = document.createElement("tr");
        tr.dataset.seq = String(e.seq);
        const at = document.createElement("time");
        at.setAttribute("datetime", e.at);
        at.textContent = e.at;
        const when = cell("");
        when.appendChild(at);
        const reason = cell(e.reason || "");
        reason.className = "reason";
        [cell("#" + e.seq), when, cell(e.actor), cell(e.text), reason].forEach(function (td) { tr.appendChild(td); });
        return tr;
      }));
      localise(list);
    }
    const state = document.querySelector("#incident-head [data-role=state]");
    if (state) { state.textContent = data.status; }
  }

  localise();
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
