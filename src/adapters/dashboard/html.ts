/**
 * HTML built as escaped strings: `html` escapes every interpolated value unless it is already
 * `Html` (the result of another `html` call), so a task type, error or payload can never inject
 * markup. Three pages and a few partials do not need a template engine.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (char) => ESCAPES[char] ?? char);

type Part = Html | string | number | null | undefined | readonly Part[];

const render = (part: Part): string => {
  if (part === null || part === undefined) return '';
  if (part instanceof Html) return part.text;
  if (Array.isArray(part)) return part.map(render).join('');
  return escapeHtml(String(part));
};

export const html = (strings: TemplateStringsArray, ...parts: readonly Part[]): Html =>
  new Html(strings.reduce((text, literal, index) => text + literal + (index < parts.length ? render(parts[index]) : ''), ''));

/** JSON for a <script type="application/json"> block: `<` escaped so no `</script>` can end it early. */
export const jsonScript = (id: string, value: unknown): Html =>
  new Html(`<script type="application/json" id="${escapeHtml(id)}">${JSON.stringify(value).replace(/</g, '\\u003c')}</script>`);

export const iso = (at: Date | null): string =>
  at === null
    ? ''
    : at
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d{3}Z$/, 'Z');

export const time = (at: Date | null): Html => (at === null ? html`–` : html`<time datetime="${at.toISOString()}">${iso(at)}</time>`);

export const durationText = (ms: number | null): string => {
  if (ms === null) return '–';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(ms)} ms`;
  if (abs < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (abs < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
};

export type Section = 'overview' | 'tasks' | 'schedules' | 'retention' | 'task';

export interface Layout {
  readonly title: string;
  readonly section: Section;
  /** Shown in the header: whether actions are possible and how. */
  readonly access: Html;
  readonly scripts?: readonly string[];
}

const NAV: readonly { readonly section: Section; readonly href: string; readonly label: string }[] = [
  { section: 'overview', href: '/', label: 'Overview' },
  { section: 'tasks', href: '/tasks', label: 'Tasks' },
  { section: 'schedules', href: '/schedules', label: 'Schedules' },
  { section: 'retention', href: '/retention', label: 'Retention' },
];

export const page = (layout: Layout, body: Html): Html => html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${layout.title} · at-worker</title>
<link rel="stylesheet" href="/assets/dashboard.css">
${(layout.scripts ?? []).map((src) => html`<script defer src="${src}"></script>`)}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<nav aria-label="Main">
<span class="brand">at-worker</span>
<ul>${NAV.map(
  (item) =>
    html`<li><a href="${item.href}"${item.section === layout.section ? new Html(' aria-current="page"') : ''}>${item.label}</a></li>`,
)}</ul>
</nav>
<div class="access">${layout.access}</div>
</header>
<main id="main" tabindex="-1">
<h1>${layout.title}</h1>
${body}
</main>
</body>
</html>
`;
