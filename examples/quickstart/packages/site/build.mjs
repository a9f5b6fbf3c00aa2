// Renders dist/index.html from the greeting package's output and src/page.html.
// SITE_TITLE is declared in runwire.json (`env`), so changing it is a cache miss.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

const { text } = JSON.parse(readFileSync("../greeting/dist/greeting.json", "utf8"));
const title = process.env.SITE_TITLE ?? "runwire quick start";
const page = readFileSync("src/page.html", "utf8")
  .replace("{{title}}", title)
  .replace("{{greeting}}", text);
mkdirSync("dist", { recursive: true });
writeFileSync("dist/index.html", page);
console.log("site: built dist/index.html");
