// kubelite dashboard: a single page in plain JavaScript (no framework, no network beyond the
// dashboard's own backend). Lists come from the API server through the backend's proxy and are
// kept current by watches relayed as server-sent events (/watch); a pod's log is tailed live
// (/tail); charts come from /history; log search goes to the log store through the API server's
// service proxy.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g,
  (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const LOGSTORE = "/api/v1/namespaces/kube-system/services/logstore:http/proxy";

// ---- API ------------------------------------------------------------------------------------
async function api(method, path, body, contentType = "application/json") {
  const init = { method, headers: { "X-Kubelite-Dashboard": "1" } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = contentType;
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = text;
  try { data = JSON.parse(text); } catch (e) { /* plain text */ }
  if (!resp.ok) throw new Error((data && data.message) || `${resp.status} ${resp.statusText}`);
  return data;
}

function toast(message, bad = false) {
  const t = $("#toast");
  t.textContent = message;
  t.className = bad ? "toast bad" : "toast";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}

// ---- live collections: list, then watch from the list's resourceVersion ---------------------
const PATHS = {
  nodes: "/api/v1/nodes", namespaces: "/api/v1/namespaces", pods: "/api/v1/pods",
  events: "/api/v1/events", deployments: "/apis/apps/v1/deployments",
  replicasets: "/apis/apps/v1/replicasets", statefulsets: "/apis/apps/v1/statefulsets",
  daemonsets: "/apis/apps/v1/daemonsets",
};

// One Live per kind holds the objects; the Hub lists every kind, then follows all of them on ONE
// event stream (a browser keeps at most six connections per host open).
class Live {
  constructor() { this.items = new Map(); this.synced = false; }
  key(o) { return `${o.metadata.namespace || ""}/${o.metadata.name}`; }
  reset(items) { this.items = new Map(items.map((o) => [this.key(o), o])); this.synced = true; }
  apply(ev) {
    if (ev.type === "DELETED") this.items.delete(this.key(ev.object));
    else this.items.set(this.key(ev.object), ev.object);
  }
  list(ns) {
    const all = [...this.items.values()];
    return (ns ? all.filter((o) => o.metadata.namespace === ns) : all)
      .sort((a, b) => this.key(a).localeCompare(this.key(b)));
  }
  get(ns, name) { return this.items.get(`${ns || ""}/${name}`); }
}

const live = Object.fromEntries(Object.keys(PATHS).map((k) => [k, new Live()]));
const watched = (name) => live[name];

const hub = {
  source: null,
  timer: null,
  async start() {
    if (this.source) { this.source.close(); this.source = null; }
    try {
      const names = Object.keys(PATHS);
      const lists = await Promise.all(names.map((n) => api("GET", PATHS[n])));
      const q = new URLSearchParams();
      names.forEach((n, i) => {
        live[n].reset(lists[i].items);
        q.append("w", `${n}|${PATHS[n]}|${lists[i].metadata.resourceVersion}`);
      });
      changed();
      this.source = new EventSource(`/watch?${q}`);
      this.source.onmessage = (m) => { const d = JSON.parse(m.data); live[d.res].apply(d.event); changed(); };
      this.source.addEventListener("relist", () => this.restart(0));
      this.source.onerror = () => this.restart(2000);
      $("#live").className = "live";
    } catch (e) {
      $("#live").className = "live down";
      this.restart(3000);
    }
  },
  restart(delayMs) {
    if (this.source) { this.source.close(); this.source = null; }
    $("#live").className = "live down";
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(), delayMs);
  },
};

let pending = false;
function changed() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; if (current && current.update) current.update(); fillNamespaces(); });
}

