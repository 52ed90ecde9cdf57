// Checks a Grafana dashboard JSON against Grafana's own schema: writes a TypeScript module in
// which the whole dashboard is typed as @grafana/schema's `Dashboard`, each panel as the
// `Panel` of its kind (that kind's `Options` and `FieldConfig` from the same package) and each
// query as the Prometheus data source's query (@grafana/grafana-foundation-sdk), then runs
// `tsc --noEmit --strict` on it. Object literals get TypeScript's excess-property checks, so a
// misspelt or misplaced key fails as surely as a wrong type; enum-typed fields take the
// enum's string values, as JSON spells them.
//
// Usage: node check.mjs DASHBOARD.json

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const file = process.argv[2];
if (!file) {
  console.error("usage: node check.mjs DASHBOARD.json");
  process.exit(2);
}
const dashboard = JSON.parse(fs.readFileSync(file, "utf8"));

// Panel kind -> the module of its Options (and FieldConfig, where the kind has one) in
// @grafana/schema.
const kinds = {
  timeseries: ["timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen", true],
  stat: ["stat/panelcfg/x/StatPanelCfg_types.gen", false],
  "state-timeline": ["statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen", true],
  table: ["table/panelcfg/x/TablePanelCfg_types.gen", true],
  text: ["text/panelcfg/x/TextPanelCfg_types.gen", false],
  gauge: ["gauge/panelcfg/x/GaugePanelCfg_types.gen", false],
  bargauge: ["bargauge/panelcfg/x/BarGaugePanelCfg_types.gen", false],
};

const panels = [];
const walk = (list) => {
  for (const p of list ?? []) {
    if (p.type === "row") {
      walk(p.panels);
    }
    panels.push(p);
  }
};
walk(dashboard.panels);

const used = [...new Set(panels.map((p) => p.type).filter((t) => t !== "row"))];
const unknown = used.filter((t) => !(t in kinds));
if (unknown.length) {
  console.error(`${file}: panel kinds this check cannot type: ${unknown.join(", ")}`);
  process.exit(1);
}
const alias = (t) => t.replace(/[^a-z]/g, "_");
const lines = [
  `import type { Dashboard, Panel, RowPanel } from "@grafana/schema";`,
  `import type { Dataquery } from "@grafana/grafana-foundation-sdk/prometheus";`,
  ...used.map(
    (t) => `import type * as ${alias(t)} from "@grafana/schema/dist/esm/raw/composable/${kinds[t][0]}";`,
  ),
  // JSON spells an enum by its value: map enum types to their values' literal types.
  `type J<T> = T extends string ? (string extends T ? string : \`\${T}\`)`,
  `  : T extends number | boolean | null | undefined ? T`,
  `  : T extends readonly (infer U)[] ? J<U>[]`,
  `  : T extends (...args: never[]) => unknown ? never`,
  `  : T extends object ? { [K in keyof T]: J<T[K]> } : T;`,
  `type Query = J<Omit<Dataquery, "_implementsDataqueryVariant">>;`,
  // Panel<O, F> leaves \`options\` a record and types only \`fieldConfig.defaults.custom\`.
  `type Typed<O, F> = J<Omit<Panel<unknown, F>, "targets" | "options">> & { options?: J<O>; targets?: Query[] };`,
  `export const dashboard: J<Dashboard> = ${JSON.stringify(dashboard, null, 2)};`,
];
panels.forEach((p, i) => {
  const type =
    p.type === "row"
      ? "J<Omit<RowPanel, \"panels\">> & { panels: unknown[] }"
      : `Typed<${alias(p.type)}.Options, ${kinds[p.type][1] ? `${alias(p.type)}.FieldConfig` : "Record<string, unknown>"}>`;
  lines.push(`// ${p.type}: ${p.title ?? ""}`);
  lines.push(`export const panel${i}: ${type} = ${JSON.stringify(p, null, 2)};`);
});
const out = path.join(here, "build");
fs.mkdirSync(out, { recursive: true });
const ts = path.join(out, "dashboard.ts");
fs.writeFileSync(ts, lines.join("\n") + "\n");
fs.writeFileSync(
  path.join(out, "tsconfig.json"),
  JSON.stringify({
    compilerOptions: {
      strict: true,
      noEmit: true,
      module: "nodenext",
      moduleResolution: "nodenext",
      target: "es2022",
      skipLibCheck: true,
      types: [],
    },
    files: ["dashboard.ts"],
  }),
);
try {
  execFileSync(path.join(here, "node_modules/.bin/tsc"), ["-p", out], { stdio: "inherit" });
} catch {
  console.error(`${file}: does not match Grafana's dashboard schema (${ts} has the typed copy)`);
  process.exit(1);
}
console.log(`${file}: ${panels.length} panels match Grafana's dashboard schema (@grafana/schema)`);
