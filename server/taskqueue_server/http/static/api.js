// The dashboard's calls to its server: JSON over fetch with the user's bearer token, and the
// live queue figures as server-sent events (read with fetch, since EventSource cannot send
// an Authorization header).

const TOKEN_KEY = "taskqueue.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || "",
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
};

function headers(extra = {}) {
  const value = token.get();
  return value ? { ...extra, Authorization: `Bearer ${value}` } : extra;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, body) {
  const init = { method, headers: headers(body ? { "Content-Type": "application/json" } : {}) };
  if (body) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  const reply = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, reply.error || response.statusText);
  return reply;
}

export const get = (path) => call("GET", path);
export const post = (path, body = {}) => call("POST", path, body);

// Calls onSnapshot with each event's JSON until the stream ends; resolves then (or rejects).
export async function follow(onSnapshot, signal) {
  const response = await fetch("/api/live", { headers: headers(), signal });
  if (!response.ok) throw new ApiError(response.status, "live updates refused");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += value;
    let end;
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = event.split("\n").filter((line) => line.startsWith("data: "));
      if (data.length) onSnapshot(JSON.parse(data.map((line) => line.slice(6)).join("\n")));
    }
  }
}
