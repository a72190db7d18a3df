/**
 * A minimal vproc page: sign in, upload a video, watch its job live, open its results.
 * All data access is in vproc.ts; this module only renders.
 */
import { createClient, type RealtimeChannel, type Session } from "@supabase/supabase-js";
import type { Database } from "../../../supabase/types/database.ts";
import type { JobArtifactsResponse } from "../../../supabase/functions/job-artifacts/response.ts";
import {
  cancelJob,
  fetchArtifacts,
  type Job,
  type JobSummary,
  listJobs,
  retryJob,
  submitVideo,
  subscribeToJobs,
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

/** The jobs on screen, by id; Realtime updates merge into these. */
const jobs = new Map<number, JobSummary>();
let channel: RealtimeChannel | null = null;

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

function mergeJob(supabase: VprocClient, row: Job): void {
  const previous = jobs.get(row.id);
  jobs.set(row.id, { ...row, video: previous?.video ?? null });
  renderJobs(supabase);
  if (row.status === "COMPLETED" && previous?.status !== "COMPLETED") {
    void showResults(supabase, row.id);
  }
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
        ? `${meta.extracted_video_duration_seconds?.toFixed(1) ?? "?"} s, ${meta.extracted_video_resolution ?? "?"}, ${meta.extracted_video_format ?? "?"}`
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
  // Subscribe before the first read, so no change between the two is lost.
  await channel?.unsubscribe();
  channel = subscribeToJobs(supabase, session.user.id, (row) => mergeJob(supabase, row));
  for (const job of await listJobs(supabase)) jobs.set(job.id, job);
  renderJobs(supabase);
}

function onSignedOut(): void {
  void channel?.unsubscribe();
  channel = null;
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