// ---- formatting helpers -----------------------------------------------------------------------
function age(ts) {
  if (!ts) return "";
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 120) return `${Math.floor(s)}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function podStatus(p) {
  if (p.metadata.deletionTimestamp) return "Terminating";
  for (const cs of (p.status && p.status.containerStatuses) || []) {
    const st = cs.state || {};
    if (st.waiting && st.waiting.reason) return st.waiting.reason;
    if (st.terminated && st.terminated.reason && p.status.phase === "Running") return st.terminated.reason;
  }
  return (p.status && p.status.phase) || "Pending";
}

function badge(text) {
  const ok = ["Running", "Ready", "Succeeded", "Completed", "Active", "Normal", "True"];
  const warn = ["Pending", "ContainerCreating", "Terminating", "Unknown"];
  const cls = ok.includes(text) ? "ok" : warn.includes(text) ? "warn" : "bad";
  return `<span class="badge ${cls}">${esc(text)}</span>`;
}

function nodeReady(n) {
  const c = ((n.status && n.status.conditions) || []).find((x) => x.type === "Ready");
  return c && c.status === "True" ? "Ready" : c && c.status === "Unknown" ? "Unknown" : "NotReady";
}

function readyCount(p) {
  const cs = (p.status && p.status.containerStatuses) || [];
  return `${cs.filter((c) => c.ready).length}/${(p.spec.containers || []).length}`;
}

function restarts(p) {
  return ((p.status && p.status.containerStatuses) || []).reduce((n, c) => n + (c.restartCount || 0), 0);
}

// Replace a region's HTML only when it changed, and never under the user's cursor (a scale box
// being typed into keeps its value while watch events re-render the page around it).
function setHtml(sel, html) {
  const el = $(sel);
  if (!el || el._html === html) return;
  const active = document.activeElement;
  if (active && active.tagName === "INPUT" && el.contains(active)) return;
  el._html = html;
  el.innerHTML = html;
}

function table(headers, rows, empty = "Nothing here yet.") {
  if (!rows.length) return `<p class="muted">${esc(empty)}</p>`;
  return `<table><thead><tr>${headers.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead>
    <tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
}

