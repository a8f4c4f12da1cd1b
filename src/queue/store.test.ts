import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { openDb } from "../db.js";
import { ENDPOINTS } from "../endpoints.js";
import { createRequestStore } from "./store.js";

const endpoint = ENDPOINTS[0];

function newStore() {
  const db = openDb(fs.mkdtempSync(path.join(os.tmpdir(), "ltx-store-")));
  let now = 1_000_000;
  const store = createRequestStore({ db, clock: () => now });
  const input = endpoint.schema.parse({ image_url: "https://example.com/a.png", prompt: "p" });
  const add = (priority = 0) =>
    store.create({ app: endpoint.app, endpoint: endpoint.id, keyId: "k", priority, input, headers: {}, webhookUrl: null, seed: 1, startDeadlineAt: null });
  return { store, add, tick: (ms: number) => (now += ms) };
}

describe("request store", () => {
  it("claims normal priority before low, FIFO within each, and reports true queue positions", () => {
    const { store, add } = newStore();
    const low = add(1);
    const a = add();
    const b = add();
    expect(store.queuePosition(low, [endpoint.id])).toBe(2);
    expect(store.queuePosition(b, [endpoint.id])).toBe(1);
    expect(store.claimNext([endpoint.id], "o", 1000)?.id).toBe(a.id);
    expect(store.claimNext([endpoint.id], "o", 1000)?.id).toBe(b.id);
    expect(store.claimNext([endpoint.id], "o", 1000)?.id).toBe(low.id);
    expect(store.claimNext([endpoint.id], "o", 1000)).toBeUndefined();
  });

  it("charges a request once even if success is recorded twice", () => {
    const { store, add } = newStore();
    const r = add();
    store.claimNext([endpoint.id], "o", 1000);
    const completion = {
      result: { video: {} },
      inferenceTime: 1,
      metrics: {},
      model: "m",
      outputFileId: "f",
      thumbnailFileId: null,
      charge: { resolution: "1080p", seconds: 6, costUsd: 0.36 },
    };
    expect(store.succeed(r.id, "o", completion)).toBe(true);
    expect(store.succeed(r.id, "o", completion)).toBe(false);
    expect(store.usage("k", 0, Number.MAX_SAFE_INTEGER)).toMatchObject({ requests: 1, costUsd: 0.36 });
  });

  it("finds requests whose lease ran out and hands them back keeping their id and place", () => {
    const { store, add, tick } = newStore();
    const r = add();
    store.claimNext([endpoint.id], "owner-1", 1000);
    expect(store.listOrphaned(() => false)).toHaveLength(0);
    tick(1001);
    const orphans = store.listOrphaned(() => false);
    expect(orphans.map((o) => o.id)).toEqual([r.id]);
    expect(store.requeue(r.id, "owner-1")).toBe(true);
    const again = store.claimNext([endpoint.id], "owner-2", 1000);
    expect(again).toMatchObject({ id: r.id, attempts: 2 });
  });

  it("cancels only what is still queued", () => {
    const { store, add } = newStore();
    const r = add();
    store.claimNext([endpoint.id], "o", 1000);
    expect(store.cancelQueued(r.id, { status: 400, body: {}, errorType: "x", message: "x" })).toBe(false);
    expect(store.get(r.id)?.state).toBe("running");
  });
});
