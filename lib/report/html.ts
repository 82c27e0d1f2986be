/**
 * The report as one self-contained HTML file: the data as JSON, Vega, Vega-Lite and vega-embed (their
 * npm packages' browser builds, inlined), the page's own script and style (./client/), and the
 * chart libraries' licenses. Nothing is loaded from anywhere: a Content-Security-Policy with
 * `default-src 'none'` makes the browser refuse any request the page could try, from file:// or a server.
 *
 * Vega compiles its expressions with `new Function` unless it is given an interpreter; the page passes
 * vega-embed `ast: true` (its bundled interpreter), so the policy needs no `'unsafe-eval'`.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../paths.js';
import type { ReportData } from './types.js';

/** The browser builds inlined, in load order (vega-embed needs vega and vega-lite as globals). */
const VENDOR = [
  { pkg: 'vega', file: 'vega.min.js' },
  { pkg: 'vega-lite', file: 'vega-lite.min.js' },
  { pkg: 'vega-embed', file: 'vega-embed.min.js' },
] as const;

export const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:";

interface Asset {
  name: string;
  version: string;
  code: string;
  license: string;
}

let vendorCache: Asset[] | null = null;

/** A package's browser build, found next to its entry point (each puts both in build/). */
function vendorAssets(): Asset[] {
  if (vendorCache) return vendorCache;
  vendorCache = VENDOR.map(({ pkg, file }) => {
    const buildDir = dirname(fileURLToPath(import.meta.resolve(pkg)));
    const root = dirname(buildDir);
    const code = readFileSync(join(buildDir, file), 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
    if (code.includes('<!--')) throw new Error(`${pkg}/build/${file} contains "<!--", which cannot be inlined in a <script> element safely`);
    return {
      name: pkg,
      version: (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version,
      code: code.replace(/<\/script/gi, '<\\/script'),
      license: readFileSync(join(root, 'LICENSE'), 'utf8'),
    };
  });
  return vendorCache;
}

function clientAsset(name: string): string {
  return readFileSync(join(packageRoot, 'lib', 'report', 'client', name), 'utf8');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that is safe inside a <script> element: no "<" can end it or open a comment. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** The page. */
export function renderHtml(data: ReportData): string {
  const vendor = vendorAssets();
  const client = clientAsset('report.js').replace(/<\/script/gi, '<\\/script');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="rstar-math ${escapeHtml(data.version)}">
<title>${escapeHtml(data.title)}</title>
<style>
${clientAsset('report.css')}
</style>
</head>
<body>
<div id="app"><p class="loading">Loading the report…</p></div>
<noscript><p>This report needs JavaScript. It works offline: nothing is downloaded.</p></noscript>
<footer>
<p>Written by rstar-math ${escapeHtml(data.version)} on ${escapeHtml(data.generatedAt)} with ${vendor.map((v) => `${v.name} ${v.version}`).join(', ')} inlined.</p>
<details><summary>Licenses of the inlined chart libraries</summary>
${vendor.map((v) => `<h4>${v.name} ${v.version}</h4><pre>${escapeHtml(v.license)}</pre>`).join('\n')}
</details>
</footer>
<script id="report-data" type="application/json">${scriptJson(data)}</script>
${vendor.map((v) => `<script data-lib="${v.name}">\n${v.code}\n</script>`).join('\n')}
<script>
${client}
</script>
</body>
</html>
`;
}
