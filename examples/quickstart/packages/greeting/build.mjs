// Turns src/greeting.txt into dist/greeting.json.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

const text = readFileSync("src/greeting.txt", "utf8").trim();
mkdirSync("dist", { recursive: true });
writeFileSync("dist/greeting.json", JSON.stringify({ text }) + "\n");
console.log(`greeting: built dist/greeting.json (${text.length} characters)`);
