// The one Markdown renderer of the UI: chat answers, approval reasons, remediations and the
// Draft PIR page all go through it, so the same Markdown looks the same everywhere.
// It builds DOM nodes with textContent only. Model, tool and stored text is untrusted: nothing
// here ever parses HTML (no innerHTML), so "<script>" or "<img onerror>" is shown as text and
// never runs, and links keep only http(s)/mailto URLs.
// Supported: ATX headings (# -> h3, so a message never outranks the page), paragraphs (single
// newlines are line breaks), **bold**, *italic*, ~~strike~~, `code` (any number of backticks),
// fenced code (``` or ~~~, three or more), bullet/numbered lists (nested by indent), > quotes,
// tables (with :--: alignment), horizontal rules, [links](https://...), bare http(s) URLs and
// backslash escapes.

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+.-]*)[^`]*$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
const HR = /^\s*([-*_])(\s*\1){2,}\s*$/;
const BULLET = /^(\s*)([-*+])\s+(.*)$/;
const ORDERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const TABLE_SEP = /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/;
const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

function el(tag, cls) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  return node;
}

export function safeUrl(raw) {
  try {
    const url = new URL(raw, window.location.href);
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function link(text, href) {
  const a = el("a");
  a.href = href;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  renderInline(text, a);
  return a;
}

const WORD = /[\p{L}\p{N}]/u;

// The end of the code span opened by the backtick run at `i`, or -1 (a lone run is literal).
function codeSpanEnd(text, i) {
  let n = 1;
  while (text[i + n] === "`") n++;
  let end = text.indexOf("`", i + n);
  while (end !== -1) {
    let m = 1;
    while (text[end + m] === "`") m++;
    if (m === n) return end;
    end = text.indexOf("`", end + m);
  }
  return -1;
}

// The closing delimiter: not escaped, not inside a code span, not after a space, and for
// "_"/"__" not inside a word (so snake_case and window.__name stay literal, as in CommonMark).
function findClosing(text, delim, from) {
  let j = from;
  while (j < text.length) {
    const c = text[j];
    if (c === "\\") {
      j += 2;
      continue;
    }
    if (c === "`") {
      let n = 1;
      while (text[j + n] === "`") n++;
      const end = codeSpanEnd(text, j);
      j = end === -1 ? j + n : end + n;
      continue;
    }
    if (text.startsWith(delim, j)) {
      const afterSpace = text[j - 1] === " ";
      const intraword = delim[0] === "_" && WORD.test(text[j + delim.length] || "");
      const longer = delim.length === 1 && text[j + 1] === delim;
      if (!afterSpace && !intraword && !longer) return j;
      j += longer ? 2 : 1;
      continue;
    }
    j++;
  }
  return -1;
}

