// The API from the browser: the key in sessionStorage, sent as the Authorization header by fetch(),
// problem+json errors turned into readable messages, and a job's events followed live.
"use strict";

const KEY_SLOT = "secateur.apiKey";
const POLL_MS = 2000;
const TERMINAL = new Set(["job.succeeded", "job.failed", "job.cancelled"]);

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

const Api = {
  key() {
    return sessionStorage.getItem(KEY_SLOT);
  },
  signIn(key) {
    sessionStorage.setItem(KEY_SLOT, key);
  },
  signOut() {
    sessionStorage.removeItem(KEY_SLOT);
  },

  // fetch() with the key; a 4xx/5xx becomes an ApiError carrying the problem's fields.
  async request(path, options = {}) {
    const headers = new Headers(options.headers || {});
    headers.set("Authorization", `Bearer ${Api.key()}`);
    const response = await fetch(path, { ...options, headers });
    if (!response.ok) {
      let problem = {};
      try {
        problem = await response.json();
      } catch (_) {
        problem = { title: response.statusText };
      }
      throw new ApiError(response.status, problem);
    }
    return response;
  },
  async json(path) {
    return (await Api.request(path, { headers: { Accept: "application/json" } })).json();
  },

  // Downloads need the header too, so they go through fetch() and a short-lived object URL.
  async download(path, filename) {
    const blob = await (await Api.request(path)).blob();
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  },
};

// Call onEvent for each of the job's events after `after`, live, until the job ends or `signal` aborts.
// Asks for a server-sent event stream; a server that answers JSON instead is polled every POLL_MS,
// until a terminal event arrives or, once the log is read to its end, `isOver()` says the job ended.
async function followEvents(jobId, after, onEvent, signal, isOver = () => false) {
  const path = (since) => `/v1/jobs/${encodeURIComponent(jobId)}/events?after=${since}&limit=1000`;
  let last = after;
  let ended = false;
  const take = (event) => {
    last = Math.max(last, event.id);
    ended = ended || TERMINAL.has(event.type);
    onEvent(event);
  };
  while (!ended && !signal.aborted) {
    try {
      const response = await Api.request(path(last), {
        headers: { Accept: "text/event-stream, application/json;q=0.5" },
        signal,
      });
      const type = response.headers.get("content-type") || "";
      if (type.startsWith("text/event-stream")) {
        await readStream(response.body, take);
        // The server ends the stream when the job has ended (with its terminal event, or, for a log
        // without one, once the rest is replayed); after any other end, resume from `last` after a pause.
        if (ended || isOver()) return;
      } else {
        const page = await response.json();
        page.data.forEach(take);
        if (page.has_more) continue;
        if (isOver()) return;
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status < 500) throw error;
    }
    await sleep(POLL_MS, signal);
  }
}

// Parse a text/event-stream body: `data:` lines up to a blank line make one event (JSON here);
// comments (keep-alives) and other fields are ignored.
async function readStream(body, take) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      if (data) take(JSON.parse(data));
    }
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
