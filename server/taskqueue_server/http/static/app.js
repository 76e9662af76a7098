// The dashboard: queues overview, a queue's task list, a task's detail; hash routes
// (#/, #/queue/NAME?status=..., #/task/ID). Everything is built with DOM calls, never
// innerHTML, since task data and errors come from callers.

import { ApiError, follow, get, post, token } from "./api.js";
import { h, sparkline, when } from "./dom.js";

const STATUSES = ["pending", "scheduled", "waiting", "processing", "retrying",
                  "completed", "failed", "cancelled"];
const view = document.getElementById("view");
const STALE_AFTER = 5;
const state = { canAct: false, queues: [], signature: "", unchanged: 0, cursors: [""], route: "" };

function say(text, isError = false) {
  const box = document.getElementById("message");
  box.textContent = text;
  box.className = isError ? "error" : "";
  box.hidden = !text;
}

// Runs an action; a refusal or failure is shown, not thrown.
async function attempt(action) {
  try {
    await action();
    return true;
  } catch (error) {
    say(error instanceof ApiError ? `${error.status}: ${error.message}` : String(error), true);
    return false;
  }
}

function act(label, onClick, danger = false) {
  const button = h("button", { class: `act${danger ? " danger" : ""}`, disabled: !state.canAct },
                   label);
  button.addEventListener("click", () => attempt(async () => {
    say("");
    if (await onClick() !== false) await render();
  }));
  return button;
}

// ---- overview ----

function queueRow(queue) {
  const rate = queue.rates?.length ? queue.rates[queue.rates.length - 1] : 0;
  const name = encodeURIComponent(queue.name);
  const age = queue.oldest_pending_age_ms;
  return h("tr", { "data-queue": queue.name },
    h("td", {}, h("a", { href: `#/queue/${name}` }, queue.name), " ",
      queue.paused ? h("span", { class: "badge paused" }, "paused") : ""),
    ...STATUSES.map((status) => h("td", { class: "num", "data-status": status },
      h("a", { href: `#/queue/${name}?status=${status}` }, String(queue.counts[status])))),
    h("td", { class: "num" }, age ? `${Math.round(age / 1000)} s` : "-"),
    h("td", { class: "num" }, `${rate}/s `, sparkline(queue.rates || [])),
    h("td", { class: "actions" },
      queue.paused
        ? act("Resume", () => post(`/api/queues/${name}/resume`))
        : act("Pause", () => post(`/api/queues/${name}/pause`)),
      act("Purge…", () => purge(queue.name), true)));
}

async function purge(queue) {
  const path = `/api/queues/${encodeURIComponent(queue)}/purge`;
  const { matched } = await post(path, { dry_run: true });
  if (!confirm(`Purge ${matched} pending and scheduled tasks of queue ${queue}?`)) return false;
  const { purged } = await post(path);
  say(`Purged ${purged} tasks of queue ${queue}.`);
  return true;
}

// The queues as /api/queues has them now, with the rates of the last live snapshot.
async function freshQueues() {
  const rates = new Map(state.queues.map((q) => [q.name, q.rates]));
  const { queues } = await get("/api/queues");
  return queues.map((q) => ({ ...q, rates: rates.get(q.name) || [] }));
}

function overview(queues) {
  return [
    h("h1", {}, "Queues"),
    h("table", { id: "queues" },
      h("thead", {}, h("tr", {}, h("th", {}, "queue"),
        ...STATUSES.map((s) => h("th", { class: "num" }, s)),
        h("th", { class: "num" }, "oldest pending"), h("th", { class: "num" }, "throughput"),
        h("th", {}, ""))),
      h("tbody", {}, ...queues.map(queueRow))),
    queues.length ? "" : h("p", {}, "No queue has held a task yet."),
  ];
}

// ---- task list ----

