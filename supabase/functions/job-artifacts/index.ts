/**
 * Edge function `job-artifacts`: `GET ?job_id=N` with the caller's JWT.
 * Wires the Supabase adapters into the handler; all logic lives in handler.ts.
 */
import { configFromEnv, supabaseAuthenticator } from "./caller.ts";
import { handle } from "./handler.ts";

const config = await configFromEnv(Deno.env.toObject());
const deps = { authenticate: supabaseAuthenticator(config) };

Deno.serve((request) => handle(request, deps));
