// In-process notifications about requests (state changes, log lines, progress), so that status
// streams and sync runs wake at once instead of polling. The database stays the source of truth:
// listeners re-read it, which also keeps them correct when another process did the work.
import { EventEmitter } from "node:events";

export type RequestEvent = { kind: "state" } | { kind: "log" } | { kind: "progress" };

export class RequestEvents {
  private readonly emitter = new EventEmitter();
  constructor() {
    this.emitter.setMaxListeners(0);
  }
  emit(requestId: string, event: RequestEvent): void {
    this.emitter.emit(requestId, event);
    if (event.kind === "state") this.emitter.emit("*state", requestId);
  }
  /** Calls `fn` for every event of one request; returns the unsubscribe function. */
  on(requestId: string, fn: (event: RequestEvent) => void): () => void {
    this.emitter.on(requestId, fn);
    return () => this.emitter.off(requestId, fn);
  }
  /** Calls `fn` whenever any request changes state (queue positions move). */
  onAnyState(fn: (requestId: string) => void): () => void {
    this.emitter.on("*state", fn);
    return () => this.emitter.off("*state", fn);
  }
}
