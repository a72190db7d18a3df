/**
 * A minimal vproc page: sign in, upload a video, watch its job live, open its results.
 * All data access is in vproc.ts; this module only renders.
 */
import { createClient, type Session } from "@supabase/supabase-js";
import type { Database } from "../../../supabase/types/database.ts";
import type { JobArtifactsResponse } from "../../../supabase/functions/job-artifacts/response.ts";
import {
  cancelJob,
  fetchArtifacts,
  followJobs,
  isTerminal,
  type JobEvent,
  type JobSummary,
  listJobs,
  retryJob,
  submitVideo,
  type VprocClient,
} from "./vproc.ts";

const url = import.meta.env.VITE_SUPABASE_URL;
const anonKey = import.meta.env.VITE_SUPABASE_ANON_KEY;

function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} is missing from index.html`);
  return element as T;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const element = Object.assign(document.createElement(tag), props);
  element.append(...children);
  return element;
}

const statusLine = byId<HTMLParagraphElement>("status");
const authSection = byId<HTMLElement>("auth");
const appSection = byId<HTMLElement>("app");
const jobList = byId<HTMLUListElement>("jobs");
const results = byId<HTMLElement>("results");

function say(message: string): void {
  statusLine.textContent = message;
}

function report(error: unknown): void {
  say(error instanceof Error ? error.message : String(error));
}

/** The jobs on screen, by id; Realtime events merge into these. */
const jobs = new Map<number, JobSummary>();
let stopFollowing: (() => Promise<void>) | null = null;

function renderJobs(supabase: VprocClient): void {
  const rows = [...jobs.values()].sort((a, b) => b.id - a.id).map((job) => {
    const actions: HTMLElement[] = [];
    if (job.status === "COMPLETED") {
      actions.push(el("button", { textContent: "Results", onclick: () => void showResults(supabase, job.id) }));
    }
    if (job.status === "PENDING" || (job.status === "PROCESSING" && !job.cancel_requested)) {
      actions.push(el("button", {
        textContent: "Cancel",
        onclick: () => void cancelJob(supabase, job.id).catch(report),
      }));
    }
    if (job.status === "FAILED" || job.status === "CANCELLED") {
      actions.push(el("button", {
        textContent: "Retry",
        onclick: () => void retryJob(supabase, job.id).catch(report),
      }));
    }
    const detail = job.error_message
      ? `${job.error_code ?? "error"}: ${job.error_message}`
      : job.current_stage ?? "";
    return el(
      "li",
      { className: `job ${job.status.toLowerCase()}` },
      el("strong", { textContent: job.video?.original_filename ?? job.video_id }),
      el("span", { className: "badge", textContent: job.status }),
      el("progress", { max: 1, value: job.progress }),
      el("span", { className: "detail", textContent: detail }),
      ...actions,
    );
  });
  jobList.replaceChildren(...rows);
}

/** Newer wins: a read that started before an event must not undo it, nor an old event a read. */
function isNewer(a: { updated_at: string }, b: { updated_at: string }): boolean {
  return Date.parse(a.updated_at) >= Date.parse(b.updated_at);
}

/**
 * Merge a job event's fields into the job on screen. An event carries only the job's public
 * fields: the rest (file name, error message) stays as read. A terminal event is final for
 * this run of the job: show it at once, and read once more for what the event leaves out.
 */
function applyEvent(supabase: VprocClient, event: JobEvent): void {
  const previous = jobs.get(event.id);
  if (previous === undefined) {
    // A job this page has not read yet (another tab uploaded it): read the list.
    void resync(supabase);
    return;
  }
  if (!isNewer(event, previous)) return;
  const statusChanged = previous.status !== event.status;
  jobs.set(event.id, {
    ...previous,
    ...event,
    error_message: statusChanged ? null : previous.error_message,
    cancel_requested: statusChanged ? false : previous.cancel_requested,
  });
  renderJobs(supabase);
  if (statusChanged && isTerminal(event.status)) {
    if (event.status === "COMPLETED") void showResults(supabase, event.id);
    void resync(supabase);
  }
}

/** Replace the page's jobs with a fresh read, keeping any event newer than the read. */
async function resync(supabase: VprocClient): Promise<void> {
  try {
    const rows = await listJobs(supabase);
    const fresh = new Map<number, JobSummary>();
    for (const row of rows) {
      const shown = jobs.get(row.id);
      fresh.set(row.id, shown && !isNewer(row, shown) ? { ...row, ...pickEvent(shown) } : row);
    }
    jobs.clear();
    for (const [id, job] of fresh) jobs.set(id, job);
    renderJobs(supabase);
  } catch (error) {
    report(error);
  }
}

function pickEvent(job: JobSummary): JobEvent {
  const { id, video_id, status, current_stage, progress, error_code, updated_at } = job;
  return { id, video_id, status, current_stage, progress, error_code, updated_at };
}

function renderResults(body: JobArtifactsResponse): void {
  const meta = body.metadata;
  const links = Object.entries(body.artifacts)
    .filter(([, artifact]) => artifact !== null)
    .map(([name, artifact]) =>
      el("li", {}, el("a", { href: artifact!.url, textContent: name, target: "_blank", rel: "noopener" }))
    );
  results.replaceChildren(
    el("h2", { textContent: meta?.title ?? `Job ${body.job_id}` }),
    ...(body.artifacts.thumbnail ? [el("img", { src: body.artifacts.thumbnail.url, alt: "thumbnail" })] : []),
    el("p", { textContent: meta?.description ?? "" }),
    el("p", { className: "tags", textContent: meta?.tags.map((t) => `#${t}`).join(" ") ?? "" }),
    el("p", {
      textContent: meta
        ? `${meta.extracted_video_duration_seconds?.toFixed(1) ?? "?"} s, ${meta.extracted_video_resolution ?? "audio only"}, ${meta.extracted_video_format ?? "?"}, spoken language ${meta.language ?? "unknown"}`
        : "",
    }),
    el("ul", {}, ...links),
    el("small", { textContent: `Links expire in ${Math.round(body.expires_in / 60)} min.` }),
  );
  results.hidden = false;
}

