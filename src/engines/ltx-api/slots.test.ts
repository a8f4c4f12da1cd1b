// Unit tests of the in-flight limit of the hosted API engine.
import { describe, expect, it } from "vitest";
import { createSlots } from "./slots.js";

describe("slots", () => {
  it("grants at most the limit at once and hands freed slots out first come, first served", async () => {
    const slots = createSlots(2);
    const signal = new AbortController().signal;
    const a = await slots.acquire(signal);
    await slots.acquire(signal);
    const order: string[] = [];
    const c = slots.acquire(signal).then((r) => (order.push("c"), r));
    const d = slots.acquire(signal).then((r) => (order.push("d"), r));
    expect(slots.inUse()).toBe(2);
    expect(slots.waiting()).toBe(2);
    a();
    a(); // releasing twice frees one slot only
    await c;
    expect(order).toEqual(["c"]);
    expect(slots.inUse()).toBe(2);
    expect(slots.waiting()).toBe(1);
    void d;
  });

  it("drops a waiter whose signal aborts and rejects it with the reason", async () => {
    const slots = createSlots(1);
    const release = await slots.acquire(new AbortController().signal);
    const controller = new AbortController();
    const waiting = slots.acquire(controller.signal);
    controller.abort(new Error("cancelled"));
    await expect(waiting).rejects.toThrow("cancelled");
    expect(slots.waiting()).toBe(0);
    release();
    expect(slots.inUse()).toBe(0);
  });

  it("refuses a limit below one", () => {
    expect(() => createSlots(0)).toThrow(/positive integer/);
  });
});
