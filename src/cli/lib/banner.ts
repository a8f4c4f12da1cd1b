// What `ltx-serve serve` prints once it listens, ending with the next step for a newcomer, and what
// it prints when its port is taken.
import { DEFAULT_SERVER_URL, KEY_VARIABLE } from "./options.js";

export interface BannerInfo {
  /** Base URL clients use (PUBLIC_URL or the address listened on). */
  url: string;
  engines: string[];
  ffmpeg: { version: string; source: string; path: string };
  /** The key created on the very first start (shown once), else undefined. */
  newKey?: string;
}

/** The start banner, line by line; its last lines are the next step: the key, one generate command, the playground. */
export function startBanner(info: BannerInfo): string[] {
  const preview = info.engines.includes("preview") ? " (preview = CPU preview engine, not the LTX-2.3 model)" : "";
  const lines = [
    "",
    `ltx-serve is running at ${info.url}`,
    `  playground  ${info.url}/`,
    `  health      ${info.url}/health`,
    `  openapi     ${info.url}/openapi.json`,
    `  engines     ${info.engines.join(", ")}${preview}`,
    `  ffmpeg      ${info.ffmpeg.version} (${info.ffmpeg.source}: ${info.ffmpeg.path})`,
    `  API keys    more with: npx ltx-serve keys create NAME   (or set API_KEYS)`,
    `  port        taken or wrong? start with PORT=8788 npm start (HOST=0.0.0.0 for other machines)`,
  ];
  if (info.newKey) lines.push("", `First start: created an API key (shown once, keep it): ${info.newKey}`);
  const urlFlag = info.url === DEFAULT_SERVER_URL ? "" : ` --url ${info.url}`;
  lines.push(
    "",
    "Next, in another terminal:",
    `  export ${KEY_VARIABLE}=${info.newKey ?? "<your key>"}`,
    `  npx ltx-serve generate${urlFlag} --image photo.jpg --prompt "slow push in" -o clip.mp4`,
    `or open the playground: ${info.url}/`,
    "",
  );
  return lines;
}

/** What to say when the port is taken (EADDRINUSE), with the way out. */
export function portInUseMessage(host: string, port: number): string {
  return (
    `ltx-serve cannot listen on ${host}:${port}: the port is already in use (is another ltx-serve running?).\n` +
    `Start it on another port with PORT=${port + 1} npm start (or PORT=${port + 1} npx ltx-serve serve), ` +
    `or stop the program that holds ${port}.\n`
  );
}
