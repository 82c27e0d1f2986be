// @ts-check
/**
 * The report page's script (inlined by lib/report/html.ts): it draws what lib/report decided in Node.
 * Tabs per section (figures, Vega-Lite charts through vega-embed, tables) and the tree viewer.
 *
 * The tree viewer lays a search tree out left to right (depth in columns, one row per visible leaf,
 * a parent centred on its children) and draws only the nodes and edges inside the scrolled window,
 * so trees of thousands of nodes scroll as fast as small ones. Trees arrive gzip-packed and are
 * inflated only when opened (DecompressionStream: no request is made).
 *
 * Plain browser JavaScript with JSDoc types, no build step (the Node program's TypeScript has no DOM
 * types): test/report.test.ts type-checks it as strict TypeScript against the DOM and runs it in Chromium.
 */
(() => {
  'use strict';

  /** @typedef {{label: string, value: string, hint?: string}} Figure */
  /** @typedef {{id: string, title: string, description: string, spec: object, wide?: boolean}} Chart */
  /** @typedef {{title: string, columns: string[], rows: Array<Array<string | number | null>>}} Table */
  /** @typedef {{id: string, kind: string, title: string, dirs: string[], figures: Figure[], charts: Chart[], tables: Table[], notes: string[]}} Section */
  /** @typedef {{id: string, question: string, gold: string | null, nodes: number, answers: number, correct: number, solved: boolean, annotation: string, packed: string}} TreeEntry */
  /** @typedef {{id: string, label: string, section: string, trees: TreeEntry[], omitted: number}} TreeSet */
  /** @typedef {{title: string, generatedAt: string, version: string, sections: Section[], treeSets: TreeSet[]}} ReportData */
  /**
   * @typedef {{tag: string, depth: number, kind: string, text: string, code: string, observation: string | null, stop: string | null,
   *   q: number, visits: number, valueSum: number, value: number | null, ppm: number | null, reward: number | null, terminal: boolean,
   *   reason: string | null, answer: string | null, correct: boolean | null, execOk: boolean | null, timedOut: boolean,
   *   consecutiveErrors: number, rollout: number, tokens: number}} ViewerNode
   */
  /**
   * A node of the tree being shown, with its layout.
   * @typedef {{i: number, n: ViewerNode, parent: TNode | null, children: TNode[], hot: boolean, collapsed: boolean,
   *   hidden: number, x: number, y: number, visible: boolean}} TNode
   */

  const dataElement = document.getElementById('report-data');
  const app = document.getElementById('app');
  if (!dataElement || !app) return;
  /** @type {ReportData} */
  const data = JSON.parse(dataElement.textContent || '{}');

  // ---------------------------------------------------------------- helpers
  /**
   * @param {string} tag
   * @param {Record<string, string>} [attrs]
   * @param {Array<Node | string>} [children]
   * @returns {HTMLElement}
   */
  function el(tag, attrs = {}, children = []) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }
  /** @param {unknown} s */
  function esc(s) {
    return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] || c);
  }
  /** @param {number | null} x @param {number} [digits] */
  function fmt(x, digits = 3) {
    if (x === null || x === undefined || !Number.isFinite(x)) return '—';
    return Number.isInteger(x) ? String(x) : x.toFixed(digits);
  }

  // ---------------------------------------------------------------- page frame and tabs
  const header = el('header', { class: 'top' }, [el('h1', { text: data.title })]);
  const nav = el('nav', { class: 'tabs', role: 'tablist', 'aria-label': 'Views' });
  header.append(nav);
  const main = el('main');
  app.replaceChildren(header, main);

  /** @type {Map<string, {view: HTMLElement, tab: HTMLElement, shown: boolean, onShow: () => void}>} */
  const views = new Map();
  /** @param {string} id @param {string} title @param {() => void} onShow */
  function addView(id, title, onShow) {
    const view = el('section', { class: 'view', id: `view-${id}`, role: 'tabpanel' });
    view.hidden = true;
    const tab = el('a', { href: `#${id}`, role: 'tab', 'aria-selected': 'false', 'aria-controls': `view-${id}`, 'data-view': id, text: title });
    nav.append(tab);
    main.append(view);
    views.set(id, { view, tab, shown: false, onShow });
    return view;
  }
  function route() {
    const wanted = decodeURIComponent(location.hash.slice(1));
    const id = views.has(wanted) ? wanted : views.keys().next().value;
    for (const [key, v] of views) {
      const on = key === id;
      v.view.hidden = !on;
      v.tab.setAttribute('aria-selected', String(on));
      if (on && !v.shown) {
        v.shown = true;
        v.onShow();
      }
    }
  }

  // ---------------------------------------------------------------- sections: figures, charts, tables
  const chartConfig = {
    font: 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif',
    view: { stroke: null },
    axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 500, gridColor: '#eceef1' },
    legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 260 },
  };
  /** @param {HTMLElement} container @param {Chart} chart */
  function embed(container, chart) {
    // @ts-ignore vegaEmbed is the global of the inlined vega-embed build.
    const vegaEmbed = /** @type {any} */ (window).vegaEmbed;
    // ast: Vega evaluates expressions with its interpreter, so the page's policy needs no 'unsafe-eval'.
    vegaEmbed(container, chart.spec, { renderer: 'svg', ast: true, config: chartConfig, actions: { export: true, source: false, compiled: false, editor: false } })
      .then(() => container.setAttribute('data-rendered', 'true'))
      .catch((/** @type {Error} */ err) => {
        container.append(el('p', { class: 'chart-error', text: `This chart could not be drawn: ${err.message}` }));
        console.error(`chart ${chart.id}:`, err);
      });
  }
  /** @param {Table} t */
  function table(t) {
    const head = el('tr', {}, t.columns.map((c) => el('th', { text: c })));
    const body = t.rows.map((r) => el('tr', {}, r.map((v) => el('td', typeof v === 'number' ? { class: 'num', text: String(v) } : { text: v === null ? '' : v }))));
    return [el('h3', { class: 'table-title', text: t.title }), el('table', { class: 'data' }, [el('thead', {}, [head]), el('tbody', {}, body)])];
  }
  for (const s of data.sections) {
    const charts = s.charts.map((c) => ({ chart: c, box: el('div', { class: 'vega', id: `chart-${c.id}` }) }));
    const view = addView(s.id, s.title, () => {
      for (const c of charts) embed(c.box, c.chart);
    });
    view.setAttribute('data-kind', s.kind);
    view.append(el('h2', { text: s.title }), el('p', { class: 'dirs', text: s.dirs.join('  ·  ') }));
    if (s.notes.length > 0) view.append(el('ul', { class: 'notes' }, s.notes.map((n) => el('li', { text: n }))));
    view.append(
      el('div', { class: 'figures' }, s.figures.map((f) => el('div', { class: 'figure', title: f.hint || '' }, [el('span', { class: 'value', text: f.value }), el('span', { class: 'label', text: f.label })]))),
      el('div', { class: 'charts' }, charts.map((c) => el('figure', { class: c.chart.wide ? 'chart wide' : 'chart' }, [el('figcaption', {}, [el('h3', { text: c.chart.title }), el('p', { text: c.chart.description })]), c.box]))),
    );
    for (const t of s.tables) view.append(...table(t));
  }

  // ---------------------------------------------------------------- the tree viewer
  if (data.treeSets.length > 0) {
    const view = addView('trees', 'Trees', () => viewer.start());
    const viewer = treeViewer(view, data.treeSets);
  }
  window.addEventListener('hashchange', route);
  route();

  /**
   * @param {HTMLElement} root
   * @param {TreeSet[]} sets
   */
  function treeViewer(root, sets) {
    const COL = 58;
    const ROW = 22;
    const PAD = 18;
    const LABEL = 170;
    const OVERSCAN = 6 * ROW;

    const setSelect = /** @type {HTMLSelectElement} */ (el('select', { 'aria-label': 'Tree set' }, sets.map((s, k) => el('option', { value: String(k), text: `${s.label} (${s.trees.length}${s.omitted ? ` of ${s.trees.length + s.omitted}` : ''})` }))));
    const filter = /** @type {HTMLInputElement} */ (el('input', { type: 'search', placeholder: 'Filter problems (id or text)', 'aria-label': 'Filter problems' }));
    const count = el('div', { class: 'tv-count' });
    const list = el('ul', { class: 'tv-list', role: 'listbox', 'aria-label': 'Problems' });
    const question = el('div', { class: 'tv-question' });
    const legend = el('div', { class: 'tv-legend' });
    legend.innerHTML =
      '<span>colour: Q <span class="ramp" title="Q from −1 (red) to +1 (blue)"></span> −1 … +1</span><span>size: visits</span>' +
      '<span><span class="mark-ok">◯</span> correct answer</span><span><span class="mark-no">◯</span> wrong answer</span><span>dashed: code error</span>' +
      '<span><span class="mark-ok">━</span> path to a correct answer</span>' +
      '<span class="keys"><kbd>←</kbd><kbd>→</kbd> parent / child <kbd>↑</kbd><kbd>↓</kbd> same depth <kbd>Enter</kbd> fold <kbd>n</kbd><kbd>p</kbd> next / previous correct answer <kbd>Home</kbd> root</span>';
    const canvas = el('div', { class: 'tv-canvas', tabindex: '0', role: 'application', 'aria-roledescription': 'search tree', 'aria-label': 'Search tree: arrow keys move between nodes, Enter folds' });
    const svgNs = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(svgNs, 'svg');
    const layer = document.createElementNS(svgNs, 'g');
    svg.append(layer);
    canvas.append(svg);
    const details = el('aside', { class: 'tv-details', 'aria-live': 'polite' });
    root.append(
      el('div', { class: 'tv' }, [
        el('aside', { class: 'tv-picker' }, [setSelect, filter, count, list]),
        el('div', { class: 'tv-main' }, [question, legend, canvas]),
        details,
      ]),
    );

    let setIndex = 0;
    let treeIndex = -1;
    /** @type {TNode[]} */
    let nodes = [];
    /** @type {TNode[]} nodes shown (no folded ancestor), preorder */
    let shown = [];
    /** @type {Map<number, TNode[]>} shown nodes per depth, top to bottom */
    let byDepth = new Map();
    /** @type {TNode | null} */
    let selected = null;
    let maxVisits = 1;
    let pending = false;
    let loadToken = 0;
    /** @type {Map<string, ViewerNode[]>} */
    const cache = new Map();

    setSelect.addEventListener('change', () => selectSet(Number(setSelect.value)));
    filter.addEventListener('input', () => fillList());
    list.addEventListener('click', (e) => {
      const li = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (e.target).closest('li[data-k]'));
      if (li) openTree(Number(li.dataset.k));
    });
    canvas.addEventListener('scroll', schedule, { passive: true });
    window.addEventListener('resize', schedule);
    svg.addEventListener('click', (e) => {
      const g = /** @type {Element} */ (e.target).closest('[data-i]');
      if (!g) return;
      select(nodes[Number(g.getAttribute('data-i'))], false);
      canvas.focus({ preventScroll: true });
    });
    canvas.addEventListener('keydown', onKey);

    function start() {
      selectSet(0);
    }

    /** @param {number} k */
    function selectSet(k) {
      setIndex = k;
      setSelect.value = String(k);
      fillList();
      const trees = sets[k].trees;
      if (trees.length > 0) openTree(0);
    }

    function fillList() {
      const trees = sets[setIndex].trees;
      const needle = filter.value.trim().toLowerCase();
      const items = [];
      let matches = 0;
      for (let k = 0; k < trees.length; k++) {
        const t = trees[k];
        if (needle && !t.id.toLowerCase().includes(needle) && !t.question.toLowerCase().includes(needle)) continue;
        matches += 1;
        if (items.length >= 2000) continue;
        items.push(
          `<li role="option" data-k="${k}" aria-selected="${k === treeIndex}" title="${esc(t.question.slice(0, 300))}">` +
            `<span class="${t.solved ? 'mark-ok' : 'mark-no'}">${t.solved ? '✓' : '✗'}</span><span class="id">${esc(t.id)}</span>` +
            `<span class="meta">${t.nodes} nodes</span></li>`,
        );
      }
      list.innerHTML = items.join('');
      const omitted = sets[setIndex].omitted;
      count.textContent = `${matches} of ${trees.length} trees${omitted ? ` (${omitted} more not embedded)` : ''}${matches > items.length ? `, first ${items.length} listed` : ''}`;
    }

    /** @param {string} b64 @returns {Promise<ViewerNode[]>} */
    async function inflate(b64) {
      const bin = atob(b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
      return JSON.parse(await new Response(stream).text());
    }

    /** @param {number} k */
    async function openTree(k) {
      const entry = sets[setIndex].trees[k];
      treeIndex = k;
      for (const li of list.querySelectorAll('li[data-k]')) li.setAttribute('aria-selected', String(Number(/** @type {HTMLElement} */ (li).dataset.k) === k));
      question.replaceChildren(
        el('strong', { text: `${entry.id}: ` }),
        entry.question,
        el('span', { class: 'gold', text: `  · gold ${entry.gold ?? '—'} · ${entry.nodes} nodes, ${entry.correct}/${entry.answers} answers correct · ${entry.annotation}` }),
      );
      const token = ++loadToken;
      const key = `${setIndex}:${k}`;
      let raw = cache.get(key);
      if (!raw) {
        raw = await inflate(entry.packed);
        if (cache.size > 8) cache.delete(cache.keys().next().value ?? '');
        cache.set(key, raw);
      }
      if (token !== loadToken) return; // another tree was opened meanwhile
      build(raw);
      canvas.scrollTop = 0;
      canvas.scrollLeft = 0;
      root.setAttribute('data-tree', entry.id);
      select(nodes[0] ?? null, true);
    }

    /** @param {ViewerNode[]} raw */
    function build(raw) {
      /** @type {Map<string, TNode>} */
      const byTag = new Map();
      nodes = raw.map((n, i) => ({ i, n, parent: null, children: [], hot: false, collapsed: false, hidden: 0, x: 0, y: 0, visible: true }));
      for (const t of nodes) {
        const dot = t.n.tag.lastIndexOf('.');
        const parent = dot < 0 ? undefined : byTag.get(t.n.tag.slice(0, dot));
        if (parent) {
          t.parent = parent;
          parent.children.push(t);
        }
        byTag.set(t.n.tag, t);
      }
      // A node is on a correct path when a correct answer lies in its subtree (preorder: children after parents).
      for (let i = nodes.length - 1; i >= 0; i--) {
        const t = nodes[i];
        if (t.n.reason === 'answer' && t.n.correct === true) t.hot = true;
        if (t.hot && t.parent) t.parent.hot = true;
      }
      maxVisits = Math.max(1, ...nodes.map((t) => t.n.visits));
      layout();
    }

    /** Positions every shown node: one row per shown leaf, parents centred on their children. */
    function layout() {
      shown = [];
      byDepth = new Map();
      let row = 0;
      let maxDepth = 0;
      /** @param {TNode} t */
      const place = (t) => {
        shown.push(t);
        t.visible = true;
        t.x = PAD + t.n.depth * COL;
        maxDepth = Math.max(maxDepth, t.n.depth);
        const d = byDepth.get(t.n.depth);
        if (d) d.push(t);
        else byDepth.set(t.n.depth, [t]);
        if (t.children.length === 0 || t.collapsed) {
          t.y = PAD + row * ROW;
          row += 1;
          t.hidden = t.collapsed ? countBelow(t) : 0;
          for (const c of t.children) hide(c);
          return;
        }
        for (const c of t.children) place(c);
        t.y = (t.children[0].y + t.children[t.children.length - 1].y) / 2;
      };
      /** @param {TNode} t */
      const hide = (t) => {
        t.visible = false;
        for (const c of t.children) hide(c);
      };
      // Deep trees would overflow the call stack only far beyond the search's depth limit (16 steps).
      if (nodes.length > 0) place(nodes[0]);
      svg.setAttribute('width', String(PAD * 2 + maxDepth * COL + LABEL));
      svg.setAttribute('height', String(PAD * 2 + Math.max(0, row - 1) * ROW + ROW));
      schedule();
    }
    /** @param {TNode} t */
    function countBelow(t) {
      let k = 0;
      const stack = [...t.children];
      while (stack.length > 0) {
        const c = /** @type {TNode} */ (stack.pop());
        k += 1;
        stack.push(...c.children);
      }
      return k;
    }

    function schedule() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        draw();
      });
    }

    /** Q in [-1, 1] on the red-yellow-blue ramp of the legend. @param {number} q */
    function colour(q) {
      const stops = [
        [215, 25, 28],
        [253, 174, 97],
        [255, 255, 191],
        [171, 217, 233],
        [44, 123, 182],
      ];
      const t = Math.max(0, Math.min(1, (q + 1) / 2)) * (stops.length - 1);
      const k = Math.min(stops.length - 2, Math.floor(t));
      const f = t - k;
      const c = stops[k].map((a, j) => Math.round(a + (stops[k + 1][j] - a) * f));
      return `rgb(${c[0]},${c[1]},${c[2]})`;
    }
    /** @param {TNode} t */
    function radius(t) {
      return 3 + 7 * Math.sqrt(Math.max(0, t.n.visits) / maxVisits);
    }

    /** Draws the nodes and edges inside the scrolled window (plus a margin), nothing else. */
    function draw() {
      const started = performance.now();
      const top = canvas.scrollTop - OVERSCAN;
      const bottom = canvas.scrollTop + canvas.clientHeight + OVERSCAN;
      /** @type {string[]} */
      const cold = [];
      /** @type {string[]} */
      const hot = [];
      /** @type {string[]} */
      const dots = [];
      for (const t of shown) {
        if (t.parent) {
          const p = t.parent;
          if (Math.max(p.y, t.y) >= top && Math.min(p.y, t.y) <= bottom) {
            const mid = p.x + COL / 2;
            (t.hot ? hot : cold).push(`<path class="edge${t.hot ? ' hot' : ''}" d="M${p.x},${p.y}H${mid}V${t.y}H${t.x}"/>`);
          }
        }
        if (t.y < top || t.y > bottom) continue;
        const n = t.n;
        const cls = ['node'];
        if (n.reason === 'answer' && n.correct === true) cls.push('correct');
        else if (n.reason === 'answer' && n.correct === false) cls.push('wrong');
        else if (n.reason === 'code_error') cls.push('code-error');
        else if (n.terminal && n.reason !== 'exhausted') cls.push('dead');
        if (t === selected) cls.push('selected');
        const r = radius(t);
        let label = '';
        if (n.reason === 'answer') label = `${n.answer ?? 'no answer'}${n.correct === true ? ' ✓' : n.correct === false ? ' ✗' : ''}`;
        else if (n.reason && n.reason !== 'exhausted' && t.children.length === 0) label = n.reason.replace('_', ' ');
        const more = t.collapsed && t.hidden > 0 ? `<text class="more" x="${r + 4}" dy="0.32em">+${t.hidden}</text>` : '';
        dots.push(
          `<g class="${cls.join(' ')}" data-i="${t.i}" data-tag="${esc(n.tag)}" transform="translate(${t.x},${t.y})">` +
            `<title>${esc(n.tag)} · Q ${fmt(n.q)} · N ${n.visits}</title>` +
            `<circle class="dot" r="${r.toFixed(1)}" fill="${colour(n.q)}"/>` +
            (t === selected ? `<circle class="ring" r="${(r + 4).toFixed(1)}"/>` : '') +
            (label && !more ? `<text x="${r + 4}" dy="0.32em">${esc(label.length > 26 ? `${label.slice(0, 25)}…` : label)}</text>` : more) +
            '</g>',
        );
      }
      layer.innerHTML = cold.join('') + hot.join('') + dots.join('');
      canvas.setAttribute('data-drawn', String(dots.length));
      canvas.setAttribute('data-draw-ms', (performance.now() - started).toFixed(1));
    }

    /** @param {TNode | null} t @param {boolean} reveal scroll it into view */
    function select(t, reveal) {
      selected = t;
      showDetails(t);
      if (t && reveal) {
        const margin = 3 * ROW;
        if (t.y < canvas.scrollTop + margin || t.y > canvas.scrollTop + canvas.clientHeight - margin) canvas.scrollTop = t.y - canvas.clientHeight / 2;
        if (t.x < canvas.scrollLeft + margin || t.x > canvas.scrollLeft + canvas.clientWidth - margin) canvas.scrollLeft = t.x - canvas.clientWidth / 3;
      }
      root.setAttribute('data-selected', t ? t.n.tag : '');
      schedule();
    }

    /** @param {KeyboardEvent} e */
    function onKey(e) {
      if (!selected || e.altKey || e.ctrlKey || e.metaKey) return;
      const t = selected;
      /** @type {TNode | null | undefined} */
      let next = null;
      switch (e.key) {
        case 'ArrowLeft':
          next = t.parent;
          break;
        case 'ArrowRight':
          if (t.collapsed) {
            fold(t, false);
            return e.preventDefault();
          }
          next = t.children.reduce((/** @type {TNode | null} */ b, c) => (b === null || c.n.visits > b.n.visits ? c : b), null);
          break;
        case 'ArrowUp':
        case 'ArrowDown': {
          const column = byDepth.get(t.n.depth) || [];
          const at = column.indexOf(t);
          next = column[at + (e.key === 'ArrowUp' ? -1 : 1)];
          break;
        }
        case 'Home':
          next = nodes[0];
          break;
        case 'Enter':
        case ' ':
          if (t.children.length > 0) fold(t, !t.collapsed);
          return e.preventDefault();
        case 'n':
        case 'p': {
          const answers = nodes.filter((x) => x.n.reason === 'answer' && x.n.correct === true);
          if (answers.length === 0) return;
          const after = e.key === 'n' ? answers.find((x) => x.i > t.i) || answers[0] : [...answers].reverse().find((x) => x.i < t.i) || answers[answers.length - 1];
          for (let a = after.parent; a; a = a.parent) if (a.collapsed) a.collapsed = false;
          layout();
          next = after;
          break;
        }
        default:
          return;
      }
      e.preventDefault();
      if (next) select(next, true);
    }

    /** @param {TNode} t @param {boolean} folded */
    function fold(t, folded) {
      t.collapsed = folded;
      layout();
      select(t, true);
    }

    /** @param {TNode | null} t */
    function showDetails(t) {
      if (!t) {
        details.replaceChildren(el('p', { class: 'none', text: 'Pick a node.' }));
        return;
      }
      const n = t.n;
      const badges = [el('span', { class: 'badge', text: n.kind })];
      if (n.reason === 'answer') badges.push(el('span', { class: `badge ${n.correct === true ? 'good' : n.correct === false ? 'bad' : ''}`, text: n.correct === true ? 'correct answer' : n.correct === false ? 'wrong answer' : 'answer' }));
      else if (n.terminal) badges.push(el('span', { class: `badge ${n.reason === 'code_error' ? 'bad' : ''}`, text: `terminal: ${(n.reason || '').replace('_', ' ')}` }));
      if (t.hot) badges.push(el('span', { class: 'badge good', text: 'on a correct path' }));
      /** @type {Array<[string, string, string]>} */
      const rows = [
        ['q', 'Q', fmt(n.q)],
        ['visits', 'N (visits)', String(n.visits)],
        ['value-sum', 'value sum', fmt(n.valueSum)],
        ['ppm', 'PPM score', fmt(n.ppm)],
        ['value', 'initial value', fmt(n.value)],
        ['reward', 'terminal reward', fmt(n.reward)],
        ['reason', 'terminal reason', n.terminal ? n.reason || '—' : 'not terminal'],
        ['answer', 'answer', n.answer === null ? '—' : `${n.answer}${n.correct === true ? ' (correct)' : n.correct === false ? ' (wrong)' : ''}`],
        ['exec', 'code run', n.execOk === null ? 'not run' : n.timedOut ? 'timed out' : n.execOk ? 'ok' : `failed (${n.consecutiveErrors} in a row)`],
        ['stop', 'stop marker', n.stop || '—'],
        ['depth', 'depth', String(n.depth)],
        ['rollout', 'created in rollout', n.rollout < 0 ? '—' : String(n.rollout)],
        ['tokens', 'tokens', String(n.tokens)],
        ['children', 'children', String(t.children.length)],
      ];
      const dl = el('dl');
      for (const [key, label, value] of rows) dl.append(el('dt', { text: label }), el('dd', { 'data-field': key, text: value }));
      const pre = (/** @type {string} */ field, /** @type {string | null} */ text, cls = '') =>
        text ? el('pre', { 'data-field': field, class: cls, text }) : el('p', { class: 'none', 'data-field': field, text: 'none' });
      const path = [];
      for (let a = /** @type {TNode | null} */ (t); a && a.parent; a = a.parent) path.unshift(a.n.text);
      details.replaceChildren(
        el('h3', {}, [`Node ${n.tag}`, ...badges]),
        dl,
        el('h4', { text: 'Step text' }),
        pre('text', n.text),
        el('h4', { text: 'Code' }),
        pre('code', n.code),
        el('h4', { text: 'Python output' }),
        n.observation === '' && n.execOk ? el('p', { class: 'none', 'data-field': 'observation', text: 'printed nothing' }) : pre('observation', n.observation, n.execOk === false ? 'error' : ''),
        el('details', {}, [el('summary', { text: `Trajectory from the root (${path.length} steps)` }), pre('path', path.join(''))]),
      );
    }

    return { start };
  }
})();