async function showResults(supabase: VprocClient, jobId: number): Promise<void> {
  try {
    renderResults(await fetchArtifacts(supabase, jobId));
  } catch (error) {
    report(error);
  }
}

async function onSignedIn(supabase: VprocClient, session: Session): Promise<void> {
  authSection.hidden = true;
  appSection.hidden = false;
  byId("who").textContent = session.user.email ?? session.user.id;
  // The first read happens when Realtime confirms the channel (resync), never before it.
  await stopFollowing?.();
  stopFollowing = await followJobs(supabase, session.user.id, {
    onEvent: (event) => applyEvent(supabase, event),
    onDeleted: (event) => {
      jobs.delete(event.id);
      renderJobs(supabase);
    },
    resync: () => void resync(supabase),
    onError: report,
  });
}

function onSignedOut(): void {
  void stopFollowing?.();
  stopFollowing = null;
  jobs.clear();
  jobList.replaceChildren();
  results.hidden = true;
  authSection.hidden = false;
  appSection.hidden = true;
}

function start(): void {
  if (!url || !anonKey) {
    say("Set VITE_SUPABASE_URL and VITE_SUPABASE_ANON_KEY in examples/web/.env.local (see README).");
    return;
  }
  const supabase: VprocClient = createClient<Database>(url, anonKey);

  const authForm = byId<HTMLFormElement>("auth-form");
  const credentials = () => ({
    email: (authForm.elements.namedItem("email") as HTMLInputElement).value,
    password: (authForm.elements.namedItem("password") as HTMLInputElement).value,
  });
  authForm.addEventListener("submit", (event) => {
    event.preventDefault();
    void supabase.auth.signInWithPassword(credentials()).then(({ error }) => error && report(error));
  });
  byId("sign-up").addEventListener("click", () => {
    void supabase.auth.signUp(credentials()).then(({ data, error }) =>
      error ? report(error) : say(data.session ? "Signed up." : "Check your inbox to confirm.")
    );
  });
  byId("sign-out").addEventListener("click", () => void supabase.auth.signOut());

  const uploadForm = byId<HTMLFormElement>("upload-form");
  uploadForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = uploadForm.elements.namedItem("file") as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    void (async () => {
      const { data } = await supabase.auth.getUser();
      if (!data.user) return say("Sign in first.");
      say(`Uploading ${file.name}…`);
      const project = { url, apiKey: anonKey };
      const job = await submitVideo(supabase, project, data.user.id, file, (fraction) =>
        say(`Uploading ${file.name}: ${Math.round(fraction * 100)} %`)
      );
      jobs.set(job.id, job);
      renderJobs(supabase);
      say(`Queued job ${job.id}.`);
      uploadForm.reset();
    })().catch(report);
  });

  supabase.auth.onAuthStateChange((event, session) => {
    // Supabase advises against awaiting other supabase calls inside this callback.
    setTimeout(() => {
      if (!session) onSignedOut();
      else if (event === "SIGNED_IN" || event === "INITIAL_SESSION") {
        void onSignedIn(supabase, session).catch(report);
      }
    }, 0);
  });
}

start();