function matches(selector, labels) {
  if (!selector) return false;
  labels = labels || {};
  for (const [k, v] of Object.entries(selector.matchLabels || {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions || []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    if (e.operator === "In" && !(has && e.values.includes(labels[e.key]))) return false;
    if (e.operator === "NotIn" && has && e.values.includes(labels[e.key])) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

const podLink = (p) => `<a href="#/pod/${esc(p.metadata.namespace)}/${esc(p.metadata.name)}">${esc(p.metadata.name)}</a>`;
const nsFilter = () => $("#namespace").value;

function eventsFor(kind, ns, name) {
  return watched("events").list(ns).filter((e) => e.involvedObject && e.involvedObject.kind === kind
    && e.involvedObject.name === name);
}

function eventsTable(events) {
  const sorted = [...events].sort((a, b) => (b.lastTimestamp || b.eventTime || "").localeCompare(a.lastTimestamp || a.eventTime || ""));
  return table(["Last seen", "Type", "Reason", "Object", "Message"], sorted.slice(0, 200).map((e) => [
    age(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp), badge(e.type || "Normal"), esc(e.reason),
    esc(`${(e.involvedObject.kind || "").toLowerCase()}/${e.involvedObject.name}`),
    esc(e.message) + (e.count > 1 ? ` <span class="muted">(x${e.count})</span>` : "")]), "No events.");
}

// ---- charts: plain SVG ------------------------------------------------------------------------
function chartSvg(points, field, unit) {
  const W = 600, H = 160, L = 46, B = 18;
  if (points.length < 1) return `<svg viewBox="0 0 ${W} ${H}"><text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="axis">waiting for samples…</text></svg>`;
  const vals = points.map((p) => p[field] || 0);
  const max = Math.max(...vals) * 1.15 || 1;
  const t0 = Date.parse(points[0].timestamp), t1 = Date.parse(points[points.length - 1].timestamp);
  const span = Math.max(1, t1 - t0);
  const xy = points.map((p, i) => [
    L + (points.length === 1 ? (W - L) / 2 : ((Date.parse(p.timestamp) - t0) / span) * (W - L - 6)),
    H - B - (vals[i] / max) * (H - B - 10)]);
  const line = xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
  const area = `${L},${H - B} ${line} ${xy[xy.length - 1][0].toFixed(1)},${H - B}`;
  const fmt = (v) => unit(v);
  return `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" data-points="${points.length}">
    <line x1="${L}" y1="${H - B}" x2="${W}" y2="${H - B}" stroke="#e3e8ee"/>
    <text x="4" y="14" class="axis">${esc(fmt(max))}</text><text x="4" y="${H - B}" class="axis">0</text>
    <text x="${L}" y="${H - 4}" class="axis">${esc(new Date(t0).toLocaleTimeString())}</text>
    <text x="${W - 4}" y="${H - 4}" class="axis" text-anchor="end">${esc(new Date(t1).toLocaleTimeString())}</text>
    <polygon class="area" points="${area}"/><polyline class="line" points="${line}"/>
    ${xy.map(([x, y]) => `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="2" fill="currentColor"/>`).join("")}
  </svg>`;
}
const cpuUnit = (n) => `${(n / 1e6).toFixed(1)}m`;
const memUnit = (b) => (b > 1 << 20 ? `${(b / (1 << 20)).toFixed(1)}Mi` : `${(b / 1024).toFixed(0)}Ki`);

function startCharts(root, kind, ns, name) {
  let stopped = false;
  async function poll() {
    if (stopped) return;
    try {
      const q = new URLSearchParams({ kind, namespace: ns || "", name });
      const h = await api("GET", `/history?${q}`);
      $(".chart.cpu .plot", root).innerHTML = chartSvg(h.points, "cpuNanoCores", cpuUnit);
      $(".chart.mem .plot", root).innerHTML = chartSvg(h.points, "memoryBytes", memUnit);
      $(".chart-source", root).textContent = h.points.length
        ? `source: ${h.source}, ${h.points.length} samples` : (h.message || "no metrics source yet");
    } catch (e) { $(".chart-source", root).textContent = e.message; }
    setTimeout(poll, 5000);
  }
  poll();
  return () => { stopped = true; };
}

const chartsHtml = `<div class="grid">
  <div class="chart cpu"><h2>CPU</h2><div class="plot"></div></div>
  <div class="chart mem"><h2>Memory</h2><div class="plot"></div></div></div>
  <p class="muted chart-source"></p>`;

// ---- views --------------------------------------------------------------------------------------
const views = {
  overview() {
    return {
      mount(root) {
        root.innerHTML = `<h1>Cluster overview</h1><div class="cards" id="cards"></div>
          <div class="panel"><h2>Nodes</h2><div id="nodes"></div></div>
          <div class="panel"><h2>Namespaces</h2><div id="nss"></div></div>`;
      },
      update() {
        const nodes = watched("nodes").list(), pods = watched("pods").list(nsFilter());
        const deps = watched("deployments").list(nsFilter()), nss = watched("namespaces").list();
        setHtml("#cards", [
          [`${nodes.filter((n) => nodeReady(n) === "Ready").length}/${nodes.length}`, "nodes ready"],
          [`${pods.filter((p) => podStatus(p) === "Running").length}/${pods.length}`, "pods running"],
          [deps.length, "deployments"], [nss.length, "namespaces"],
        ].map(([v, l]) => `<div class="card"><b>${esc(v)}</b><span>${esc(l)}</span></div>`).join(""));
        setHtml("#nodes", table(["Name", "Status", "Address", "Pod CIDR", "Kubelet", "Age"], nodes.map((n) => {
          const addr = ((n.status && n.status.addresses) || []).find((a) => a.type === "InternalIP");
          return [esc(n.metadata.name), badge(nodeReady(n)), esc(addr && addr.address), esc(n.spec.podCIDR),
            esc(n.status && n.status.nodeInfo && n.status.nodeInfo.kubeletVersion), age(n.metadata.creationTimestamp)];
        })));
        setHtml("#nss", table(["Name", "Status", "Pods", "Age"], nss.map((n) => [
          esc(n.metadata.name), badge((n.status && n.status.phase) || "Active"),
          watched("pods").list(n.metadata.name).length, age(n.metadata.creationTimestamp)])));
      },
    };
  },

  workloads() {
    return {
      mount(root) {
        root.innerHTML = `<h1>Workloads</h1><div class="panel"><h2>Deployments</h2><div id="deps"></div></div>
          <div class="panel"><h2>StatefulSets</h2><div id="sts"></div></div>
          <div class="panel"><h2>DaemonSets</h2><div id="ds"></div></div>`;
        root.addEventListener("click", scaleClick);
      },
      update() {
        setHtml("#deps", table(["Name", "Namespace", "Ready", "Up-to-date", "Available", "Age", "Scale"],
          watched("deployments").list(nsFilter()).map((d) => [
            `<a href="#/deployment/${esc(d.metadata.namespace)}/${esc(d.metadata.name)}">${esc(d.metadata.name)}</a>`,
            esc(d.metadata.namespace), `${(d.status && d.status.readyReplicas) || 0}/${d.spec.replicas}`,
            (d.status && d.status.updatedReplicas) || 0, (d.status && d.status.availableReplicas) || 0,
            age(d.metadata.creationTimestamp), scaleControl(d)]), "No Deployments."));
        setHtml("#sts", table(["Name", "Namespace", "Ready", "Age"], watched("statefulsets").list(nsFilter()).map((s) => [
          esc(s.metadata.name), esc(s.metadata.namespace), `${(s.status && s.status.readyReplicas) || 0}/${s.spec.replicas}`,
          age(s.metadata.creationTimestamp)]), "No StatefulSets."));
        setHtml("#ds", table(["Name", "Namespace", "Desired", "Ready", "Age"], watched("daemonsets").list(nsFilter()).map((s) => [
          esc(s.metadata.name), esc(s.metadata.namespace), (s.status && s.status.desiredNumberScheduled) || 0,
          (s.status && s.status.numberReady) || 0, age(s.metadata.creationTimestamp)]), "No DaemonSets."));
      },
    };
  },

  deployment(ns, name) {
    return {
      mount(root) {
        root.innerHTML = `<h1>Deployment ${esc(ns)}/${esc(name)}</h1>
          <div class="panel"><div id="dep"></div></div>
          <div class="panel"><h2>Pods</h2><div id="pods"></div></div>
          <div class="panel"><h2>Events</h2><div id="events"></div></div>`;
        root.addEventListener("click", scaleClick);
        root.addEventListener("click", deleteClick);
      },
      update() {
        const d = watched("deployments").get(ns, name);
        if (!d) { setHtml("#dep", `<p class="muted">${watched("deployments").synced ? "Not found (deleted?)" : "Loading…"}</p>`); return; }
        const images = d.spec.template.spec.containers.map((c) => c.image).join(", ");
        const conds = ((d.status && d.status.conditions) || []).map((c) => `${c.type}=${c.status}`).join(", ");
        setHtml("#dep", `<dl class="kv"><dt>Replicas</dt><dd>${d.spec.replicas} desired, ${(d.status && d.status.readyReplicas) || 0} ready, ${(d.status && d.status.availableReplicas) || 0} available</dd>
          <dt>Strategy</dt><dd>${esc(d.spec.strategy && d.spec.strategy.type)}</dd>
          <dt>Selector</dt><dd>${esc(Object.entries(d.spec.selector.matchLabels || {}).map(([k, v]) => `${k}=${v}`).join(","))}</dd>
          <dt>Images</dt><dd>${esc(images)}</dd><dt>Conditions</dt><dd>${esc(conds)}</dd>
          <dt>Scale</dt><dd>${scaleControl(d)}</dd></dl>`);
        const pods = watched("pods").list(ns).filter((p) => matches(d.spec.selector, p.metadata.labels));
        setHtml("#pods", podTable(pods));
        setHtml("#events", eventsTable(eventsFor("Deployment", ns, name)));
      },
    };
  },

  pods() {
    return {
      mount(root) {
        root.innerHTML = `<h1>Pods</h1><div class="panel"><div id="pods"></div></div>`;
        root.addEventListener("click", deleteClick);
      },
      update() { setHtml("#pods", podTable(watched("pods").list(nsFilter()))); },
    };
  },

  pod(ns, name) {
    let stopCharts = () => {}, tail = null;
    function startTail(root, container) {
      if (tail) tail.close();
      const pre = $("#log", root);
      pre.textContent = "";
      const q = new URLSearchParams({ namespace: ns, pod: name, container });
      tail = new EventSource(`/tail?${q}`);
      tail.onmessage = (m) => {
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.append(`${m.data}\n`);
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      };
      tail.addEventListener("end", () => { tail.close(); pre.append("— end of log —\n"); });
      tail.addEventListener("failed", (m) => { tail.close(); pre.append(`— ${m.data} —\n`); });
    }
    return {
      mount(root) {
        root.innerHTML = `<h1>Pod ${esc(ns)}/${esc(name)}</h1>
          <div class="panel"><div id="pod"></div></div>
          <div class="panel">${chartsHtml}</div>
          <div class="panel"><h2>Log <select id="container"></select> <span class="muted">live</span></h2><pre class="log" id="log"></pre></div>
          <div class="panel"><h2>Events</h2><div id="events"></div></div>`;
        root.addEventListener("click", deleteClick);
        stopCharts = startCharts(root, "pod", ns, name);
        $("#container", root).addEventListener("change", (e) => startTail(root, e.target.value));
        this.root = root;
      },
      update() {
        const p = watched("pods").get(ns, name);
        if (!p) { setHtml("#pod", `<p class="muted">${watched("pods").synced ? "This pod is gone. Its logs stay searchable under Log search." : "Loading…"}</p>`); return; }
        const sel = $("#container");
        if (!sel.options.length) {
          sel.innerHTML = p.spec.containers.map((c) => `<option>${esc(c.name)}</option>`).join("");
          startTail(this.root, p.spec.containers[0].name);
        }
        const owner = (p.metadata.ownerReferences || [])[0];
        setHtml("#pod", `<dl class="kv"><dt>Status</dt><dd>${badge(podStatus(p))} ready ${readyCount(p)}, restarts ${restarts(p)}</dd>
          <dt>Node</dt><dd>${esc(p.spec.nodeName || "(not scheduled)")}</dd><dt>Pod IP</dt><dd>${esc(p.status && p.status.podIP)}</dd>
          <dt>Controlled by</dt><dd>${owner ? esc(`${owner.kind}/${owner.name}`) : "—"}</dd>
          <dt>Labels</dt><dd>${esc(Object.entries(p.metadata.labels || {}).map(([k, v]) => `${k}=${v}`).join(", "))}</dd>
          <dt>Containers</dt><dd>${esc(p.spec.containers.map((c) => `${c.name} (${c.image})`).join(", "))}</dd>
          <dt>Age</dt><dd>${age(p.metadata.creationTimestamp)}</dd>
          <dt></dt><dd><button class="danger" data-delete-pod="${esc(ns)}/${esc(name)}">Delete pod</button></dd></dl>`);
        setHtml("#events", eventsTable(eventsFor("Pod", ns, name)));
      },
      unmount() { stopCharts(); if (tail) tail.close(); },
    };
  },

  events() {
    return {
      mount(root) { root.innerHTML = `<h1>Events</h1><div class="panel"><div id="events"></div></div>`; },
      update() { setHtml("#events", eventsTable(watched("events").list(nsFilter()))); },
    };
  },

  logs() {
    return {
      mount(root) {
        root.innerHTML = `<h1>Log search</h1><div class="panel">
          <form class="search" id="search"><input name="grep" placeholder="text to find (exact, case-sensitive)">
          <input name="labelSelector" placeholder="labels, e.g. app=web"><input name="since" value="3600" size="6" title="seconds">
          <button type="submit">Search</button></form><div id="results" class="muted">Search every pod's logs, deleted pods included.</div></div>`;
        $("#search", root).addEventListener("submit", async (e) => {
          e.preventDefault();
          const f = new FormData(e.target);
          const q = new URLSearchParams({ grep: f.get("grep"), limit: "500", sinceSeconds: f.get("since") || "3600" });
          if (f.get("labelSelector")) q.set("labelSelector", f.get("labelSelector"));
          if (nsFilter()) q.set("namespace", nsFilter());
          try {
            const r = await api("GET", `${LOGSTORE}/v1/search?${q}`);
            setHtml("#results", r.items.length
              ? `<pre class="log">${r.items.map((i) => `<span class="src">${esc(i.ts.slice(11, 23))} ${esc(i.namespace)}/${esc(i.pod)}/${esc(i.container)}</span> ${esc(i.line)}`).join("\n")}</pre>`
              : "No match.");
          } catch (err) { $("#results").textContent = `The log store did not answer: ${err.message}`; }
        });
      },
    };
  },
};

function podTable(pods) {
  return table(["Name", "Namespace", "Status", "Ready", "Restarts", "Node", "IP", "Age", ""], pods.map((p) => [
    podLink(p), esc(p.metadata.namespace), badge(podStatus(p)), readyCount(p), restarts(p), esc(p.spec.nodeName),
    esc(p.status && p.status.podIP), age(p.metadata.creationTimestamp),
    `<button class="danger" data-delete-pod="${esc(p.metadata.namespace)}/${esc(p.metadata.name)}">Delete</button>`]), "No pods.");
}

function scaleControl(d) {
  const id = `${d.metadata.namespace}/${d.metadata.name}`;
  return `<span class="scale"><input type="number" min="0" value="${d.spec.replicas}" data-replicas="${esc(id)}">
    <button data-scale="${esc(id)}">Scale</button></span>`;
}

async function scaleClick(e) {
  const id = e.target.dataset && e.target.dataset.scale;
  if (!id) return;
  const [ns, name] = id.split("/");
  const input = e.target.parentElement.querySelector("input");
  const replicas = parseInt(input.value, 10);
  try {
    await api("PATCH", `/apis/apps/v1/namespaces/${ns}/deployments/${name}/scale`, { spec: { replicas } },
      "application/merge-patch+json");
    toast(`deployment ${name} scaled to ${replicas}`);
  } catch (err) { toast(err.message, true); }
}

async function deleteClick(e) {
  const id = e.target.dataset && e.target.dataset.deletePod;
  if (!id) return;
  const [ns, name] = id.split("/");
  if (!window.confirm(`Delete pod ${ns}/${name}?`)) return;
  try {
    await api("DELETE", `/api/v1/namespaces/${ns}/pods/${name}`);
    toast(`pod ${name} deleted`);
  } catch (err) { toast(err.message, true); }
}

// ---- routing ------------------------------------------------------------------------------------
let current = null;
function route() {
  const parts = (location.hash.replace(/^#\/?/, "") || "overview").split("/").map(decodeURIComponent);
  const name = views[parts[0]] ? parts[0] : "overview";
  if (current && current.unmount) current.unmount();
  const root = $("#view");
  const fresh = root.cloneNode(false);  // drop the old view's listeners with its node
  root.replaceWith(fresh);
  current = views[name](...parts.slice(1));
  current.mount(fresh);
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active",
    a.dataset.nav === name || (name === "deployment" && a.dataset.nav === "workloads") || (name === "pod" && a.dataset.nav === "pods")));
  if (current.update) current.update();
}

function fillNamespaces() {
  const sel = $("#namespace");
  const names = watched("namespaces").list().map((n) => n.metadata.name);
  const have = [...sel.options].map((o) => o.value).slice(1);
  if (names.join() === have.join()) return;
  const keep = sel.value;
  sel.innerHTML = `<option value="">all namespaces</option>` + names.map((n) => `<option>${esc(n)}</option>`).join("");
  sel.value = keep;
}

$("#namespace").addEventListener("change", () => current && current.update && current.update());
window.addEventListener("hashchange", route);
hub.start();
route();