function taskRow(task, showOrder) {
  const id = encodeURIComponent(task.id);
  const priority = h("input", { class: "priority", type: "number", value: String(task.priority),
                                "aria-label": "priority", disabled: !state.canAct });
  return h("tr", { "data-task-id": task.id },
    h("td", { class: "mono" }, h("a", { href: `#/task/${id}` }, task.id)),
    h("td", {}, task.type),
    h("td", { class: `status ${task.status}` }, task.status),
    h("td", { class: "actions" }, priority,
      act("Set", () => post(`/api/tasks/${id}/priority`, { priority: Number(priority.value) }))),
    h("td", { class: "num" }, String(task.attempts)),
    h("td", {}, when(task.created_at)),
    h("td", { class: "actions" }, ...taskActions(task)),
    showOrder ? "" : h("td", {}, task.error || ""));
}

function taskActions(task) {
  const id = encodeURIComponent(task.id);
  return [
    act("Cancel", () => post(`/api/tasks/${id}/cancel`), true),
    act("Retry", () => post(`/api/tasks/${id}/retry`)),
    act("Delete", () => confirm(`Delete task ${task.id}?`) && post(`/api/tasks/${id}/delete`),
        true),
  ];
}

// Walks a bulk action's chunks: counts every match first (dry run), asks, then acts.
async function bulk(queue, action, status, type, label) {
  const path = `/api/queues/${encodeURIComponent(queue)}/bulk`;
  const walk = async (dryRun) => {
    let total = 0;
    let cursor = "";
    do {
      const page = await post(path, { action, status, type, label, dry_run: dryRun, cursor });
      total += page.matched;
      cursor = page.next_cursor;
    } while (cursor);
    return total;
  };
  const matched = await walk(true);
  const which = [status || "default status", type, label].filter(Boolean).join(", ");
  if (!confirm(`${action} ${matched} tasks of queue ${queue} (${which})?`)) return false;
  say(`${action}: ${await walk(false)} tasks of queue ${queue}.`);
  return true;
}

function bulkControls(queue, status, type, label) {
  const action = h("select", { "aria-label": "bulk action", disabled: !state.canAct },
    ...["retry", "cancel", "delete"].map((a) => h("option", { value: a }, a)));
  const apply = () => bulk(queue, action.value, status, type, label);
  return [action, act("Apply to all matches…", apply, true)];
}

async function taskList(queue, params) {
  const status = params.get("status") || "";
  const type = params.get("type") || "";
  const label = params.get("label") || "";
  const cursor = state.cursors[state.cursors.length - 1];
  const query = new URLSearchParams({ status, type, label, cursor, page_size: "50" });
  const page = await get(`/api/queues/${encodeURIComponent(queue)}/tasks?${query}`);
  const filter = h("select", { "aria-label": "status" }, h("option", { value: "" }, "any status"),
    ...STATUSES.map((s) => h("option", { value: s, selected: s === status }, s)));
  const typed = h("input", { value: type, placeholder: "task type", "aria-label": "task type" });
  const labelled = h("input", { value: label, placeholder: "label key=value",
                                "aria-label": "label" });
  const apply = () => {
    const next = new URLSearchParams({ status: filter.value, type: typed.value,
                                       label: labelled.value });
    location.hash = `#/queue/${encodeURIComponent(queue)}?${next}`;
  };
  for (const input of [filter, typed, labelled]) input.addEventListener("change", apply);
  const pending = status === "pending";
  return [
    h("h1", {}, `Queue ${queue}`, pending ? h("small", {}, " (this page in run order)") : ""),
    h("div", { class: "filters" }, filter, typed, labelled, h("span", { class: "spacer" }),
      ...bulkControls(queue, status, type, label)),
    h("table", { id: "tasks" },
      h("thead", {}, h("tr", {}, ...["id", "type", "status", "priority", "attempts", "created", ""]
        .map((label) => h("th", {}, label)), pending ? "" : h("th", {}, "error"))),
      h("tbody", {}, ...page.tasks.map((task) => taskRow(task, pending)))),
    page.tasks.length ? "" : h("p", {}, "No task matches."),
    h("div", { class: "pager" },
      pagerButton("First page", state.cursors.length > 1, () => { state.cursors = [""]; }),
      pagerButton("Next page", Boolean(page.next_cursor),
                  () => { state.cursors.push(page.next_cursor); })),
  ];
}

function pagerButton(label, enabled, move) {
  const button = h("button", { disabled: !enabled }, label);
  button.addEventListener("click", () => { move(); render(); });
  return button;
}