// Inline spans, appended to `parent`. Recursion only on strictly shorter substrings.
export function renderInline(text, parent) {
  let buf = "";
  const flush = () => {
    if (buf) parent.appendChild(document.createTextNode(buf));
    buf = "";
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "\\" && i + 1 < text.length && /[\\`*_{}[\]()#+\-.!~|<>]/.test(text[i + 1])) {
      buf += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") {
      let n = 1;
      while (text[i + n] === "`") n++;
      const fence = "`".repeat(n);
      const end = codeSpanEnd(text, i);
      if (end !== -1) {
        flush();
        const code = el("code");
        let inner = text.slice(i + n, end);
        if (inner.startsWith(" ") && inner.endsWith(" ") && inner.trim()) inner = inner.slice(1, -1);
        code.textContent = inner;
        parent.appendChild(code);
        i = end + n;
        continue;
      }
      buf += fence;
      i += n;
      continue;
    }
    const two = text.slice(i, i + 2);
    const wordBefore = i > 0 && WORD.test(text[i - 1]);
    if ((two === "**" || two === "__" || two === "~~") && text[i + 2] && text[i + 2] !== " " &&
        !(two === "__" && wordBefore)) {
      const end = findClosing(text, two, i + 2);
      if (end > i + 2) {
        flush();
        const node = el(two === "~~" ? "del" : "strong");
        renderInline(text.slice(i + 2, end), node);
        parent.appendChild(node);
        i = end + 2;
        continue;
      }
    }
    if ((c === "*" || c === "_") && text[i + 1] && text[i + 1] !== " " && text[i + 1] !== c) {
      const end = c === "_" && wordBefore ? -1 : findClosing(text, c, i + 1);
      if (end > i + 1) {
        flush();
        const em = el("em");
        renderInline(text.slice(i + 1, end), em);
        parent.appendChild(em);
        i = end + 1;
        continue;
      }
    }
    if (c === "[") {
      const m = /^\[([^\]\n]{1,500})\]\(([^()\s]{1,2000})\)/.exec(text.slice(i));
      if (m) {
        const href = safeUrl(m[2]);
        flush();
        if (href) parent.appendChild(link(m[1], href));
        else renderInline(m[1], parent);
        i += m[0].length;
        continue;
      }
    }
    if ((c === "h" || c === "H") && (i === 0 || /[\s(]/.test(text[i - 1]))) {
      const m = /^https?:\/\/[^\s<>()"'`]+[^\s<>()"'`.,;:!?]/i.exec(text.slice(i));
      if (m) {
        const href = safeUrl(m[0]);
        if (href) {
          flush();
          const a = link("", href);
          a.textContent = m[0];
          parent.appendChild(a);
          i += m[0].length;
          continue;
        }
      }
    }
    buf += c;
    i++;
  }
  flush();
}

function paragraph(lines) {
  const p = el("p");
  lines.forEach((line, n) => {
    if (n > 0) p.appendChild(el("br"));
    renderInline(line.trim(), p);
  });
  return p;
}

// A table: a header row with pipes, then a delimiter row (with a pipe) of as many cells.
function isTable(line, next) {
  return line.includes("|") && next !== undefined && next.includes("|") && TABLE_SEP.test(next) &&
    splitRow(line).length === splitRow(next).length;
}

function isBlockStart(line, next) {
  return FENCE.test(line) || HEADING.test(line) || HR.test(line) || BULLET.test(line) || ORDERED.test(line) ||
    QUOTE.test(line) || isTable(line, next);
}

function splitRow(line) {
  let s = line.trim();
  if (s.startsWith("|")) s = s.slice(1);
  if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
  return s.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

function alignments(sep) {
  return splitRow(sep).map((cell) => {
    const left = cell.startsWith(":");
    const right = cell.endsWith(":");
    if (left && right) return "md-center";
    return right ? "md-right" : left ? "md-left" : "";
  });
}

function table(lines, start) {
  const head = splitRow(lines[start]);
  const align = alignments(lines[start + 1]);
  const tbl = el("table");
  const thead = el("thead");
  const tr = el("tr");
  head.forEach((cell, n) => {
    const th = el("th", align[n]);
    renderInline(cell, th);
    tr.appendChild(th);
  });
  thead.appendChild(tr);
  tbl.appendChild(thead);
  const tbody = el("tbody");
  let i = start + 2;
  while (i < lines.length && lines[i].includes("|") && lines[i].trim()) {
    const row = el("tr");
    const cells = splitRow(lines[i]);
    head.forEach((_, n) => {  // as many cells as the header: extra ones dropped, missing ones empty
      const td = el("td", align[n]);
      renderInline(cells[n] ?? "", td);
      row.appendChild(td);
    });
    tbody.appendChild(row);
    i++;
  }
  tbl.appendChild(tbody);
  const wrap = el("div", "md-table");
  wrap.appendChild(tbl);
  return [wrap, i];
}

function list(lines, start) {
  const first = BULLET.exec(lines[start]) || ORDERED.exec(lines[start]);
  const ordered = !BULLET.test(lines[start]);
  const baseIndent = first[1].length;
  const node = el(ordered ? "ol" : "ul");
  if (ordered && first[2] !== "1") node.start = Number(first[2]);
  let i = start;
  let item = null;
  let itemLines = [];
  const closeItem = () => {
    if (item) {
      item.appendChild(renderBlocks(itemLines));
      node.appendChild(item);
    }
    item = null;
    itemLines = [];
  };
  while (i < lines.length) {
    const line = lines[i];
    const m = (ordered ? ORDERED : BULLET).exec(line);
    if (m && m[1].length <= baseIndent + 1) {
      closeItem();
      item = el("li");
      itemLines = [m[3]];
    } else if (line.trim() === "") {
      const next = lines[i + 1];
      if (next === undefined || !/^\s{2,}/.test(next) && !(ordered ? ORDERED : BULLET).test(next)) break;
      itemLines.push("");
    } else if (/^\s{2,}/.test(line) || (!isBlockStart(line, lines[i + 1]) && item)) {
      itemLines.push(line.replace(/^\s{2,4}/, ""));
    } else {
      break;
    }
    i++;
  }
  closeItem();
  return [node, i];
}

// Block structure of `text` as a DocumentFragment.
export function renderBlocks(input) {
  const lines = Array.isArray(input) ? input : String(input ?? "").replace(/\r\n?/g, "\n").split("\n");
  const frag = document.createDocumentFragment();
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === "") {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      // Closed by a run of the same character at least as long (so ``` inside ```` stays text).
      const closing = new RegExp(`^\\s{0,3}${fence[1][0]}{${fence[1].length},}\\s*$`);
      const indent = /^\s*/.exec(line)[0].length;
      const body = [];
      i++;
      while (i < lines.length && !closing.test(lines[i])) body.push(lines[i++].replace(new RegExp(`^ {0,${indent}}`), ""));
      i++;
      const pre = el("pre", "md-code");
      const code = el("code");
      if (fence[2]) code.dataset.lang = fence[2];
      code.textContent = body.join("\n");
      pre.appendChild(code);
      frag.appendChild(pre);
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const h = el(`h${Math.min(6, heading[1].length + 2)}`);
      renderInline(heading[2], h);
      frag.appendChild(h);
      i++;
      continue;
    }
    if (HR.test(line)) {
      frag.appendChild(el("hr"));
      i++;
      continue;
    }
    if (isTable(line, lines[i + 1])) {
      const [node, next] = table(lines, i);
      frag.appendChild(node);
      i = next;
      continue;
    }
    if (BULLET.test(line) || ORDERED.test(line)) {
      const [node, next] = list(lines, i);
      frag.appendChild(node);
      i = next;
      continue;
    }
    if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(QUOTE.exec(lines[i++])[1]);
      const bq = el("blockquote");
      bq.appendChild(renderBlocks(inner));
      frag.appendChild(bq);
      continue;
    }
    const para = [];
    while (i < lines.length && lines[i].trim() !== "" && (para.length === 0 || !isBlockStart(lines[i], lines[i + 1]))) {
      para.push(lines[i++]);
    }
    frag.appendChild(paragraph(para));
  }
  return frag;
}

// Replace the children of `target` with the rendering of `text`.
export function renderMarkdown(text, target) {
  const frag = renderBlocks(text);
  target.replaceChildren(frag);
  return target;
}
