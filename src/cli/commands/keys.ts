// `ltx-serve keys create|list|revoke`: manages stored API keys in DATA_DIR's database directly.
import type { Command } from "commander";
import { loadConfig } from "../../config.js";
import { openDb } from "../../db.js";
import { createKeyStore } from "../../keys.js";

function withKeys<T>(fn: (keys: ReturnType<typeof createKeyStore>) => T): T {
  const db = openDb(loadConfig().dataDir);
  try {
    return fn(createKeyStore({ db }));
  } finally {
    db.close();
  }
}

export function registerKeysCommand(program: Command): void {
  const keys = program.command("keys").description("manage API keys (stored hashed in DATA_DIR)");
  keys
    .command("create")
    .argument("[name]", "a name to recognise the key by", "default")
    .option("--spend-cap <usd>", "refuse requests once this key's charged plus queued cost would pass this many dollars")
    .option("--json", "print JSON")
    .description("create a key and print it once")
    .action((name: string, opts: { json?: boolean; spendCap?: string }) => {
      const cap = opts.spendCap === undefined ? null : Number(opts.spendCap);
      if (cap !== null && !(cap >= 0)) throw new Error("--spend-cap must be a number of dollars");
      const { key, info } = withKeys((k) => k.create(name, cap));
      if (opts.json) process.stdout.write(`${JSON.stringify({ key, id: info.id, name: info.name })}\n`);
      else process.stdout.write(`${key}\n(id ${info.id}, name ${info.name}; shown once: store it now)\n`);
    });
  keys
    .command("list")
    .option("--json", "print JSON")
    .description("list keys (ids and prefixes, never the keys)")
    .action((opts: { json?: boolean }) => {
      const list = withKeys((k) => k.list());
      if (opts.json) return void process.stdout.write(`${JSON.stringify(list)}\n`);
      if (list.length === 0) return void process.stdout.write("no stored keys\n");
      for (const k of list) {
        process.stdout.write(
          `${k.id}  ${k.prefix}…  ${k.name}  created ${new Date(k.createdAt).toISOString()}${k.spendCapUsd !== null ? `  cap $${k.spendCapUsd.toFixed(2)}` : ""}${k.revokedAt ? `  REVOKED ${new Date(k.revokedAt).toISOString()}` : ""}\n`,
        );
      }
    });
  keys
    .command("set-cap")
    .argument("<id>", "the key's id (from list)")
    .argument("<usd>", "spend cap in dollars, or 'none'")
    .description("set or clear a key's spend cap")
    .action((id: string, usd: string) => {
      const cap = usd === "none" ? null : Number(usd);
      if (cap !== null && !(cap >= 0)) throw new Error("the cap must be a number of dollars or 'none'");
      if (!withKeys((k) => k.setSpendCap(id, cap))) {
        process.stderr.write(`no key ${id}\n`);
        process.exitCode = 2;
        return;
      }
      process.stdout.write(`${id}: spend cap ${cap === null ? "none" : `$${cap.toFixed(2)}`}\n`);
    });
  keys
    .command("revoke")
    .argument("<id-or-key>", "the key's id (from list) or the key itself")
    .description("revoke a key; requests made with it stay recorded")
    .action((idOrKey: string) => {
      if (!withKeys((k) => k.revoke(idOrKey))) {
        process.stderr.write(`no active key ${idOrKey}\n`);
        process.exitCode = 2;
        return;
      }
      process.stdout.write(`revoked ${idOrKey}\n`);
    });
}