// ---- task detail ----

async function taskDetail(taskId) {
  const { task, result, timeline } = await get(`/api/tasks/${encodeURIComponent(taskId)}`);
  const fields = [["id", task.id], ["queue", task.queue], ["type", task.type],
    ["status", task.status], ["priority", task.priority],
    ["attempts", `${task.attempts} of ${task.max_retries + 1}`],
    ["progress", `${task.progress}% ${task.progress_message}`], ["error", task.error || "-"],
    ["labels", Object.entries(task.labels).map(([k, v]) => `${k}=${v}`).join(", ") || "-"]];
  return [
    h("h1", {}, "Task ", h("span", { class: "mono" }, task.id)),
    h("div", { class: "actions" }, ...taskActions(task)),
    h("h2", {}, "Details"),
    h("dl", { id: "task" }, ...fields.flatMap(([k, v]) =>
      [h("dt", {}, k), h("dd", { "data-field": k }, String(v))])),
    h("h2", {}, "Timeline"),
    h("ol", { class: "timeline", id: "timeline" }, ...timeline.map((step) =>
      h("li", {}, h("time", {}, when(step.at)), step.event))),
    h("h2", {}, "Data"), h("pre", {}, JSON.stringify(task.data, null, 2)),
    h("h2", {}, "Result"),
    h("pre", { id: "result" }, result === null ? "-" : JSON.stringify(result, null, 2)),
  ];
}

// ---- routing and live updates ----

// Draws the current route; a live snapshot, when given, saves the overview a fetch.
async function render(snapshot = null) {
  const [path, query = ""] = location.hash.slice(1).split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (location.hash !== state.route) state.cursors = [""];
  state.route = location.hash;
  let nodes;
  const params = new URLSearchParams(query);
  if (parts[0] === "queue" && parts[1]) nodes = await taskList(parts[1], params);
  else if (parts[0] === "task" && parts[1]) nodes = await taskDetail(parts[1]);
  else nodes = overview(snapshot ? snapshot.queues : await freshQueues());
  view.replaceChildren(...nodes);
}

function onSnapshot(snapshot) {
  if (snapshot.error) return say(snapshot.error, true);
  state.queues = snapshot.queues;
  const signature = JSON.stringify(snapshot.queues.map((q) => [q.name, q.paused, q.counts]));
  const onOverview = !location.hash.startsWith("#/queue/") && !location.hash.startsWith("#/task/");
  // Lists and details reload when some count moved, at most once per snapshot (1 s), and
  // every STALE_AFTER snapshots regardless: a retry and a new failure between two snapshots
  // leave every count as it was.
  state.unchanged = signature === state.signature ? state.unchanged + 1 : 0;
  state.signature = signature;
  if (onOverview || state.unchanged % STALE_AFTER === 0) attempt(() => render(snapshot));
}

async function stayLive() {
  const badge = document.getElementById("live");
  for (;;) {
    try {
      badge.textContent = "live";
      badge.classList.add("on");
      await follow(onSnapshot);
    } catch (error) {
      if (error instanceof ApiError) say(error.message, true);
    }
    badge.textContent = "offline";
    badge.classList.remove("on");
    await new Promise((resume) => setTimeout(resume, 2000));
  }
}

async function start() {
  const badge = document.getElementById("role");
  try {
    const session = await get("/api/session");
    state.canAct = session.can_act;
    badge.textContent = session.can_act ? session.role : `${session.role}: read only`;
    say("");
  } catch (error) {
    badge.textContent = "no access";
    say(error instanceof ApiError && error.status === 401
      ? "Enter a bearer token (viewer or admin) to see the queues." : String(error), true);
    return false;
  }
  await attempt(render);
  return true;
}

document.getElementById("login").addEventListener("submit", (event) => {
  event.preventDefault();
  token.set(event.target.token.value.trim());
  event.target.token.value = "";
  location.reload();
});
document.getElementById("lookup").addEventListener("submit", (event) => {
  event.preventDefault();
  location.hash = `#/task/${encodeURIComponent(event.target.task_id.value.trim())}`;
});
window.addEventListener("hashchange", () => attempt(render));
if (await start()) stayLive();
